## The one place where R meets Python.
##
## Everything that crosses the boundary goes through the helpers in this file: Python discovery,
## the delay-loaded engine modules, and the conversion of matrices (counts go in with cells as
## rows, sparse ones as scipy CSR matrices, others as dense numeric matrices; dense numeric arrays
## and plain lists come back, sparse results are rebuilt in R). No other file calls reticulate.

.bridge <- new.env(parent = emptyenv())

## Only the engine's top-level module, whose names stay stable (diffusionst_arrays,
## spalstf_arrays, evaluate_spalstf_arrays; the submodules cluster and metrics) while its
## internal layout may change.
.ENGINE_MODULES <- c(engine = "spatialdiffusion")

.onLoad <- function(libname, pkgname) {
    ## delay_load: nothing here starts Python. The first use of a module runs
    ## .configurePython() (which picks the interpreter) and then imports it.
    for (key in names(.ENGINE_MODULES)) {
        .bridge[[key]] <- reticulate::import(
            .ENGINE_MODULES[[key]],
            delay_load = list(
                before_load = .configurePython,
                on_error = function(e) stop(.pythonProblem(conditionMessage(e)), call. = FALSE)
            )
        )
    }
    .onLoadSeurat()
    invisible()
}

#' Which Python interpreter SpatialDiffusion uses
#'
#' SpatialDiffusion runs its models in the Python engine `spatialdiffusion` (PyTorch), which
#' [installSpatialDiffusion()] puts into a virtualenv. This function says which Python interpreter
#' will be used, and why. The first match wins:
#' 1. the R option `SpatialDiffusion.python` (e.g. `options(SpatialDiffusion.python = "/path/to/python")`);
#' 2. the environment variable `SPATIALDIFFUSION_PYTHON`;
#' 3. the virtualenv that [installSpatialDiffusion()] installed last (it records the interpreter's
#'    path in the folder `tools::R_user_dir("SpatialDiffusion", "config")`);
#' 4. the virtualenv `r-spatialdiffusion` in reticulate's virtualenv folder.
#'
#' R can host only one Python per session: once Python has started (by this package or any other
#' reticulate user), that interpreter is used and the settings above no longer matter.
#'
#' @return A list with `python` (path, or `NA` when nothing was found), `source` (which rule
#'   matched) and `initialized` (whether Python already runs in this R session).
#' @seealso [pythonAvailable()], [installSpatialDiffusion()]
#' @examples
#' spatialDiffusionPython()
#' @export
spatialDiffusionPython <- function() {
    if (reticulate::py_available(initialize = FALSE)) {
        cfg <- reticulate::py_config()
        return(list(python = cfg$python, source = "already running in this R session",
            initialized = TRUE))
    }
    .discoverPython()
}

## The discovery rules of spatialDiffusionPython(), ignoring a Python that already runs.
.discoverPython <- function() {
    found <- function(python, source) {
        list(python = path.expand(python), source = source, initialized = FALSE)
    }
    opt <- getOption("SpatialDiffusion.python")
    if (!is.null(opt) && nzchar(opt)) {
        return(found(opt, "option SpatialDiffusion.python"))
    }
    env <- Sys.getenv("SPATIALDIFFUSION_PYTHON", "")
    if (nzchar(env)) {
        return(found(env, "environment variable SPATIALDIFFUSION_PYTHON"))
    }
    recorded <- .recordedPython()
    if (!is.na(recorded)) {
        return(found(recorded, paste0("installed by installSpatialDiffusion() (recorded in ",
            .recordFile(), ")")))
    }
    envname <- .defaultEnvname()
    if (isTRUE(tryCatch(reticulate::virtualenv_exists(envname), error = function(e) FALSE))) {
        return(found(reticulate::virtualenv_python(envname),
            paste0("virtualenv '", envname, "' (installSpatialDiffusion())")))
    }
    list(python = NA_character_, source = "none found", initialized = FALSE)
}

.defaultEnvname <- function() "r-spatialdiffusion"

## Where installSpatialDiffusion() records the interpreter it installed (one line, its path).
.recordFile <- function() file.path(tools::R_user_dir("SpatialDiffusion", "config"), "python")

## The recorded interpreter, or NA when none is recorded or it no longer exists.
.recordedPython <- function() {
    file <- .recordFile()
    if (!file.exists(file)) return(NA_character_)
    python <- trimws(readLines(file, n = 1L, warn = FALSE))
    if (length(python) != 1L || !nzchar(python) || !file.exists(python)) return(NA_character_)
    python
}

