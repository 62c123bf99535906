## Run `code` with SpatialDiffusion's discovery settings unset and its user config folder empty.
withCleanDiscovery <- function(code) {
    oldOpt <- options(SpatialDiffusion.python = NULL)
    oldEnv <- Sys.getenv(c("SPATIALDIFFUSION_PYTHON", "R_USER_CONFIG_DIR"), NA, names = TRUE)
    config <- tempfile("config")
    on.exit({
        options(oldOpt)
        for (name in names(oldEnv)) {
            if (is.na(oldEnv[[name]])) Sys.unsetenv(name) else do.call(Sys.setenv, as.list(oldEnv[name]))
        }
        unlink(config, recursive = TRUE)
    })
    Sys.unsetenv("SPATIALDIFFUSION_PYTHON")
    Sys.setenv(R_USER_CONFIG_DIR = config)
    force(code)
}

test_that("Python discovery: option, then SPATIALDIFFUSION_PYTHON, then the recorded install", {
    withCleanDiscovery({
        ## what installSpatialDiffusion() records is found in a later session
        ## a virtualenv's python is a symbolic link: the link is recorded, not its target
        envBin <- tempfile("env")
        dir.create(envBin)
        base <- file.path(envBin, "python3.11")
        file.create(base)
        python <- file.path(envBin, "python")
        file.symlink(base, python)
        SpatialDiffusion:::.recordPython(python)
        found <- SpatialDiffusion:::.discoverPython()
        expect_identical(found$python, file.path(normalizePath(envBin), "python"))
        expect_match(found$source, "installed by installSpatialDiffusion")
        ## a recorded interpreter that was deleted since is not used
        unlink(envBin, recursive = TRUE)
        expect_false(identical(SpatialDiffusion:::.discoverPython()$python, found$python))
        Sys.setenv(SPATIALDIFFUSION_PYTHON = "/nonexistent/python")
        found <- SpatialDiffusion:::.discoverPython()
        expect_identical(found$python, "/nonexistent/python")
        expect_match(found$source, "SPATIALDIFFUSION_PYTHON")
        options(SpatialDiffusion.python = "/other/python")
        expect_match(SpatialDiffusion:::.discoverPython()$source, "option")
    })
})

test_that("Python discovery never picks up a .venv from the working directory or its parents", {
    withCleanDiscovery({
        proj <- tempfile("proj")
        dir.create(file.path(proj, ".venv", "bin"), recursive = TRUE)
        dir.create(file.path(proj, "sub"))
        file.create(file.path(proj, ".venv", "bin", "python"))
        oldWd <- setwd(file.path(proj, "sub"))
        on.exit({ setwd(oldWd); unlink(proj, recursive = TRUE) })
        found <- SpatialDiffusion:::.discoverPython()
        expect_false(grepl(proj, found$python, fixed = TRUE))
        expect_false(grepl("project", found$source, fixed = TRUE))
    })
})

test_that("the installed package carries its engine, of its own version", {
    engine <- SpatialDiffusion:::.bundledEngine()
    expect_true(file.exists(file.path(engine, "spatialdiffusion", "__init__.py")))
    pyproject <- readLines(file.path(engine, "pyproject.toml"))
    version <- sub('^version = "(.*)"$', "\\1", grep("^version = ", pyproject, value = TRUE))
    expect_identical(version, as.character(utils::packageVersion("SpatialDiffusion")))
})

test_that("installSpatialDiffusion describes its steps and installs the bundled engine by default", {
    steps <- installSpatialDiffusion(envname = "sd-test", dryRun = TRUE)
    expect_identical(steps$envname, "sd-test")
    expect_identical(steps$packages$torch, "torch==2.13.0")
    expect_identical(steps$packages$engine[[1]], SpatialDiffusion:::.bundledEngine())
    expect_true("numpy<2" %in% steps$packages$engine)
    ## a development checkout is named explicitly and must hold a pyproject.toml
    checkout <- tempfile("checkout")
    dir.create(checkout)
    expect_error(installSpatialDiffusion(engine = checkout, dryRun = TRUE), "has no pyproject.toml")
    file.create(file.path(checkout, "pyproject.toml"))
    expect_identical(installSpatialDiffusion(engine = checkout, dryRun = TRUE)$packages$engine[[1]],
        normalizePath(checkout))
    unlink(checkout, recursive = TRUE)
    ## a mistyped switch or name stops before anything is installed
    expect_error(installSpatialDiffusion(dryRun = "yes"), "`dryRun` must be TRUE or FALSE")
    expect_error(installSpatialDiffusion(envname = 1, dryRun = TRUE), "`envname` must be a single")
    expect_error(installSpatialDiffusion(torch = NA, dryRun = TRUE), "`torch` must be a single")
})

test_that("an engine of another version is refused with what to run", {
    expect_null(SpatialDiffusion:::.engineVersionProblem("0.99.0", "0.99.0"))
    msg <- SpatialDiffusion:::.engineVersionProblem("0.98.1", "0.99.0")
    expect_match(msg, "version 0.98.1")
    expect_match(msg, "version 0.99.0")
    expect_match(SpatialDiffusion:::.pythonProblem(msg), "installSpatialDiffusion\\(\\)")
})

test_that("the problem message says what to run", {
    msg <- SpatialDiffusion:::.pythonProblem("no Python interpreter was found.")
    expect_match(msg, "installSpatialDiffusion\\(\\)")
    expect_match(msg, "SPATIALDIFFUSION_PYTHON")
})

test_that("the reference BLAS is recognised, so R users are told to install an optimised one", {
    expect_true(SpatialDiffusion:::.onReferenceBLAS("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"))
    expect_true(SpatialDiffusion:::.onReferenceBLAS("/usr/lib/R/lib/libRblas.so"))
    expect_false(SpatialDiffusion:::.onReferenceBLAS(
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"))
    expect_false(SpatialDiffusion:::.onReferenceBLAS("/opt/intel/mkl/lib/libmkl_rt.so"))
})
