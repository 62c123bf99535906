## Input checks and object adapters shared by every verb. Each check names the argument, says what
## was expected and how to fix it. Nothing here touches Python.

.COORD_PAIRS <- list(
    c("array_row", "array_col"),
    c("row", "col"),
    c("x", "y"),
    c("imagerow", "imagecol"),
    c("pxl_row_in_fullres", "pxl_col_in_fullres"),
    c("x_coord", "y_coord")
)

.isSeurat <- function(x) inherits(x, "Seurat")

## The column `value` of the cell annotations `df`, named by the argument `arg`; `hint` is added
## to the error when the column is missing.
.annotationColumn <- function(df, value, arg, hint = "") {
    if (!is.character(value) || length(value) != 1L || !value %in% colnames(df)) {
        stop("`", arg, "` must name a column of the cell annotations; ", dQuote(format(value)[1], FALSE),
            " is not one", hint, ".", call. = FALSE)
    }
    df[[value]]
}

## Is the first coordinate column the row (vertical) axis? True for row/column pairs such as
## array_row/array_col or imagerow/imagecol; false for x/y pairs and unnamed matrices.
.rowFirst <- function(coords) {
    first <- colnames(coords)[1]
    !is.null(first) && grepl("row", first, ignore.case = TRUE)
}

.needSeurat <- function() {
    if (!requireNamespace("SeuratObject", quietly = TRUE)) {
        stop("Working with Seurat objects needs the 'SeuratObject' package; install it first.",
            call. = FALSE)
    }
}

## Turn whatever we found into a checked N x 2 double matrix.
.checkCoordMatrix <- function(m, n, what, cells = NULL) {
    m <- as.matrix(m)
    if (!is.numeric(m)) {
        stop("Spatial coordinates from ", what, " are not numeric.", call. = FALSE)
    }
    if (nrow(m) != n) {
        stop("Spatial coordinates from ", what, " have ", nrow(m), " rows but the data has ", n,
            " spots/cells.", call. = FALSE)
    }
    if (ncol(m) < 2L) {
        stop("Spatial coordinates from ", what, " need 2 columns, found ", ncol(m), ".",
            call. = FALSE)
    }
    m <- m[, seq_len(2L), drop = FALSE]
    if (anyNA(m) || any(!is.finite(m))) {
        stop("Spatial coordinates from ", what, " contain NA or infinite values; remove those ",
            "spots or fix the coordinates.", call. = FALSE)
    }
    storage.mode(m) <- "double"
    rownames(m) <- cells
    m
}

## The prologue of every method on a bare counts matrix (dense, sparse or DelayedArray): the
## checked counts (columns named `<unit>1`, `<unit>2`, ... when unnamed), the coordinates given
## in `coords` and the sample labels. DiffusionST needs coordinates (`coordsRequired = TRUE`);
## SpaLSTF runs without them.
.matrixInput <- function(x, coords, sampleId, unit, coordsRequired) {
    counts <- .checkCounts(x, "The counts matrix `x`",
        paste0("Pass raw integer counts, genes in rows and ", unit, " in columns."))
    .geneNames(counts)
    item <- sub("s$", "", unit)
    if (is.null(colnames(counts))) colnames(counts) <- paste0(item, seq_len(ncol(counts)))
    if (is.null(coords) && !coordsRequired) {
        crd <- list(coords = NULL, source = "none")
    } else if (is.matrix(coords) || is.data.frame(coords)) {
        crd <- list(coords = .checkCoordMatrix(coords, ncol(counts), "the `coords` argument",
            colnames(counts)), source = "the `coords` argument")
    } else {
        stop("For a counts matrix, `coords` must be an N x 2 numeric matrix of ", item,
            " coordinates (one row per column of `x`)", if (!coordsRequired) " or NULL", ".",
            call. = FALSE)
    }
    list(counts = counts, crd = crd, samples = .sampleIds(NULL, sampleId, ncol(counts)))
}