## Record `python` for later sessions; the file is replaced whole, never left half-written.
.recordPython <- function(python) {
    file <- .recordFile()
    dir.create(dirname(file), recursive = TRUE, showWarnings = FALSE)
    tmp <- tempfile("python", tmpdir = dirname(file))
    ## the folder made absolute, the file name kept: a virtualenv's python is a symbolic link to
    ## its base interpreter, which does not have the engine
    writeLines(file.path(normalizePath(dirname(python), mustWork = TRUE), basename(python)), tmp)
    if (!file.rename(tmp, file)) {
        unlink(tmp)
        stop("Could not record the engine's Python in ", file, ".", call. = FALSE)
    }
    invisible(file)
}

.pythonProblem <- function(what) {
    found <- spatialDiffusionPython()
    paste0(
        "SpatialDiffusion needs its Python engine, but ", what, "\n",
        "  Python used: ", if (is.na(found$python)) "none" else found$python,
        " (", found$source, ")\n",
        "To fix it, do ONE of:\n",
        "  * run SpatialDiffusion::installSpatialDiffusion() once (it installs the engine that ships ",
        "with this package into a virtualenv), then restart R;\n",
        "  * or point to a Python that has the engine of SpatialDiffusion ", .packageVersionString(),
        " installed (numpy < 2), then restart R:\n",
        "      Sys.setenv(SPATIALDIFFUSION_PYTHON = \"/path/to/venv/bin/python\")  # before using the package,\n",
        "      or options(SpatialDiffusion.python = \"/path/to/python\")."
    )
}

.packageVersionString <- function() as.character(utils::packageVersion("SpatialDiffusion"))

## NULL when the engine's version equals the R package's, else the problem in words.
.engineVersionProblem <- function(engineVersion, packageVersion = .packageVersionString()) {
    if (identical(as.character(engineVersion), packageVersion)) return(NULL)
    paste0("the engine in this Python is version ", engineVersion, ", but this R package is version ",
        packageVersion, " and needs the engine of the same version.")
}

## Point reticulate at the interpreter chosen by spatialDiffusionPython(), unless Python is running.
.configurePython <- function() {
    if (reticulate::py_available(initialize = FALSE)) return(invisible(TRUE))
    found <- spatialDiffusionPython()
    if (is.na(found$python)) {
        stop(.pythonProblem("no Python interpreter was found."), call. = FALSE)
    }
    if (!file.exists(found$python)) {
        stop(.pythonProblem(paste0("the interpreter '", found$python, "' does not exist.")),
            call. = FALSE)
    }
    Sys.setenv(RETICULATE_PYTHON = found$python)
    reticulate::use_python(found$python, required = TRUE)
    invisible(TRUE)
}

## Check (once per session) that the engine can be imported and is usable from R.
.checkEngine <- function() {
    if (isTRUE(.bridge$ok)) return(invisible(TRUE))
    if (!is.null(.bridge$problem)) stop(.bridge$problem, call. = FALSE)
    problem <- tryCatch({
        .configurePython()
        if (!reticulate::py_module_available("spatialdiffusion")) {
            "the Python module 'spatialdiffusion' cannot be imported."
        } else {
            np <- reticulate::import("numpy", convert = TRUE)
            if (utils::compareVersion(as.character(np$`__version__`), "2.0") >= 0) {
                paste0("numpy ", np$`__version__`, " is installed; reticulate ",
                    utils::packageVersion("reticulate"), " needs numpy < 2.")
            } else {
                .engineVersionProblem(reticulate::import("spatialdiffusion")$`__version__`)
            }
        }
    }, error = function(e) conditionMessage(e))
    if (!is.null(problem)) {
        msg <- if (grepl("SpatialDiffusion needs its Python engine", problem, fixed = TRUE)) {
            problem
        } else {
            .pythonProblem(problem)
        }
        .bridge$problem <- msg
        stop(msg, call. = FALSE)
    }
    .bridge$ok <- TRUE
    invisible(TRUE)
}

## FUN for BiocParallel workers (new R processes, started by a scheduler possibly without this
## session's environment): a worker whose own settings name no Python (see
## spatialDiffusionPython()) uses the interpreter that runs the engine in this session.
.withCallerPython <- function(FUN) {
    python <- spatialDiffusionPython()$python
    function(...) {
        if (!reticulate::py_available(initialize = FALSE) && is.na(.discoverPython()$python)) {
            options(SpatialDiffusion.python = python)
        }
        FUN(...)
    }
}

