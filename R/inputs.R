## Input checks and object adapters shared by every verb. Argument checks use checkmate, messages
## cli; each message names the argument, says what was expected and how to fix it. Nothing here
## touches Python.

## ---- messages and argument checks -----------------------------------------------------------

## Stop with a cli-formatted message (no call: the message says which argument is wrong).
.abort <- function(message, .envir = parent.frame()) {
    cli::cli_abort(message, call = NULL, .envir = .envir)
}

## A progress or information message, shown when `verbose`.
.say <- function(verbose, message, .envir = parent.frame()) {
    if (isTRUE(verbose)) cli::cli_inform(message, .envir = .envir)
}

## Stop unless `check` (the result of a checkmate `check_*()` call) is TRUE: "`arg` must be
## <expected>: <what checkmate found>."
.assert <- function(check, arg, expected) {
    if (!isTRUE(check)) {
        found <- paste0(tolower(substr(check, 1L, 1L)), substring(check, 2L))
        .abort("{.arg {arg}} must be {expected}: {found}.")
    }
    invisible(TRUE)
}

## A single whole number in [lower, upper], returned as an integer.
.checkWhole <- function(value, arg, lower = 1, upper = Inf, why = "") {
    range <- if (is.finite(upper)) paste("from", lower, "to", upper) else paste("of at least", lower)
    .assert(checkmate::check_int(value, lower = lower, upper = upper), arg,
        paste0("a single whole number ", range, why))
    as.integer(value)
}

.checkFlag <- function(value, arg) {
    .assert(checkmate::check_flag(value), arg, "TRUE or FALSE")
    value
}

.checkString <- function(value, arg) {
    .assert(checkmate::check_string(value, min.chars = 1L), arg, "a single non-empty string")
    value
}

.checkNClusters <- function(nClusters, nSpots) {
    .checkWhole(nClusters, "nClusters", 2, nSpots - 1L,
        paste0(" (fewer than the ", nSpots, " spots of the smallest sample)"))
}

## The settings every engine call takes: preset, device, seed and verbose.
.checkRunSettings <- function(preset, device, seed, verbose) {
    .assert(checkmate::check_choice(preset, c("auto", "fast", "paper")), "preset",
        "\"auto\", \"fast\" or \"paper\"")
    .assert(checkmate::check_string(device, pattern = "^(auto|cpu|mps|cuda(:[0-9]+)?)$"), "device",
        "\"auto\", \"cpu\", \"cuda\" (or \"cuda:N\") or \"mps\"")
    list(preset = preset, device = device, seed = .checkWhole(seed, "seed", 0),
        verbose = .checkFlag(verbose, "verbose"))
}

