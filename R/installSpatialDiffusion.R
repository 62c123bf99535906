#' Install the Python engine into a virtualenv
#'
#' One-time setup. The R package carries its Python engine (`spatialdiffusion`, the same version
#' as the R package); this function creates a Python virtualenv, installs PyTorch into it first
#' and then that engine with its dependencies (`numpy < 2`, scanpy, ...), and records where the
#' interpreter is, so that [spatialDiffusionPython()] finds it in every later R session. Restart R
#' after installing if Python was already running.
#'
#' By default pip installs the PyTorch build that its configuration gives for `torch`. On a Linux
#' machine without a GPU, PyPI's build carries CUDA libraries of several gigabytes; the CPU build is
#' much smaller: `installSpatialDiffusion(extraIndexUrl = "https://download.pytorch.org/whl/cpu")`.
#' For an NVIDIA GPU, name the CUDA build that matches the driver, e.g.
#' `installSpatialDiffusion(torch = "torch==2.13.0", extraIndexUrl = "https://download.pytorch.org/whl/cu126")`;
#' the engine then runs on the GPU by itself (`device = "auto"`).
#'
#' @param envname Name of the virtualenv (created in reticulate's virtualenv folder) or a path to
#'   one (any value containing a `/`).
#' @param engine `NULL` (the default) installs the engine that ships with this package. For a
#'   development checkout of SpatialDiffusion, the path of the folder that holds its
#'   `pyproject.toml`.
#' @param torch pip requirement for PyTorch, installed before the engine.
#' @param python Python interpreter (>= 3.10) used to create the virtualenv; `NULL` lets
#'   reticulate choose.
#' @param extraIndexUrl Optional extra pip index URL (for PyTorch's CPU or CUDA wheels).
#' @param dryRun If `TRUE`, only return the steps that would be run; nothing is installed.
#' @return Invisibly, the path of the virtualenv's Python (or, with `dryRun = TRUE`, a list
#'   describing the steps).
#' @seealso [spatialDiffusionPython()], [pythonAvailable()]
#' @examples
#' str(installSpatialDiffusion(dryRun = TRUE))
#' \dontrun{
#' ## once per machine (or per user); then restart R
#' installSpatialDiffusion()
#' ## a CPU-only Linux machine: PyTorch's small CPU build
#' installSpatialDiffusion(extraIndexUrl = "https://download.pytorch.org/whl/cpu")
#' }
#' @export
installSpatialDiffusion <- function(envname = "r-spatialdiffusion", engine = NULL,
    torch = "torch==2.13.0", python = NULL, extraIndexUrl = NULL, dryRun = FALSE) {
    envname <- .checkString(envname, "envname")
    bundled <- is.null(engine)
    engine <- if (bundled) .bundledEngine() else .checkEngineSource(engine)
    torch <- .checkString(torch, "torch")
    if (!is.null(python)) python <- .checkString(python, "python")
    if (!is.null(extraIndexUrl)) extraIndexUrl <- .checkString(extraIndexUrl, "extraIndexUrl")
    dryRun <- .checkFlag(dryRun, "dryRun")
    pipOptions <- if (!is.null(extraIndexUrl)) paste("--extra-index-url", extraIndexUrl) else character()
    steps <- list(
        envname = envname,
        python = python,
        packages = list(torch = torch, engine = c(engine, "numpy<2")),
        record = .recordFile()
    )
    if (dryRun) return(steps)
    if (reticulate::py_available(initialize = FALSE)) {
        message("Python is already running in this R session; the new virtualenv is used after ",
            "you restart R.")
    }
    ## R puts its own library folders first on LD_LIBRARY_PATH; a Python built with a shared
    ## libpython (pyenv's --enable-shared, for one) would then load the system's libpython in the
    ## venv and pip subprocesses below and lose modules such as ssl. Those steps need none of R's
    ## libraries, so they run without it.
    ldPath <- Sys.getenv("LD_LIBRARY_PATH", NA)
    Sys.unsetenv("LD_LIBRARY_PATH")
    on.exit(if (!is.na(ldPath)) Sys.setenv(LD_LIBRARY_PATH = ldPath), add = TRUE)
    if (!reticulate::virtualenv_exists(envname)) {
        reticulate::virtualenv_create(envname, python = python)
    }
    reticulate::virtualenv_install(envname, torch, ignore_installed = FALSE,
        pip_options = pipOptions)
    if (bundled) {
        ## pip builds a local project inside its folder: build a copy, so that the R library
        ## (often read-only) stays untouched. A development checkout is built in place.
        engine <- .stageEngine(engine)
        on.exit(unlink(dirname(engine), recursive = TRUE), add = TRUE)
    }
    reticulate::virtualenv_install(envname, c(engine, "numpy<2"), ignore_installed = FALSE,
        pip_options = pipOptions)
    py <- reticulate::virtualenv_python(envname)
    .recordPython(py)
    message("SpatialDiffusion engine installed in ", py, ".\n",
        "The package finds it by itself from now on (restart R if Python was already running).")
    invisible(py)
}

## The engine that ships with the installed package (inst/python in the sources).
.bundledEngine <- function() {
    dir <- system.file("python", package = "SpatialDiffusion")
    if (!nzchar(dir) || !file.exists(file.path(dir, "pyproject.toml"))) {
        stop("This installation of SpatialDiffusion does not carry its Python engine (it was ",
            "built without scripts/bundle_engine.py; a release tarball carries it). Reinstall the ",
            "package from a release tarball, or pass `engine =` the folder of a SpatialDiffusion ",
            "source checkout (the one holding pyproject.toml).", call. = FALSE)
    }
    normalizePath(dir)
}

## A user-given engine source: a folder with a pyproject.toml.
.checkEngineSource <- function(engine) {
    engine <- .checkString(engine, "engine")
    if (!file.exists(file.path(engine, "pyproject.toml"))) {
        stop("`engine` must be the folder of a SpatialDiffusion source checkout (the one holding ",
            "pyproject.toml); '", engine, "' has no pyproject.toml.", call. = FALSE)
    }
    normalizePath(engine)
}

## A copy of the folder `engine` in a new temporary folder; returns the copy's path.
.stageEngine <- function(engine) {
    stage <- tempfile("spatialdiffusion-engine")
    dir.create(stage)
    if (!file.copy(engine, stage, recursive = TRUE)) {
        unlink(stage, recursive = TRUE)
        stop("Could not copy the engine from ", engine, " to a temporary folder.", call. = FALSE)
    }
    file.path(stage, basename(engine))
}
