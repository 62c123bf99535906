#' SpaLSTF gene imputation from a single-cell reference
#'
#' Runs SpaLSTF: a conditional diffusion model (bidirectional LSTM denoiser) trained on a
#' single-cell RNA-seq reference predicts, for every spot/cell of the spatial data, the expression
#' of genes the spatial assay did not measure, from the genes both share.
#'
#' @param x The spatial data: a SpatialExperiment, SingleCellExperiment, Seurat object or a genes x
#'   cells counts matrix.
#' @param reference The single-cell reference: a SingleCellExperiment, Seurat object or genes x
#'   cells counts matrix, sharing genes with `x` (same identifiers).
#' @param genes Genes to impute (must be in the reference; matched ignoring case). Default: the
#'   reference's highly variable genes (up to 2000) that `x` lacks.
#' @param assay Raw counts of `x` (assay name; for Seurat the Seurat assay, default the default
#'   assay).
#' @param referenceAssay Raw counts of `reference`, as `assay`.
#' @param coords Optional spatial coordinates of `x`, as in [runDiffusionST()]; when none are
#'   found the engine runs without them.
#' @param sampleId Column of sample labels of `x`; several samples are imputed one by one.
#' @param preset,device,seed,BPPARAM,verbose As in [runDiffusionST()].
#' @param checkpoint Optional path of a trained engine checkpoint: reused if the file exists (no
#'   training; the model keeps the settings it was trained with, and only sampling settings given in
#'   `...`, such as `n_samples` or `sample_jitter`, apply), written after training otherwise.
#' @param name Name under which the results are stored. Results replace only those of an earlier
#'   SpaLSTF run of that name (its metadata says so), never other data: a name taken by anything
#'   else stops the run before any work. For Seurat, `name` must be kept as it is by Seurat (a
#'   letter, then letters, digits, `.` or `_`), and the assay key (`name` in lower case without
#'   `.` and `_`, followed by `_`) must not be used by another part of the object.
#' @param ... Further engine settings passed to
#'   `spatialdiffusion.methods.spalstf.spalstf_arrays()` (e.g. `epochs`; see the engine's
#'   `SpaLSTFConfig`). Engine arguments that the arguments above set (such as `st_coords`) are
#'   refused, and so is `NA`.
#' @return `x` with `altExp(x, name)`, a SingleCellExperiment whose assay `"imputed"` holds the
#'   imputed genes x cells on the log-normalised scale `log1p(1e4 * count / library size of the
#'   observed genes)`, and `metadata(x)[[name]]` (parameters, seed, timings, versions); for
#'   Seurat a new assay `name` (imputed values in its data slot) and `Misc(x, name)`; for a matrix
#'   a list with `imputed` (genes x cells) and `metadata`.
#' @seealso [evaluateSpaLSTF()], [loadExampleOsmFISH()]
#' @examples
#' ex <- loadExampleOsmFISH()
#' if (pythonAvailable()) {
#'     ## small subsets and a tiny, briefly trained model, to run in seconds on a CPU
#'     st <- ex$spatial[setdiff(rownames(ex$spatial), c("Gad2", "Slc32a1")), 1:300]
#'     ref <- ex$reference[, seq(1, ncol(ex$reference), by = 10)]
#'     st <- runSpaLSTF(st, ref, genes = c("Gad2", "Slc32a1"), verbose = FALSE,
#'         epochs = 1L, hidden = 32L, depth = 1L, num_heads = 2L, lstm_hidden = 8L,
#'         sampler = "ddim", sampler_steps = 2L, augment = FALSE)
#'     SingleCellExperiment::altExp(st, "SpaLSTF")
#' }
#' @include AllGenerics.R
#' @name runSpaLSTF
#' @aliases runSpaLSTF,SingleCellExperiment,ANY-method runSpaLSTF,matrix,ANY-method
#'   runSpaLSTF,Matrix,ANY-method runSpaLSTF,ANY,ANY-method
NULL