## Coordinates from a data frame of per-cell annotations (colData / meta.data).
.coordsFromColumns <- function(df, coords, n, where, cells) {
    cn <- colnames(df)
    if (!is.null(coords)) {
        missingCols <- setdiff(coords, cn)
        if (length(missingCols)) {
            stop("`coords` names column(s) ", paste(sQuote(missingCols, FALSE), collapse = ", "),
                " that ", where, " does not have; available columns: ",
                paste(utils::head(cn, 30L), collapse = ", "), ".", call. = FALSE)
        }
        m <- as.matrix(as.data.frame(df)[, coords, drop = FALSE])
        return(list(coords = .checkCoordMatrix(m, n, paste0(where, " columns ",
            paste(coords, collapse = "/")), cells),
            source = paste0(where, " columns ", paste(coords, collapse = "/"))))
    }
    for (pair in .COORD_PAIRS) {
        if (all(pair %in% cn)) {
            m <- as.matrix(as.data.frame(df)[, pair, drop = FALSE])
            src <- paste0(where, " columns ", paste(pair, collapse = "/"))
            return(list(coords = .checkCoordMatrix(m, n, src, cells), source = src))
        }
    }
    NULL
}

## Coordinates the user passed as `coords`: an N x 2 matrix, or the names of two columns of `df`.
.coordsFromArgument <- function(coords, df, where, n, cells, verbose) {
    if (is.matrix(coords) || is.data.frame(coords)) {
        return(list(coords = .checkCoordMatrix(coords, n, "the `coords` argument", cells),
            source = "the `coords` argument"))
    }
    if (!is.character(coords) || length(coords) != 2L) {
        stop("`coords` must be NULL, two column names, or an N x 2 numeric matrix.", call. = FALSE)
    }
    res <- .coordsFromColumns(df, coords, n, where, cells)
    .say(verbose, "Using spatial coordinates from ", res$source, ".")
    res
}

.noCoordsError <- function(tried) {
    stop("No spatial coordinates found. Looked in: ", paste(tried, collapse = "; "), ".\n",
        "Fix: store them in one of these places, or pass `coords =` either the names of two ",
        "columns holding them or an N x 2 numeric matrix.", call. = FALSE)
}

## Coordinates of a SingleCellExperiment / SpatialExperiment, along the documented fallback list.
.coordsSCE <- function(x, coords = NULL, verbose = TRUE) {
    n <- ncol(x)
    cells <- colnames(x)
    if (!is.null(coords)) {
        return(.coordsFromArgument(coords, SummarizedExperiment::colData(x), "colData(x)", n,
            cells, verbose))
    }
    tried <- character()
    if (methods::is(x, "SpatialExperiment") && requireNamespace("SpatialExperiment", quietly = TRUE)) {
        sc <- SpatialExperiment::spatialCoords(x)
        if (!is.null(sc) && ncol(sc) >= 2L) {
            res <- list(coords = .checkCoordMatrix(sc, n, "spatialCoords(x)", cells),
                source = "spatialCoords(x)")
            .say(verbose, "Using spatial coordinates from spatialCoords(x).")
            return(res)
        }
        tried <- c(tried, paste0("spatialCoords(x) (", if (is.null(sc)) 0L else ncol(sc),
            " columns)"))
    }
    if ("spatial" %in% SingleCellExperiment::reducedDimNames(x)) {
        rd <- SingleCellExperiment::reducedDim(x, "spatial")
        if (ncol(rd) >= 2L) {
            res <- list(coords = .checkCoordMatrix(rd, n, "reducedDim(x, \"spatial\")", cells),
                source = "reducedDim(x, \"spatial\")")
            .say(verbose, "Using spatial coordinates from reducedDim(x, \"spatial\")",
                if (length(tried)) paste0(" (", tried[1], " was empty)"), ".")
            return(res)
        }
        tried <- c(tried, "reducedDim(x, \"spatial\") (fewer than 2 columns)")
    } else {
        tried <- c(tried, "reducedDim(x, \"spatial\") (absent)")
    }
    res <- .coordsFromColumns(SummarizedExperiment::colData(x), NULL, n, "colData(x)", cells)
    if (!is.null(res)) {
        .say(verbose, "Using spatial coordinates from ", res$source,
            if (length(tried) > 1L || methods::is(x, "SpatialExperiment"))
                paste0(" (not found in ", paste(tried, collapse = ", "), ")"), ".")
        return(res)
    }
    .noCoordsError(c(tried, paste0("colData(x) columns ", paste(vapply(.COORD_PAIRS,
        paste, "", collapse = "/"), collapse = ", "))))
}

