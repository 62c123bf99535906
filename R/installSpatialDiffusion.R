#' Install the Python engine into a virtualenv
#'
#' One-time setup: creates a Python virtualenv (default name `r-spatialdiffusion`, in
#' reticulate's virtualenv folder), installs the CPU build of PyTorch first (so that pip does not
#' pull a multi-gigabyte CUDA build), then the `spatialdiffusion` engine with `numpy < 2`.
#' [spatialDiffusionPython()] finds this virtualenv automatically afterwards; restart R after
#' installing.
#'
#' @param envname Name of (or path to) the virtualenv to create.
#' @param engine What pip installs as the engine: a path to the SpatialDiffusion source
#'   repository (the folder holding `pyproject.toml`), or a pip requirement. Defaults to the
#'   environment variable `SPATIALDIFFUSION_ENGINE` when set, otherwise the source repository
#'   found in the working directory or one of its parents, otherwise `"spatialdiffusion"`.
#' @param torch pip requirement for PyTorch, installed before the engine. Use e.g.
#'   `"torch==2.13.0"` with `extraIndexUrl` pointing at a CUDA wheel index on GPU machines.
#' @param python Python interpreter (>= 3.10) used to create the virtualenv; `NULL` lets
#'   reticulate choose.
#' @param extraIndexUrl Optional extra pip index URL (for PyTorch wheels).
#' @param dryRun If `TRUE`, only return the steps that would be run.
#' @return Invisibly, the path of the virtualenv's Python (or, with `dryRun = TRUE`, a list
#'   describing the steps).
#' @seealso [spatialDiffusionPython()], [pythonAvailable()]
#' @examples
#' str(installSpatialDiffusion(dryRun = TRUE))
#' @export
installSpatialDiffusion <- function(envname = "r-spatialdiffusion", engine = NULL,
    torch = "torch==2.13.0", python = NULL, extraIndexUrl = NULL, dryRun = FALSE) {
    envname <- .checkString(envname, "envname")
    engine <- if (is.null(engine)) .defaultEngineSource() else .checkString(engine, "engine")
    torch <- .checkString(torch, "torch")
    if (!is.null(python)) python <- .checkString(python, "python")
    if (!is.null(extraIndexUrl)) extraIndexUrl <- .checkString(extraIndexUrl, "extraIndexUrl")
    dryRun <- .checkFlag(dryRun, "dryRun")
    pipOptions <- if (!is.null(extraIndexUrl)) paste("--extra-index-url", extraIndexUrl) else character()
    steps <- list(
        envname = envname,
        python = python,
        packages = list(torch = torch, engine = c(engine, "numpy<2"))
    )
    if (dryRun) return(steps)
    if (reticulate::py_available(initialize = FALSE)) {
        message("Python is already running in this R session; the new virtualenv is used after ",
            "you restart R.")
    }
    if (!reticulate::virtualenv_exists(envname)) {
        reticulate::virtualenv_create(envname, python = python)
    }
    reticulate::virtualenv_install(envname, torch, ignore_installed = FALSE,
        pip_options = pipOptions)
    reticulate::virtualenv_install(envname, c(engine, "numpy<2"), ignore_installed = FALSE,
        pip_options = pipOptions)
    py <- reticulate::virtualenv_python(envname)
    message("SpatialDiffusion engine installed in ", py, ".\n",
        "Restart R; the package then finds this virtualenv by itself ",
        "(or set SPATIALDIFFUSION_PYTHON=", py, ").")
    invisible(py)
}

.defaultEngineSource <- function() {
    env <- Sys.getenv("SPATIALDIFFUSION_ENGINE", "")
    if (nzchar(env)) return(env)
    repo <- .findUpwards(function(dir) file.exists(file.path(dir, "pyproject.toml")) &&
        dir.exists(file.path(dir, "python", "spatialdiffusion")))
    if (is.null(repo)) "spatialdiffusion" else repo
}