#' @rdname runSpaLSTF
#' @export
setMethod("runSpaLSTF", c("SingleCellExperiment", "ANY"), function(x, reference, genes = NULL,
    assay = NULL, referenceAssay = NULL, coords = NULL, sampleId = "sample_id", preset = "auto",
    device = "auto", seed = 0L, checkpoint = NULL, name = "SpaLSTF",
    BPPARAM = BiocParallel::SerialParam(), verbose = TRUE, ...) {
    name <- .checkSCEResultName(x, name, "SpaLSTF", withDomains = FALSE)
    res <- .imputeSpaLSTF(x, reference, genes, assay, referenceAssay, coords, sampleId, preset,
        device, seed, checkpoint, BPPARAM, verbose, list(...))
    ## Build every piece first, then assign: a failure leaves `x` untouched.
    alt <- SingleCellExperiment::SingleCellExperiment(list(imputed = res$imputed))
    md <- S4Vectors::metadata(x)
    md[[name]] <- res$metadata
    altExp(x, name) <- alt
    S4Vectors::metadata(x) <- md
    x
})

#' @rdname runSpaLSTF
#' @export
setMethod("runSpaLSTF", c("matrix", "ANY"), function(x, reference, genes = NULL, assay = NULL,
    referenceAssay = NULL, coords = NULL, sampleId = "sample_id", preset = "auto",
    device = "auto", seed = 0L, checkpoint = NULL, name = "SpaLSTF",
    BPPARAM = BiocParallel::SerialParam(), verbose = TRUE, ...) {
    .checkString(name, "name")
    .imputeSpaLSTF(x, reference, genes, assay, referenceAssay, coords, sampleId, preset, device,
        seed, checkpoint, BPPARAM, verbose, list(...))
})

#' @rdname runSpaLSTF
#' @export
setMethod("runSpaLSTF", c("Matrix", "ANY"), getMethod("runSpaLSTF", c("matrix", "ANY")))

#' @rdname runSpaLSTF
#' @export
setMethod("runSpaLSTF", c("ANY", "ANY"), function(x, reference, genes = NULL, assay = NULL,
    referenceAssay = NULL, coords = NULL, sampleId = "sample_id", preset = "auto",
    device = "auto", seed = 0L, checkpoint = NULL, name = "SpaLSTF",
    BPPARAM = BiocParallel::SerialParam(), verbose = TRUE, ...) {
    if (methods::is(x, "SummarizedExperiment")) {
        stop("runSpaLSTF() stores its results as an altExp, which needs a SingleCellExperiment; ",
            "convert `x` first with as(x, \"SingleCellExperiment\").", call. = FALSE)
    }
    if (!.isSeurat(x)) .refuseSpatialInput(x)
    slots <- .seuratResultSlots(x, name, "SpaLSTF", withReduction = FALSE)
    res <- .imputeSpaLSTF(x, reference, genes, assay, referenceAssay, coords, sampleId, preset,
        device, seed, checkpoint, BPPARAM, verbose, list(...))
    x[[slots$assay]] <- .resultAssay(res$imputed, slots)
    SeuratObject::Misc(x, name) <- res$metadata
    x
})

## What every runSpaLSTF() method does before storing the results: read and check the inputs,
## run the engine per sample; returns the imputed genes x cells matrix and the metadata.
.imputeSpaLSTF <- function(x, reference, genes, assay, referenceAssay, coords, sampleId, preset,
    device, seed, checkpoint, BPPARAM, verbose, engineArgs) {
    st <- .spatialInput(x, assay, coords, sampleId, verbose)
    ref <- .referenceInput(reference, referenceAssay)
    genes <- .genesToImpute(st$counts, ref$counts, genes)
    .spalstfCore(st, ref, genes, preset, device, seed, checkpoint, verbose, BPPARAM, engineArgs)
}

## ---- adapters shared by runSpaLSTF() and evaluateSpaLSTF() --------------------------------

## The spatial data of runSpaLSTF() / evaluateSpaLSTF(): counts, optional coordinates, samples.
.spatialInput <- function(x, assay, coords, sampleId, verbose) {
    if (.isSeurat(x)) {
        .needSeurat()
        counts <- .countsSeurat(x, assay)
        crd <- .optionalCoords(function() .coordsSeurat(x, coords, verbose), verbose)
        samples <- .sampleIds(x[[]], sampleId, ncol(x))
    } else if (methods::is(x, "SummarizedExperiment")) {
        if (is.null(assay)) assay <- "counts"
        counts <- .countsSCE(x, assay)
        crd <- if (!methods::is(x, "SingleCellExperiment")) list(coords = NULL, source = "none") else
            .optionalCoords(function() .coordsSCE(x, coords, verbose), verbose)
        samples <- .sampleIds(SummarizedExperiment::colData(x), sampleId, ncol(x))
    } else if (is.matrix(x) || methods::is(x, "Matrix")) {
        input <- .matrixInput(x, coords, sampleId, unit = "cells", coordsRequired = FALSE)
        counts <- input$counts
        crd <- input$crd
        samples <- input$samples
    } else {
        .refuseSpatialInput(x)
    }
    .geneNames(counts)
    list(counts = counts, coords = crd$coords, coordSource = crd$source, samples = samples)
}