## Coordinates of a Seurat object: GetTissueCoordinates() of its images, then meta.data columns.
.coordsSeurat <- function(x, coords = NULL, verbose = TRUE) {
    .needSeurat()
    n <- ncol(x)
    cells <- colnames(x)
    md <- x[[]]
    if (!is.null(coords)) return(.coordsFromArgument(coords, md, "the meta.data", n, cells, verbose))
    tried <- character()
    images <- SeuratObject::Images(x)
    if (length(images)) {
        parts <- lapply(images, function(img) {
            tc <- tryCatch(SeuratObject::GetTissueCoordinates(x, image = img),
                error = function(e) NULL)
            if (is.null(tc) || ncol(tc) < 2L) return(NULL)
            num <- vapply(tc, is.numeric, TRUE)
            tc <- tc[, num, drop = FALSE]
            if (ncol(tc) < 2L) return(NULL)
            as.matrix(tc[, seq_len(2L), drop = FALSE])
        })
        tc <- do.call(rbind, parts)
        if (!is.null(tc) && all(cells %in% rownames(tc))) {
            res <- list(coords = .checkCoordMatrix(tc[cells, , drop = FALSE], n,
                "GetTissueCoordinates()", cells), source = "GetTissueCoordinates()")
            .say(verbose, "Using spatial coordinates from GetTissueCoordinates() (image",
                if (length(images) > 1L) "s", " ", paste(images, collapse = ", "), ").")
            return(res)
        }
        tried <- c(tried, "GetTissueCoordinates() (images do not cover every cell)")
    } else {
        tried <- c(tried, "GetTissueCoordinates() (the object has no images)")
    }
    res <- .coordsFromColumns(md, NULL, n, "the meta.data", cells)
    if (!is.null(res)) {
        .say(verbose, "Using spatial coordinates from ", res$source, " (",
            paste(tried, collapse = ", "), ").")
        return(res)
    }
    .noCoordsError(c(tried, paste0("meta.data columns ", paste(vapply(.COORD_PAIRS,
        paste, "", collapse = "/"), collapse = ", "))))
}

## Raw counts: checked to be non-negative whole numbers without NA.
.checkCounts <- function(m, what, fix) {
    if (!(is.matrix(m) || methods::is(m, "Matrix"))) {
        m <- tryCatch(methods::as(m, "dgCMatrix"), error = function(e) as.matrix(m))
    }
    if (methods::is(m, "sparseMatrix") && !methods::is(m, "dMatrix")) {
        stop(what, " is a ", class(m)[1], " (a pattern or logical matrix), not counts. ", fix,
            call. = FALSE)
    }
    vals <- if (methods::is(m, "sparseMatrix")) {
        methods::as(m, "CsparseMatrix")@x
    } else {
        as.vector(m)
    }
    if (!is.numeric(vals)) {
        stop(what, " is not numeric (", typeof(vals), "). ", fix, call. = FALSE)
    }
    if (anyNA(vals)) stop(what, " contains NA values. ", fix, call. = FALSE)
    if (any(is.infinite(vals))) stop(what, " contains infinite values. ", fix, call. = FALSE)
    if (length(vals) && any(vals < 0)) {
        stop(what, " contains negative values, so it does not hold raw counts. ", fix,
            call. = FALSE)
    }
    frac <- which(vals != round(vals))
    if (length(frac)) {
        stop(what, " does not hold raw counts: non-integer values were found (e.g. ",
            signif(vals[frac[1]], 4), "). The methods need raw integer UMI counts. ", fix,
            call. = FALSE)
    }
    if (nrow(m) == 0L || ncol(m) == 0L) stop(what, " is empty.", call. = FALSE)
    m
}

.countsSCE <- function(x, assay, argName = "assay", objName = "x") {
    if (!is.character(assay) || length(assay) != 1L) {
        stop("`", argName, "` must be the name of one assay of `", objName, "`.", call. = FALSE)
    }
    an <- SummarizedExperiment::assayNames(x)
    if (!assay %in% an) {
        stop("`", argName, "` = \"", assay, "\" is not an assay of `", objName, "`; its assays are: ",
            if (length(an)) paste(dQuote(an, FALSE), collapse = ", ") else "none",
            ". Pass `", argName, " =` the assay that holds raw counts.", call. = FALSE)
    }
    m <- SummarizedExperiment::assay(x, assay, withDimnames = TRUE)
    .checkCounts(m, paste0("Assay \"", assay, "\" of `", objName, "`"),
        paste0("Pass `", argName, " =` the assay that holds raw integer counts (usually \"counts\")."))
}