#' Is the Python engine available?
#'
#' Checks, without an error, that a Python interpreter can be found (see
#' [spatialDiffusionPython()]), that it has the `spatialdiffusion` engine of this package's
#' version and a numpy that reticulate can convert. This starts Python in the R session when it is not running yet.
#' Use it to guard code that needs the engine, as the examples in this package do.
#'
#' @return `TRUE` or `FALSE`; when `FALSE`, the attribute `"reason"` says what to do.
#' @seealso [installSpatialDiffusion()]
#' @examples
#' pythonAvailable()
#' @export
pythonAvailable <- function() {
    res <- tryCatch(.checkEngine(), error = function(e) conditionMessage(e))
    if (isTRUE(res)) return(TRUE)
    structure(FALSE, reason = res)
}

## Is R running on the unoptimised reference BLAS (R's own libRblas, or Debian's libblas3)?
.onReferenceBLAS <- function(blas = extSoftVersion()[["BLAS"]]) {
    grepl("libRblas", blas, fixed = TRUE) || grepl("/blas/libblas\\.so", blas)
}

## Say once per session that the engine will be slow on R's reference BLAS: hosted by R, torch's
## matrix products use R's BLAS (see the README, "R and BLAS").
.adviseBLAS <- function(verbose) {
    if (!isTRUE(verbose) || isTRUE(.bridge$blasAdvised) || !.onReferenceBLAS()) {
        return(invisible(FALSE))
    }
    .bridge$blasAdvised <- TRUE
    message("R uses the reference BLAS (", extSoftVersion()[["BLAS"]], "). Inside R the engine's ",
        "matrix products go through R's BLAS and run about 10x slower than in Python. Install an ",
        "optimised BLAS, e.g. `sudo apt-get install libopenblas0-pthread` on Debian/Ubuntu.")
    invisible(TRUE)
}

## Access an engine module (after the availability check, so errors are clear).
.py <- function(key) {
    .checkEngine()
    .bridge[[key]]
}

## ---- conversions --------------------------------------------------------------------------

## Counts for the engine, cells as rows: a sparse matrix stays sparse, anything else becomes a
## dense double matrix. The column-compressed storage of a genes x cells dgCMatrix is, unchanged,
## the row-compressed storage of its transpose, which reticulate hands to Python as a scipy CSR
## matrix (the engine's own layout), so no transposed copy is made.
.countsForEngine <- function(m) {
    if (methods::is(m, "sparseMatrix")) {
        m <- methods::as(methods::as(methods::as(m, "CsparseMatrix"), "generalMatrix"), "dMatrix")
        return(methods::new("dgRMatrix", p = m@p, j = m@i, x = m@x, Dim = rev(m@Dim)))
    }
    m <- t(as.matrix(m))
    storage.mode(m) <- "double"
    m
}

## Dense numeric array coming back from Python -> R matrix (double).
.asMatrix <- function(a) {
    if (inherits(a, "python.builtin.object")) a <- reticulate::py_to_r(a)
    if (inherits(a, "python.builtin.object")) {
        stop("The Python engine returned an object that reticulate could not convert to an R ",
            "array; is numpy < 2 installed in the engine's Python?", call. = FALSE)
    }
    m <- as.matrix(a)
    storage.mode(m) <- "double"
    m
}

## Python dict of floats/lists/strings -> R list (recursively plain values).
.asList <- function(x) {
    if (inherits(x, "python.builtin.object")) x <- reticulate::py_to_r(x)
    if (is.list(x)) lapply(x, .asList) else x
}

## Call the engine function `fun` of module `key` with the argument list `args`. The engine checks
## every input and setting and names the culprit, so a Python exception becomes a plain R error
## with the engine's message (type and text, without the traceback).
.callEngine <- function(key, fun, args) {
    f <- .py(key)[[fun]]
    tryCatch(do.call(f, args), error = function(e) stop(.engineErrorMessage(e), call. = FALSE))
}

## "ValueError: <message>" from a Python exception, without reticulate's trailing hints.
.engineErrorMessage <- function(e) {
    msg <- sub("\\s*(Run `reticulate::py_last_error\\(\\)` for details\\.)?\\s*$", "",
        conditionMessage(e))
    paste0("The Python engine stopped with ", msg)
}