.refuseSpatialInput <- function(x) {
    stop("`x` must be a SpatialExperiment, SingleCellExperiment, Seurat object or a genes x ",
        "cells counts matrix; got an object of class ", class(x)[1], ".", call. = FALSE)
}

.optionalCoords <- function(f, verbose) {
    tryCatch(f(), error = function(e) {
        if (!grepl("^No spatial coordinates found", conditionMessage(e))) stop(e)
        .say(verbose, "No spatial coordinates found; SpaLSTF runs on expression only.")
        list(coords = NULL, source = "none")
    })
}

.referenceInput <- function(reference, referenceAssay) {
    if (.isSeurat(reference)) {
        counts <- .countsSeurat(reference, referenceAssay, "referenceAssay", "reference")
    } else if (methods::is(reference, "SummarizedExperiment")) {
        counts <- .countsSCE(reference, if (is.null(referenceAssay)) "counts" else referenceAssay,
            "referenceAssay", "reference")
    } else if (is.matrix(reference) || methods::is(reference, "Matrix")) {
        counts <- .checkCounts(reference, "The reference counts matrix",
            "Pass raw integer counts, genes in rows and cells in columns.")
    } else {
        stop("`reference` must be a SingleCellExperiment, Seurat object or a genes x cells ",
            "counts matrix; got an object of class ", class(reference)[1], ".", call. = FALSE)
    }
    .geneNames(counts, "reference")
    list(counts = counts)
}

.genesToImpute <- function(stCounts, refCounts, genes) {
    shared <- intersect(toupper(rownames(stCounts)), toupper(rownames(refCounts)))
    if (!length(shared)) {
        stop("`reference` shares no genes with `x`. Both must use the same gene identifiers ",
            "(e.g. both symbols or both Ensembl IDs); `x` has e.g. ",
            paste(utils::head(rownames(stCounts), 3), collapse = ", "), " and `reference` has ",
            "e.g. ", paste(utils::head(rownames(refCounts), 3), collapse = ", "), ".",
            call. = FALSE)
    }
    if (is.null(genes)) {
        if (all(toupper(rownames(refCounts)) %in% toupper(rownames(stCounts)))) {
            stop("Every reference gene is already measured in `x`; pass `genes =` the genes to ",
                "impute, or use evaluateSpaLSTF() to score imputation of measured genes.",
                call. = FALSE)
        }
        return(NULL)
    }
    if (!is.character(genes) || !length(genes) || anyNA(genes)) {
        stop("`genes` must be NULL or a character vector of reference genes.", call. = FALSE)
    }
    missingGenes <- genes[!toupper(genes) %in% toupper(rownames(refCounts))]
    if (length(missingGenes)) {
        stop("`genes` must be genes of `reference`; not found: ",
            paste(utils::head(missingGenes, 10), collapse = ", "),
            if (length(missingGenes) > 10) ", ...", ".", call. = FALSE)
    }
    twice <- duplicated(toupper(genes))
    if (any(twice)) {
        stop("`genes` names some genes more than once (genes are matched ignoring case): ",
            paste(unique(genes[toupper(genes) %in% toupper(genes[twice])]), collapse = ", "), ".",
            call. = FALSE)
    }
    genes
}

## Engine arguments that runSpaLSTF() and evaluateSpaLSTF() set themselves, with the R argument
## that sets each (these are refused in `...`).
.SPALSTF_DATA_ARGS <- c(st_counts = "x", st_genes = "x", ref_counts = "reference",
    ref_genes = "reference", st_coords = "coords", preset = "preset", device = "device",
    seed = "seed", verbose = "verbose")