.countsSeurat <- function(x, assay, argName = "assay", objName = "x") {
    .needSeurat()
    if (is.null(assay)) assay <- SeuratObject::DefaultAssay(x)
    an <- SeuratObject::Assays(x)
    if (!is.character(assay) || length(assay) != 1L || !assay %in% an) {
        stop("`", argName, "` = \"", format(assay), "\" is not an assay of `", objName,
            "`; its assays are: ", paste(dQuote(an, FALSE), collapse = ", "),
            ". Pass `", argName, " =` the assay whose counts slot holds raw counts.", call. = FALSE)
    }
    m <- SeuratObject::GetAssayData(x, slot = "counts", assay = assay)
    if (nrow(m) == 0L) {
        stop("The counts slot of assay \"", assay, "\" of `", objName, "` is empty. Pass `",
            argName, " =` an assay with raw counts.", call. = FALSE)
    }
    .checkCounts(m, paste0("The counts of assay \"", assay, "\" of `", objName, "`"),
        paste0("Pass `", argName, " =` the Seurat assay whose counts slot holds raw counts."))
}

.checkNClusters <- function(nClusters, nSpots) {
    .checkWhole(nClusters, "nClusters", 2, nSpots - 1L,
        paste0(" (fewer than the ", nSpots, " spots of the smallest sample)"))
}

## A single whole number in [minimum, maximum]; the error names the argument and shows what it got
## (its class too, when it is not a number at all).
.checkWhole <- function(value, name, minimum = 1, maximum = .Machine$integer.max, why = "") {
    ok <- is.numeric(value) && length(value) == 1L && !is.na(value) && value == round(value) &&
        value >= minimum && value <= maximum
    if (!ok) {
        range <- if (maximum < .Machine$integer.max) paste0("from ", minimum, " to ", maximum) else
            paste0("of at least ", minimum)
        got <- if (is.numeric(value)) paste(format(value), collapse = ", ") else
            paste0("a ", class(value)[1], " (", paste(format(value), collapse = ", "), ")")
        stop("`", name, "` must be a single whole number ", range, why, "; got ", got, ".",
            call. = FALSE)
    }
    as.integer(value)
}

.checkString <- function(value, name) {
    if (!is.character(value) || length(value) != 1L || is.na(value) || !nzchar(value)) {
        stop("`", name, "` must be a single non-empty string.", call. = FALSE)
    }
    value
}

## Where a run of `method` stores its results in a Seurat object, checked before any work: the
## assay `name` and, `withReduction`, the DimReduc `tolower(name)` and the meta.data column
## "<name>_domain". The keys are `name` without "." and "_", then "_" (lower-cased for the
## assay). `name` must be a name Seurat keeps as it is; results may replace only those of an
## earlier run of the method (`Misc(x, name)` says so), never the user's data, and their keys must
## be free.
.seuratResultSlots <- function(x, name, method, withReduction) {
    name <- .checkString(name, "name")
    if (!grepl("^[A-Za-z][A-Za-z0-9._]*$", name) || !identical(make.names(name), name)) {
        stop("`name` = \"", name, "\" would be renamed by Seurat; use a letter followed by ",
            "letters, digits, \".\" or \"_\" (and not an R reserved word).", call. = FALSE)
    }
    stem <- gsub("[^A-Za-z0-9]", "", name)
    slots <- list(assay = name, assayKey = paste0(tolower(stem), "_"))
    if (withReduction) {
        if (tolower(name) == name) {
            stop("`name` = \"", name, "\" would give the assay (`name`) and the reduction ",
                "(`tolower(name)`) of the results the same name; use a name with an upper-case ",
                "letter, such as \"", toupper(name), "\".", call. = FALSE)
        }
        slots <- c(slots, list(reduction = tolower(name), reductionKey = paste0(stem, "_"),
            column = paste0(name, "_domain")))
    }
    if (identical(SeuratObject::Misc(x, name)$method, method)) return(slots)
    objects <- c(slots$assay, slots$reduction)
    taken <- intersect(objects, names(x))
    taken <- c(vapply(taken, function(n) paste0("the ", class(x[[n]])[1], " \"", n, "\""), ""),
        if (!is.null(slots$column) && slots$column %in% colnames(x[[]]))
            paste0("the meta.data column \"", slots$column, "\""))
    if (length(taken)) {
        stop("`name` = \"", name, "\" would overwrite ", paste(taken, collapse = " and "),
            " of `x`, which Misc(x, \"", name, "\") does not record as ", method, " results (merge() ",
            "drops that record); remove them or pass another `name`.", call. = FALSE)
    }
    keys <- SeuratObject::Key(x)
    usedKey <- intersect(c(slots$assayKey, slots$reductionKey), keys)
    if (length(usedKey)) {
        stop("`name` = \"", name, "\" would give the results the key \"", usedKey[1], "\", which ",
            "\"", names(keys)[match(usedKey[1], keys)], "\" of `x` uses; pass another `name`.",
            call. = FALSE)
    }
    slots
}

