test_that("Python discovery: option, then SPATIALDIFFUSION_PYTHON, then a project .venv", {
    oldOpt <- options(SpatialDiffusion.python = NULL)
    oldEnv <- Sys.getenv("SPATIALDIFFUSION_PYTHON", NA)
    oldWd <- getwd()
    on.exit({
        options(oldOpt)
        if (is.na(oldEnv)) Sys.unsetenv("SPATIALDIFFUSION_PYTHON") else
            Sys.setenv(SPATIALDIFFUSION_PYTHON = oldEnv)
        setwd(oldWd)
    })
    Sys.setenv(SPATIALDIFFUSION_PYTHON = "/nonexistent/python")
    found <- SpatialDiffusion:::.discoverPython()
    expect_identical(found$python, "/nonexistent/python")
    expect_match(found$source, "SPATIALDIFFUSION_PYTHON")
    options(SpatialDiffusion.python = "/other/python")
    expect_match(SpatialDiffusion:::.discoverPython()$source, "option")
    options(SpatialDiffusion.python = NULL)
    Sys.unsetenv("SPATIALDIFFUSION_PYTHON")
    proj <- tempfile("proj")
    dir.create(file.path(proj, ".venv", "bin"), recursive = TRUE)
    dir.create(file.path(proj, "sub"))
    file.create(file.path(proj, ".venv", "bin", "python"))
    setwd(file.path(proj, "sub"))
    found <- SpatialDiffusion:::.discoverPython()
    expect_identical(normalizePath(found$python), normalizePath(file.path(proj, ".venv/bin/python")))
    expect_match(found$source, "project virtualenv")
    unlink(proj, recursive = TRUE)
})

test_that("installSpatialDiffusion describes its steps", {
    steps <- installSpatialDiffusion(envname = "sd-test", engine = "/src/engine", dryRun = TRUE)
    expect_identical(steps$envname, "sd-test")
    expect_identical(steps$packages$torch, "torch==2.13.0")
    expect_true("numpy<2" %in% steps$packages$engine)
    ## a mistyped switch or name stops before anything is installed
    expect_error(installSpatialDiffusion(dryRun = "yes"), "`dryRun` must be TRUE or FALSE")
    expect_error(installSpatialDiffusion(envname = 1, dryRun = TRUE), "`envname` must be a single")
    expect_error(installSpatialDiffusion(torch = NA, dryRun = TRUE), "`torch` must be a single")
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