.SPALSTF_ARGS <- c(.SPALSTF_DATA_ARGS, genes = "genes", checkpoint = "checkpoint")
.EVALUATE_SPALSTF_ARGS <- c(.SPALSTF_DATA_ARGS, n_folds = "folds")

## Engine arguments describing the cells `idx` of the spatial data and the whole reference.
.spalstfDataArgs <- function(st, idx, ref, refMatrix) {
    list(st_counts = .cellsAsRows(st$counts[, idx, drop = FALSE]),
        st_genes = as.list(rownames(st$counts)), ref_counts = refMatrix,
        ref_genes = as.list(rownames(ref$counts)),
        st_coords = if (!is.null(st$coords)) unname(st$coords[idx, , drop = FALSE]))
}

## Run the SpaLSTF engine function `fun` on each sample of `st` against the whole reference.
## `extra` holds the call-specific engine arguments, `describe(nCells)` the progress message and
## `convert(res)` the call-specific part of the result; the sample's cell indices (`cells`),
## parameters, timings and versions are always kept. Returns one result per sample, named by sample.
.spalstfPerSample <- function(st, ref, fun, settings, BPPARAM, extra, describe, convert) {
    groups <- .sampleGroups(ncol(st$counts), st$samples)
    .checkBPPARAM(BPPARAM, length(groups))
    .checkEngine()
    .adviseBLAS(settings$verbose)
    refMatrix <- .cellsAsRows(ref$counts)
    runs <- .runGroups(names(groups), function(s) {
        idx <- groups[[s]]
        .say(settings$verbose, "SpaLSTF", if (length(groups) > 1L) paste0(" [", s, "]"), ": ",
            describe(length(idx)), " (preset = \"", settings$preset, "\", device = \"",
            settings$device, "\", seed = ", settings$seed, ")...")
        res <- .callEngine("spalstf", fun, c(.spalstfDataArgs(st, idx, ref, refMatrix), extra,
            settings))
        c(convert(res), list(cells = idx, params = .asList(res[["params"]]),
            timings = .asList(res[["timings"]]), versions = .asList(res[["versions"]])))
    }, BPPARAM = BPPARAM)
    names(runs) <- names(groups)
    runs
}

.spalstfCore <- function(st, ref, genes, preset, device, seed, checkpoint, verbose, BPPARAM,
    engineArgs) {
    settings <- .checkRunSettings(preset, device, seed, verbose)
    if (!is.null(checkpoint)) checkpoint <- .checkString(checkpoint, "checkpoint")
    engineArgs <- .engineOverrides(engineArgs, .SPALSTF_ARGS)
    start <- proc.time()[["elapsed"]]
    what <- if (is.null(genes)) "the reference's variable genes missing from `x`" else
        paste(length(genes), "genes")
    runs <- .spalstfPerSample(st, ref, "spalstf_arrays", settings, BPPARAM,
        extra = c(list(genes = if (!is.null(genes)) as.list(genes), checkpoint = checkpoint),
            engineArgs),
        describe = function(n) paste0("imputing ", what, " for ", n, " cells from a reference of ",
            ncol(ref$counts), " cells"),
        convert = function(res) list(imputed = .asMatrix(res[["imputed"]]),
            genes = as.character(.asList(res[["genes"]]))))
    outGenes <- runs[[1]]$genes
    imputed <- matrix(NA_real_, length(outGenes), ncol(st$counts),
        dimnames = list(outGenes, colnames(st$counts)))
    for (run in runs) imputed[, run$cells] <- t(run$imputed[, match(outGenes, run$genes),
        drop = FALSE])
    meta <- list(method = "SpaLSTF", genes = outGenes, seed = settings$seed,
        preset = settings$preset, device = settings$device, coordinates = st$coordSource,
        nReferenceCells = ncol(ref$counts),
        sharedGenes = length(intersect(toupper(rownames(st$counts)), toupper(rownames(ref$counts)))),
        engineArgs = engineArgs, params = runs[[1]]$params, timings = runs[[1]]$timings,
        versions = c(runs[[1]]$versions, .versionsR()))
    if (length(runs) > 1L) meta$samples <- lapply(runs, `[`, c("params", "timings"))
    meta$timings$total <- proc.time()[["elapsed"]] - start
    list(imputed = imputed, metadata = meta)
}