## A Seurat assay holding `values` (features x cells) in its data slot, with the key that
## `.seuratResultSlots()` checked (Seurat would otherwise derive one from the assay's name).
.resultAssay <- function(values, slots) {
    assay <- suppressWarnings(SeuratObject::CreateAssayObject(data = values))
    SeuratObject::Key(assay) <- slots$assayKey
    assay
}

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
        stop("`name` = \"", name, "\" would overwrite ", paste(taken, collapse = " and "),
            ", which metadata(x)$", name, " does not record as ", method, " results; remove them ",
            "or pass another `name`.", call. = FALSE)
    }
    name
}

.checkFlag <- function(value, name) {
    if (!is.logical(value) || length(value) != 1L || is.na(value)) {
        stop("`", name, "` must be TRUE or FALSE.", call. = FALSE)
    }
    value
}

## The settings every engine call takes, checked: preset, device, seed and verbose.
.checkRunSettings <- function(preset, device, seed, verbose) {
    preset <- .checkString(preset, "preset")
    if (!preset %in% c("auto", "fast", "paper")) {
        stop("`preset` must be \"auto\", \"fast\" or \"paper\"; got \"", preset, "\".",
            call. = FALSE)
    }
    device <- .checkString(device, "device")
    if (!grepl("^(auto|cpu|mps|cuda(:[0-9]+)?)$", device)) {
        stop("`device` must be \"auto\", \"cpu\", \"cuda\" (or \"cuda:N\") or \"mps\"; got \"",
            device, "\".", call. = FALSE)
    }
    list(preset = preset, device = device, seed = .checkWhole(seed, "seed", 0),
        verbose = .checkFlag(verbose, "verbose"))
}

.geneNames <- function(m, objName = "x") {
    g <- rownames(m)
    if (is.null(g)) stop("`", objName, "` has no gene names (rownames); set them first.", call. = FALSE)
    if (anyDuplicated(g)) {
        stop("`", objName, "` has duplicated gene names (e.g. ", g[anyDuplicated(g)],
            "); make them unique first, e.g. with make.unique().", call. = FALSE)
    }
    g
}

## Sample labels: NULL for a single sample, else a character vector (one per cell).
.sampleIds <- function(df, sampleId, n, defaultName = "sample_id") {
    if (is.null(sampleId)) return(NULL)
    if (length(sampleId) == n && n > 1L) {
        if (anyNA(sampleId)) {
            stop("`sampleId` has NA sample labels (e.g. spot ", which(is.na(sampleId))[1], "); give ",
                "every spot a sample.", call. = FALSE)
        }
        return(as.character(sampleId))
    }
    if (!is.character(sampleId) || length(sampleId) != 1L) {
        stop("`sampleId` must be NULL, a column name, or one sample label per spot.", call. = FALSE)
    }
    if (is.null(df) || !sampleId %in% colnames(df)) {
        if (identical(sampleId, defaultName)) return(NULL)
        stop("`sampleId` = \"", sampleId, "\" is not a column of the cell annotations.",
            call. = FALSE)
    }
    s <- as.character(df[[sampleId]])
    if (anyNA(s)) stop("Column \"", sampleId, "\" has NA sample labels.", call. = FALSE)
    if (length(unique(s)) < 2L) return(NULL)
    s
}