## A BiocParallel backend that does not fork when it is used (`nSamples` > 1; one sample runs in
## this process): the engine runs torch (GNU OpenMP threads) in this R process, and a process
## forked from it can hang or crash in its first parallel region.
.checkBPPARAM <- function(BPPARAM, nSamples) {
    .assert(checkmate::check_class(BPPARAM, "BiocParallelParam"), "BPPARAM",
        "a BiocParallel backend such as BiocParallel::SerialParam()")
    forks <- methods::is(BPPARAM, "MulticoreParam") ||
        (methods::is(BPPARAM, "SnowParam") && identical(BPPARAM$.clusterargs$type, "FORK")) ||
        (methods::is(BPPARAM, "BatchtoolsParam") && identical(BPPARAM$cluster, "multicore"))
    if (forks && nSamples > 1L) {
        .abort(c("{.arg BPPARAM} is a {class(BPPARAM)[1]}, which forks this R process; the Python
            engine's threads do not survive a fork.",
            i = "Use BiocParallel::SnowParam(workers) (new R processes),
            BiocParallel::BatchtoolsParam() on a scheduler (or with {.code cluster = \"socket\"})
            or BiocParallel::SerialParam()."))
    }
}

## Engine settings from `...`: named, none of the arguments the R function sets itself (`reserved`:
## engine name -> R argument), no NA; whole numbers become Python ints.
.engineOverrides <- function(args, reserved) {
    if (!length(args)) return(list())
    if (is.null(names(args)) || any(!nzchar(names(args)))) {
        .abort("Engine settings passed through {.arg ...} must be named (e.g. epochs = 10).")
    }
    taken <- intersect(names(args), names(reserved))
    if (length(taken)) {
        .abort("{.arg ...} sets {.arg {taken}}, which the R function sets itself; use its argument
            {.arg {reserved[taken]}} instead.")
    }
    missingValue <- names(args)[vapply(args, function(v) is.atomic(v) && anyNA(v), TRUE)]
    if (length(missingValue)) {
        .abort("{.arg ...} gives NA for {.arg {missingValue}}; give a value, or leave the setting out
            to use the preset's.")
    }
    lapply(args, function(v) {
        if (checkmate::test_int(v) && !is.integer(v)) as.integer(v) else v
    })
}

## The column `value` of the cell annotations `df`, named by the argument `arg`; `hint` is added
## to the error when the column is missing.
.annotationColumn <- function(df, value, arg, hint = "") {
    if (!checkmate::test_string(value) || !value %in% colnames(df)) {
        .abort("{.arg {arg}} must name a column of the cell annotations; {.val {format(value)[1]}}
            is not one{hint}.")
    }
    df[[value]]
}

## ---- counts and genes -----------------------------------------------------------------------

## `x` of a verb's matrix method: a genes x cells matrix (dense, sparse, DelayedArray, ...).
.checkMatrixLike <- function(x, unit) {
    if (length(dim(x)) == 2L && !methods::is(x, "SummarizedExperiment") && !.isSeurat(x) &&
        !is.data.frame(x)) {
        return(invisible(TRUE))
    }
    hint <- if (methods::is(x, "SummarizedExperiment")) {
        c(i = "Convert it first with {.code as(x, \"SingleCellExperiment\")}.")
    }
    .abort(c("{.arg x} must be a SpatialExperiment, SingleCellExperiment, Seurat object or a genes x
        {unit} counts matrix (dense, sparse or DelayedArray); got an object of class
        {.cls {class(x)[1]}}.", hint))
}

## Raw counts: non-negative whole numbers without NA, as a matrix or sparse Matrix. Hand-written
## around checkmate's test: its own message would point at a position in the stored values of a
## sparse matrix, where one offending value says more.
.checkCounts <- function(m, what, fix) {
    if (methods::is(m, "DelayedArray")) {
        m <- .sparseFromDelayed(m, what, fix)
    } else if (!(is.matrix(m) || methods::is(m, "Matrix"))) {
        m <- tryCatch(methods::as(m, "dgCMatrix"), error = function(e) as.matrix(m))
    }
    if (methods::is(m, "sparseMatrix") && !methods::is(m, "dMatrix")) {
        .abort(c("{what} is a {.cls {class(m)[1]}} (a pattern or logical matrix), not counts.",
            i = fix))
    }
    vals <- if (methods::is(m, "sparseMatrix")) methods::as(m, "CsparseMatrix")@x else as.vector(m)
    if (!is.numeric(vals)) .abort(c("{what} is not numeric ({typeof(vals)}).", i = fix))
    if (!checkmate::test_integerish(vals, lower = 0, any.missing = FALSE)) {
        bad <- vals[which(is.na(vals) | !is.finite(vals) | vals < 0 | vals != round(vals))[1]]
        .abort(c("{what} does not hold raw counts (whole numbers of at least 0, no NA): it contains
            {signif(bad, 4)}.", i = fix))
    }
    if (nrow(m) == 0L || ncol(m) == 0L) .abort("{what} is empty.")
    m
}

## A DelayedArray (e.g. an HDF5Array on disk) as a dgCMatrix, read one block of columns at a time
## (DelayedArray's automatic block size, DelayedArray::getAutoBlockSize()) and never made dense
## whole: memory holds the sparse result, one block and, while the result is assembled, a copy of
## its row indices or of its values.
.sparseFromDelayed <- function(m, what, fix) {
    type <- DelayedArray::type(m)
    if (!type %in% c("integer", "double")) {
        .abort(c("{what} is a DelayedArray of type {type}, not numeric counts.", i = fix))
    }
    parts <- DelayedArray::blockApply(m, function(block) {
        s <- methods::as(methods::as(block, "CsparseMatrix"), "dMatrix")
        list(i = s@i, x = s@x, nnz = diff(s@p))
    }, grid = DelayedArray::colAutoGrid(m), as.sparse = NA)
    p <- as.integer(c(0L, cumsum(unlist(lapply(parts, `[[`, "nnz"), use.names = FALSE))))
    i <- as.integer(unlist(lapply(parts, `[[`, "i"), use.names = FALSE))
    parts <- lapply(parts, `[[`, "x")
    x <- unlist(parts, use.names = FALSE)
    rm(parts)
    dn <- dimnames(m)
    methods::new("dgCMatrix", i = i, p = p, x = as.double(x), Dim = dim(m),
        Dimnames = if (is.null(dn)) list(NULL, NULL) else dn)
}

## Gene names (rownames) of `m`: present and unique (`ignoreCase`: also when compared ignoring case,
## as SpaLSTF matches genes).
.geneNames <- function(m, objName = "x", ignoreCase = FALSE) {
    g <- rownames(m)
    if (is.null(g) || anyNA(g) || !all(nzchar(g))) {
        .abort("{.arg {objName}} needs a gene name (rowname) for every gene; set them first.")
    }
    key <- if (ignoreCase) toupper(g) else g
    dup <- anyDuplicated(key)
    if (dup) {
        same <- unique(g[key == key[dup]])
        .abort(c("{.arg {objName}} has duplicated gene names{if (ignoreCase) ' (compared ignoring
            case)'}: {.val {same}}.",
            i = "Make them unique first, e.g. {.code rownames({objName}) <-
            make.unique(rownames({objName}))}, or for gene symbols
            {.code scuttle::uniquifyFeatureNames()} (which pairs them with their IDs)."))
    }
    g
}

.countsSCE <- function(x, assay, argName = "assay", objName = "x") {
    .assert(checkmate::check_string(assay), argName, paste0("the name of one assay of `", objName, "`"))
    an <- SummarizedExperiment::assayNames(x)
    if (!assay %in% an) {
        .abort("{.arg {argName}} = {.val {assay}} is not an assay of {.arg {objName}}; its assays
            are: {if (length(an)) .q(an) else 'none'}. Pass {.arg {argName}} = the assay that holds
            raw counts.")
    }
    m <- SummarizedExperiment::assay(x, assay, withDimnames = TRUE)
    .checkCounts(m, paste0("Assay \"", assay, "\" of `", objName, "`"),
        paste0("Pass `", argName, " =` the assay that holds raw integer counts (usually \"counts\")."))
}

## Quoted, comma-separated, for messages.
.q <- function(x) paste0("\"", x, "\"", collapse = ", ")

## ---- coordinates ----------------------------------------------------------------------------

## colData / meta.data column pairs tried, in order, when nothing else holds coordinates (Visium
## array positions; the x/y of imaging data). Any other pair is named with `coords =`.
.COORD_PAIRS <- list(c("array_row", "array_col"), c("x_coord", "y_coord"), c("x", "y"))

## Is the first coordinate column the row (vertical) axis? True for row/column pairs such as
## array_row/array_col or imagerow/imagecol; false for x/y pairs and unnamed matrices.
.rowFirst <- function(coords) {
    first <- colnames(coords)[1]
    !is.null(first) && grepl("row", first, ignore.case = TRUE)
}

## Coordinates found in an object or given by the user: a matrix, with where it came from in its
## "source" attribute.
.withSource <- function(m, source) structure(as.matrix(m), source = source)

## The N x 2 coordinate matrix for the engine (double, rows named `cells`), checked; `what` says
## where it came from. All spots at one position give no spatial graph, so that is refused too.
.checkCoordMatrix <- function(m, n, what, cells = NULL) {
    m <- as.matrix(m)
    .assert(checkmate::check_matrix(m, mode = "numeric", nrows = n, min.cols = 2L), "coords",
        paste0("an N x 2 numeric matrix with one row per spot (from ", what, ")"))
    m <- m[, seq_len(2L), drop = FALSE]
    if (!all(is.finite(m))) {
        .abort("Spatial coordinates from {what} contain NA or infinite values; remove those spots
            or fix the coordinates.")
    }
    if (n > 1L && all(m[, 1] == m[1, 1]) && all(m[, 2] == m[1, 2])) {
        .abort(c("All {n} spots have the same spatial coordinates ({m[1, 1]}, {m[1, 2]}) in {what},
            so they give no spatial neighbourhoods.",
            i = "Pass {.arg coords} = the two columns (or an N x 2 matrix) holding each spot's
            position."))
    }
    storage.mode(m) <- "double"
    dimnames(m) <- list(cells, colnames(m))
    m
}

## Coordinates of the cell annotations `df` (colData / meta.data, described by `where`): the columns
## named in `coords`, or the first pair of `.COORD_PAIRS` present; NULL when none is.
.coordsFromColumns <- function(df, coords, where) {
    cn <- colnames(df)
    if (!is.null(coords)) {
        .assert(checkmate::check_character(coords, len = 2L, any.missing = FALSE), "coords",
            "NULL, the names of two columns, or an N x 2 numeric matrix")
        absent <- setdiff(coords, cn)
        if (length(absent)) {
            .abort("{.arg coords} names {.val {absent}}, not columns of {where}; its columns:
                {paste(utils::head(cn, 30L), collapse = ', ')}.")
        }
        pair <- coords
    } else {
        found <- Filter(function(p) all(p %in% cn), .COORD_PAIRS)
        if (!length(found)) return(NULL)
        pair <- found[[1]]
    }
    .withSource(as.data.frame(df)[, pair, drop = FALSE],
        paste0(where, " columns ", paste(pair, collapse = "/")))
}

## Coordinates of a SingleCellExperiment / SpatialExperiment: `coords` (column names or a matrix),
## else spatialCoords(x), reducedDim(x, "spatial"), then the columns of `.COORD_PAIRS`. NULL when
## none has them and `required` is FALSE.
.coordsSCE <- function(x, coords, verbose, required = TRUE) {
    cd <- SummarizedExperiment::colData(x)
    found <- if (is.matrix(coords) || is.data.frame(coords)) {
        .withSource(coords, "the `coords` argument")
    } else if (!is.null(coords)) {
        .coordsFromColumns(cd, coords, "colData(x)")
    } else if (methods::is(x, "SpatialExperiment") &&
        ncol(SpatialExperiment::spatialCoords(x)) >= 2L) {
        .withSource(SpatialExperiment::spatialCoords(x), "spatialCoords(x)")
    } else if ("spatial" %in% SingleCellExperiment::reducedDimNames(x)) {
        .withSource(SingleCellExperiment::reducedDim(x, "spatial"), "reducedDim(x, \"spatial\")")
    } else {
        .coordsFromColumns(cd, NULL, "colData(x)")
    }
    tried <- c(if (methods::is(x, "SpatialExperiment")) "spatialCoords(x)",
        "reducedDim(x, \"spatial\")", "colData(x) columns")
    .foundCoords(found, tried, verbose, required)
}

## Report the coordinates found (or that there are none).
.foundCoords <- function(found, tried, verbose, required) {
    if (!is.null(found)) {
        .say(verbose, "Using spatial coordinates from {attr(found, 'source')}.")
        return(found)
    }
    pairs <- vapply(.COORD_PAIRS, paste, "", collapse = "/")
    if (!required) {
        .say(verbose, "No spatial coordinates found; SpaLSTF runs on expression only.")
        return(NULL)
    }
    .abort(c("No spatial coordinates found. Looked in: {paste(tried, collapse = ', ')}
        {paste(pairs, collapse = ', ')}.",
        i = "Pass {.arg coords} = the names of the two columns holding them (e.g.
        {.code coords = c(\"imagerow\", \"imagecol\")}) or an N x 2 numeric matrix."))
}

## ---- samples and library sizes --------------------------------------------------------------

## Sample labels from the cell annotations `df`: NULL for a single sample, else one label per cell.
## `sampleId` is a column (the default column may be absent), one label per cell, or NULL.
.sampleIds <- function(df, sampleId, n, defaultName = "sample_id") {
    if (is.null(sampleId)) return(NULL)
    if (length(sampleId) == 1L && n > 1L) {
        .assert(checkmate::check_string(sampleId), "sampleId",
            "NULL, a column name, or one sample label per spot")
        if (is.null(df) || !sampleId %in% colnames(df)) {
            if (identical(sampleId, defaultName)) return(NULL)
            .abort("{.arg sampleId} = {.val {sampleId}} is not a column of the cell annotations.")
        }
        sampleId <- df[[sampleId]]
    }
    .sampleLabels(sampleId, n)
}

## One sample label per spot (NULL when all are the same sample).
.sampleLabels <- function(sampleId, n) {
    if (is.null(sampleId)) return(NULL)
    .assert(checkmate::check_atomic_vector(sampleId, len = n), "sampleId",
        paste("NULL or one sample label per spot,", n, "in all"))
    if (anyNA(sampleId)) {
        .abort("{.arg sampleId} has NA sample labels (e.g. spot {which(is.na(sampleId))[1]}); give
            every spot a sample.")
    }
    s <- as.character(sampleId)
    if (length(unique(s)) < 2L) NULL else s
}

## `librarySize` given as a column name: that column of `df`, with where it came from.
.librarySizeColumn <- function(df, librarySize) {
    if (!is.character(librarySize) || length(librarySize) != 1L) return(librarySize)
    if (!librarySize %in% colnames(df)) {
        .abort("{.arg librarySize} = {.val {librarySize}} is not a column of the cell annotations;
            pass a column name, one total UMI count per spot, or NULL.")
    }
    structure(df[[librarySize]], source = paste0("column ", librarySize))
}

## Whole-transcriptome library sizes, for counts that hold only some genes: NULL (use the totals
## over the genes given) or one positive number per spot, each at least the spot's count over the
## genes in `counts`. The result carries where it came from in its "source" attribute.
.librarySizes <- function(librarySize, counts) {
    if (is.null(librarySize)) return(NULL)
    n <- ncol(counts)
    .assert(checkmate::check_numeric(librarySize, len = n, any.missing = FALSE, finite = TRUE,
        lower = .Machine$double.xmin), "librarySize",
        paste0("NULL, a column name, or ", n, " finite positive numbers (each spot's UMI total ",
            "over the whole transcriptome)"))
    short <- which(librarySize < Matrix::colSums(counts) - 1e-6)
    if (length(short)) {
        .abort("{.arg librarySize} is smaller than the spot's counts over the genes given for
            {length(short)} spot(s) (e.g. spot {short[1]}); it must be each spot's total over the
            whole transcriptome, computed before genes were removed.")
    }
    structure(as.numeric(librarySize),
        source = if (is.null(attr(librarySize, "source"))) "numeric vector" else
            attr(librarySize, "source"))
}

## Cell indices of each sample: one group "all" when there is a single sample.
.sampleGroups <- function(n, samples) {
    if (is.null(samples)) list(all = seq_len(n)) else
        split(seq_len(n), factor(samples, levels = unique(samples)))
}

## Each sample's inputs (`groups`: the cell indices of each sample), named by sample: the columns
## of `counts` and rows of `coords` (optional) of its cells, its library sizes (optional), its label
## (NULL when there is a single sample) and its cell indices.
.sampleParts <- function(groups, counts, coords = NULL, libSize = NULL) {
    several <- length(groups) > 1L
    Map(function(idx, s) {
        list(counts = counts[, idx, drop = FALSE],
            coords = if (!is.null(coords)) coords[idx, , drop = FALSE], libSize = libSize[idx],
            sample = if (several) s, cells = idx)
    }, groups, names(groups))
}

## FUN(part, ...) for each sample's part of `parts` (.sampleParts()): directly for one sample (so
## errors read plainly), else with BiocParallel. A worker receives one sample's part and the
## shared arguments `...`, so FUN is a function of the package, not a closure (which would carry
## its environment, every sample's data, to each worker); the workers find the engine's Python as
## this session did (.withCallerPython()).
.runGroups <- function(parts, FUN, BPPARAM, ...) {
    if (length(parts) == 1L) return(list(FUN(parts[[1L]], ...)))
    tryCatch(BiocParallel::bplapply(parts, .withCallerPython(FUN), ..., BPPARAM = BPPARAM),
        bplist_error = function(e) {
            res <- BiocParallel::bpresult(e)
            bad <- vapply(res, methods::is, TRUE, "error")
            msg <- if (any(bad)) conditionMessage(res[[which(bad)[1]]]) else conditionMessage(e)
            .abort("Sample {names(parts)[which(bad)[1]]}: {msg}")
        })
}

## ---- results --------------------------------------------------------------------------------

## Where a run of `method` stores its results in a SingleCellExperiment, checked before any work:
## `metadata(x)[[name]]`, `altExp(x, name)` and, `withDomains`, `reducedDim(x, name)` and the
## colData column "<name>_domain". Results may replace only those of an earlier run of the
## method (`metadata(x)[[name]]$method` says so), never the user's data.
.checkSCEResultName <- function(x, name, method, withDomains) {
    name <- .checkString(name, "name")
    earlier <- S4Vectors::metadata(x)[[name]]
    if (is.list(earlier) && identical(earlier$method, method)) return(name)
    column <- paste0(name, "_domain")
    taken <- c(
        if (name %in% names(S4Vectors::metadata(x))) paste0("metadata(x)$", name),
        if (name %in% SingleCellExperiment::altExpNames(x)) paste0("altExp(x, \"", name, "\")"),
        if (withDomains && name %in% SingleCellExperiment::reducedDimNames(x))
            paste0("reducedDim(x, \"", name, "\")"),
        if (withDomains && column %in% colnames(SummarizedExperiment::colData(x)))
            paste0("the colData column \"", column, "\""))
    if (length(taken)) {
        .abort("{.arg name} = {.val {name}} would overwrite {paste(taken, collapse = ' and ')},
            which metadata(x)${name} does not record as {method} results; remove them or pass
            another {.arg name}.")
    }
    name
}

.versionsR <- function() {
    list(R = R.version.string,
        SpatialDiffusion = as.character(utils::packageVersion("SpatialDiffusion")),
        reticulate = as.character(utils::packageVersion("reticulate")),
        mclust = as.character(utils::packageVersion("mclust")))
}