## Whole-transcriptome library sizes, for counts that hold only some genes: NULL (use the totals
## over the genes given), a column of the cell annotations `df`, or one number per spot. Each must
## be positive and at least the spot's count over the genes in `counts` (genes x spots). The
## result carries where it came from in its "source" attribute.
.librarySizes <- function(df, librarySize, counts) {
    if (is.null(librarySize)) return(NULL)
    n <- ncol(counts)
    origin <- "numeric vector"
    if (is.character(librarySize) && length(librarySize) == 1L) {
        origin <- paste0("column ", librarySize)
        if (is.null(df) || !librarySize %in% colnames(df)) {
            stop("`librarySize` = \"", librarySize, "\" is not a column of the cell annotations; ",
                "pass a column name, one total UMI count per spot, or NULL.", call. = FALSE)
        }
        librarySize <- df[[librarySize]]
    }
    if (!is.numeric(librarySize) || length(librarySize) != n || anyNA(librarySize) ||
        any(!is.finite(librarySize)) || any(librarySize <= 0)) {
        stop("`librarySize` must be NULL, a column name, or ", n, " finite positive numbers ",
            "(each spot's UMI total over the whole transcriptome).", call. = FALSE)
    }
    short <- which(librarySize < Matrix::colSums(counts) - 1e-6)
    if (length(short)) {
        stop("`librarySize` is smaller than the spot's counts over the genes given for ",
            length(short), " spot(s) (e.g. spot ", short[1], "); it must be each spot's total over ",
            "the whole transcriptome, computed before genes were removed.", call. = FALSE)
    }
    structure(as.numeric(librarySize), source = origin)
}

## Cell indices of each sample: one group "all" when there is a single sample.
.sampleGroups <- function(n, samples) {
    if (is.null(samples)) list(all = seq_len(n)) else
        split(seq_len(n), factor(samples, levels = unique(samples)))
}

.say <- function(verbose, ...) if (isTRUE(verbose)) message(...)

## Run `expr` with R's RNG seeded from `seed` (default RNG kinds, as a fresh R session, so a
## Python-first run that seeds R through rpy2 gets the same numbers) and restore the caller's RNG
## state afterwards: the package never leaves a trace in the user's random stream.
.withSeed <- function(seed, expr) {
    genv <- globalenv()
    hadSeed <- exists(".Random.seed", envir = genv, inherits = FALSE)
    oldSeed <- if (hadSeed) get(".Random.seed", envir = genv, inherits = FALSE)
    oldKind <- RNGkind()
    on.exit({
        do.call(RNGkind, as.list(oldKind))
        if (hadSeed) {
            assign(".Random.seed", oldSeed, envir = genv)
        } else if (exists(".Random.seed", envir = genv, inherits = FALSE)) {
            rm(".Random.seed", envir = genv)
        }
    }, add = TRUE)
    RNGkind("Mersenne-Twister", "Inversion", "Rejection")
    set.seed(seed)
    expr
}

.versionsR <- function() {
    list(R = R.version.string,
        SpatialDiffusion = as.character(utils::packageVersion("SpatialDiffusion")),
        reticulate = as.character(utils::packageVersion("reticulate")),
        mclust = as.character(utils::packageVersion("mclust")))
}

## A BiocParallel backend that does not fork when it is used (`nSamples` > 1; one sample runs in
## this process): the engine runs torch (GNU OpenMP threads) in this R process, and a process
## forked from it can hang or crash in its first parallel region.
.checkBPPARAM <- function(BPPARAM, nSamples) {
    if (!methods::is(BPPARAM, "BiocParallelParam")) {
        stop("`BPPARAM` must be a BiocParallel backend such as BiocParallel::SerialParam().",
            call. = FALSE)
    }
    forks <- methods::is(BPPARAM, "MulticoreParam") ||
        (methods::is(BPPARAM, "SnowParam") && identical(BPPARAM$.clusterargs$type, "FORK"))
    if (forks && nSamples > 1L) {
        stop("`BPPARAM` is a ", class(BPPARAM)[1], ", which forks this R process; the Python ",
            "engine's threads do not survive a fork. Use BiocParallel::SnowParam(workers) (new ",
            "R processes) or BiocParallel::SerialParam().", call. = FALSE)
    }
}

## Run FUN over samples: directly for one sample (so errors read plainly), else with BiocParallel.
.runGroups <- function(groupNames, FUN, BPPARAM) {
    if (length(groupNames) == 1L) return(list(FUN(groupNames[[1L]])))
    tryCatch(BiocParallel::bplapply(groupNames, FUN, BPPARAM = BPPARAM),
        bplist_error = function(e) {
            res <- BiocParallel::bpresult(e)
            bad <- vapply(res, methods::is, TRUE, "error")
            msg <- if (any(bad)) conditionMessage(res[[which(bad)[1]]]) else conditionMessage(e)
            stop("Sample ", groupNames[which(bad)[1]], ": ", msg, call. = FALSE)
        })
}
