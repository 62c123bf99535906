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
#' @param genes Genes to impute (must be in the reference; matched ignoring case, so the gene
#'   names of `x` and of `reference` must each be unique ignoring case). Default: the
#'   reference's highly variable genes (up to 2000) that `x` lacks.
#' @param assay Raw counts of `x` (assay name; for Seurat the Seurat assay, default the default
#'   assay).
#' @param referenceAssay Raw counts of `reference`, as `assay`.
#' @param coords Optional spatial coordinates of `x`, as in [runDiffusionST()]; when none are
#'   found the engine runs without them.
#' @param sampleId Column of sample labels of `x` (for a matrix: one label per cell, or `NULL`);
#'   several samples are imputed one by one.
#' @param preset,device,seed,BPPARAM,verbose As in [runDiffusionST()].
#' @param checkpoint Optional path of a trained engine checkpoint: reused if the file exists (no
#'   training; the model keeps the settings it was trained with, and only sampling settings given in
#'   `...`, such as `n_samples` or `sample_jitter`, apply), written after training otherwise.
#' @param validationFraction Share of the reference cells (at most 2000) left out of training, on
#'   which every imputed gene is scored: a number in `[0, 0.5]`; 0 trains on every cell and
#'   scores nothing, as does a reference too small to give 30 held-out and 30 training cells.
#' @param referenceBlend `"auto"`, `"none"` (the method) or `"validated"`. `"validated"`: each
#'   imputed gene becomes `w * model + (1 - w) * mean of the 50 nearest reference cells`, with `w`
#'   in `0, 0.1, ..., 1` chosen per gene on the held-out reference cells. `"auto"`: `"validated"`
#'   when the held-out cells can stand for the spatial cells, that is when the spatial cells lie at
#'   most 1.5 times as far from their nearest reference cells as the held-out reference cells do
#'   (about 1 for data from the reference's own platform, far above for smFISH against
#'   scRNA-seq), else `"none"`. The metadata's `params` record the ratio
#'   (`reference_distance_ratio`) and whether the blend was applied (`blended`).
#' @param name Name under which the results are stored. Results replace only those of an earlier
#'   SpaLSTF run of that name (its metadata says so), never other data: a name taken by anything
#'   else stops the run before any work. For Seurat, `name` must be kept as it is by Seurat (a
#'   letter, then letters, digits, `.` or `_`), and the assay key (`name` in lower case without
#'   `.` and `_`, followed by `_`) must not be used by another part of the object.
#' @param ... Further engine settings passed to
#'   `spatialdiffusion.spalstf_arrays()` (e.g. `epochs`; see the engine's
#'   `SpaLSTFConfig`). Engine arguments that the arguments above set (such as `st_coords`) are
#'   refused, and so is `NA`.
#'   The object methods pass the matrix method's arguments (all but `x`, `reference`,
#'   `coords`, `sampleId`, `name` and `verbose`, which they take themselves) through `...` too.
#' @return `x` with `altExp(x, name)`, a SingleCellExperiment whose assay `"imputed"` holds the
#'   imputed genes x cells on the log-normalised scale `log1p(1e4 * count / library size of the
#'   observed genes)`, and `metadata(x)[[name]]` (parameters, seed, timings, versions); for
#'   Seurat a new assay `name` (imputed values in its data slot) and `Misc(x, name)`; for a matrix
#'   a list with `imputed` (genes x cells) and `metadata`.
#'
#'   With held-out reference cells, the metadata's `validation` is a data frame, one row per
#'   imputed gene: `validationSPCC` (Spearman correlation of the imputation with the measured
#'   values on the held-out reference cells: trust genes with low values less),
#'   `neighbourValidationSPCC` (the same for the mean of the 50 nearest reference cells) and
#'   `modelWeight`. For one sample these columns are also the `rowData` of the altExp; for several,
#'   each sample's table is in the metadata's `samples`. The scores see the model's error on the
#'   reference's own platform, not the shift between the reference and the spatial assay.
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
#' @aliases runSpaLSTF,ANY-method runSpaLSTF,SingleCellExperiment-method
#'   runSpaLSTF,Seurat-method
NULL

## The core: genes x cells counts of the spatial data (dense, sparse, DelayedArray), optional
## coordinates, and the reference. It is the "ANY" method; the object methods call it.
.runSpaLSTFCore <- function(x, reference, genes = NULL, referenceAssay = NULL, coords = NULL,
    sampleId = NULL, preset = "auto", device = "auto", seed = 0L, checkpoint = NULL,
    validationFraction = 0.1, referenceBlend = "auto", name = "SpaLSTF",
    BPPARAM = BiocParallel::SerialParam(), verbose = TRUE, ...) {
    st <- .spatialInput(x, coords, sampleId)
    ref <- .referenceCounts(reference, referenceAssay)
    genes <- .genesToImpute(st$counts, ref, genes)
    .checkString(name, "name")
    .assert(checkmate::check_number(validationFraction, lower = 0, upper = 0.5), "validationFraction",
        "a number in [0, 0.5] (0 turns the validation off)")
    .assert(checkmate::check_choice(referenceBlend, c("auto", "none", "validated")), "referenceBlend",
        "\"auto\", \"none\" or \"validated\"")
    settings <- .checkRunSettings(preset, device, seed, verbose)
    if (!is.null(checkpoint)) checkpoint <- .checkString(checkpoint, "checkpoint")
    engineArgs <- .engineOverrides(list(...), .SPALSTF_ARGS)
    start <- proc.time()[["elapsed"]]
    what <- if (is.null(genes)) "the reference's variable genes missing from `x`" else
        paste(length(genes), "genes")
    runs <- .spalstfPerSample(st, ref, "spalstf_arrays", settings, BPPARAM,
        extra = c(list(genes = if (!is.null(genes)) as.list(genes), checkpoint = checkpoint,
            validation_fraction = validationFraction, reference_blend = referenceBlend), engineArgs),
        describe = function(n) paste0("imputing ", what, " for ", n, " cells from a reference of ",
            ncol(ref), " cells"),
        convert = .imputation)
    outGenes <- runs[[1]]$genes
    imputed <- matrix(NA_real_, length(outGenes), ncol(st$counts),
        dimnames = list(outGenes, colnames(st$counts)))
    for (run in runs) {
        imputed[, run$cells] <- t(run$imputed[, match(outGenes, run$genes), drop = FALSE])
    }
    meta <- list(method = "SpaLSTF", genes = outGenes, seed = settings$seed,
        preset = settings$preset, device = settings$device, coordinates = st$coordSource,
        nReferenceCells = ncol(ref),
        sharedGenes = length(intersect(toupper(rownames(st$counts)), toupper(rownames(ref)))),
        engineArgs = engineArgs, params = runs[[1]]$params, timings = runs[[1]]$timings,
        versions = c(runs[[1]]$versions, .versionsR()))
    if (length(runs) > 1L) {
        meta$samples <- lapply(runs, `[`, c("params", "timings", "validation"))
    } else {
        meta$validation <- runs[[1]]$validation
    }
    meta$timings$total <- proc.time()[["elapsed"]] - start
    list(imputed = imputed, metadata = meta)
}

#' @rdname runSpaLSTF
#' @export
setMethod("runSpaLSTF", "ANY", .runSpaLSTFCore)

#' @rdname runSpaLSTF
#' @export
setMethod("runSpaLSTF", "SingleCellExperiment", function(x, reference, ..., assay = "counts",
    coords = NULL, sampleId = "sample_id", name = "SpaLSTF", verbose = TRUE) {
    name <- .checkSCEResultName(x, name, "SpaLSTF", withDomains = FALSE)
    res <- .runSpaLSTFCore(.countsSCE(x, assay), reference, ...,
        coords = .coordsSCE(x, coords, verbose, required = FALSE),
        sampleId = .sampleIds(SummarizedExperiment::colData(x), sampleId, ncol(x)), name = name,
        verbose = verbose)
    ## Build every piece first, then assign: a failure leaves `x` untouched.
    alt <- SingleCellExperiment::SingleCellExperiment(list(imputed = res$imputed))
    if (!is.null(res$metadata$validation)) {
        SummarizedExperiment::rowData(alt) <- S4Vectors::DataFrame(res$metadata$validation[
            rownames(res$imputed), -1L, drop = FALSE])
    }
    md <- S4Vectors::metadata(x)
    md[[name]] <- res$metadata
    altExp(x, name) <- alt
    S4Vectors::metadata(x) <- md
    x
})

## The Seurat method (registered by .registerSeuratMethods() once SeuratObject is loaded).
.runSpaLSTFSeurat <- function(x, reference, ..., assay = NULL, coords = NULL,
    sampleId = "sample_id", name = "SpaLSTF", verbose = TRUE) {
    slots <- .seuratResultSlots(x, name, "SpaLSTF", withReduction = FALSE)
    res <- .runSpaLSTFCore(.countsSeurat(x, assay), reference, ...,
        coords = .coordsSeurat(x, coords, verbose, required = FALSE),
        sampleId = .sampleIds(x[[]], sampleId, ncol(x)), name = name, verbose = verbose)
    x[[slots$assay]] <- .resultAssay(res$imputed, slots)
    SeuratObject::Misc(x, name) <- res$metadata
    x
}

## ---- shared by runSpaLSTF() and evaluateSpaLSTF() -------------------------------------------

## The imputation in an engine result.
.imputation <- function(res) {
    list(imputed = .asMatrix(res[["imputed"]]), genes = as.character(.asList(res[["genes"]])),
        validation = .validationTable(res[["validation"]]))
}

## The spatial data of a core: checked counts, optional coordinates (NULL, or a matrix carrying
## its "source"), sample labels.
.spatialInput <- function(x, coords, sampleId) {
    .checkMatrixLike(x, "cells")
    counts <- .checkCounts(x, "The counts matrix `x`",
        "Pass raw integer counts, genes in rows and cells in columns.")
    .geneNames(counts, ignoreCase = TRUE)
    source <- "none"
    if (!is.null(coords)) {
        if (!is.matrix(coords) && !is.data.frame(coords)) {
            .abort("For a counts matrix, {.arg coords} must be an N x 2 numeric matrix of cell
                coordinates (one row per column of {.arg x}) or NULL.")
        }
        source <- attr(coords, "source")
        if (is.null(source)) source <- "the `coords` argument"
        coords <- .checkCoordMatrix(coords, ncol(counts), source, colnames(counts))
    }
    list(counts = counts, coords = coords, coordSource = source,
        samples = .sampleLabels(sampleId, ncol(counts)))
}

## Raw counts of the reference: a SingleCellExperiment, Seurat object or genes x cells matrix.
.referenceCounts <- function(reference, referenceAssay) {
    counts <- if (.isSeurat(reference)) {
        .countsSeurat(reference, referenceAssay, "referenceAssay", "reference")
    } else if (methods::is(reference, "SummarizedExperiment")) {
        .countsSCE(reference, if (is.null(referenceAssay)) "counts" else referenceAssay,
            "referenceAssay", "reference")
    } else if (length(dim(reference)) == 2L && !is.data.frame(reference)) {
        .checkCounts(reference, "The reference counts matrix",
            "Pass raw integer counts, genes in rows and cells in columns.")
    } else {
        .abort("{.arg reference} must be a SingleCellExperiment, Seurat object or a genes x cells
            counts matrix; got an object of class {.cls {class(reference)[1]}}.")
    }
    .geneNames(counts, "reference", ignoreCase = TRUE)
    counts
}

## The genes to impute, checked against the reference `refCounts` (NULL: the engine's default).
.genesToImpute <- function(stCounts, refCounts, genes) {
    shared <- intersect(toupper(rownames(stCounts)), toupper(rownames(refCounts)))
    if (!length(shared)) {
        .abort("{.arg reference} shares no genes with {.arg x}. Both must use the same gene
            identifiers (e.g. both symbols or both Ensembl IDs); {.arg x} has e.g.
            {paste(utils::head(rownames(stCounts), 3), collapse = ', ')} and {.arg reference} has
            e.g. {paste(utils::head(rownames(refCounts), 3), collapse = ', ')}.")
    }
    if (is.null(genes)) {
        if (all(toupper(rownames(refCounts)) %in% toupper(rownames(stCounts)))) {
            .abort("Every reference gene is already measured in {.arg x}; pass {.arg genes} = the
                genes to impute, or use evaluateSpaLSTF() to score imputation of measured genes.")
        }
        return(NULL)
    }
    .assert(checkmate::check_character(genes, min.len = 1L, any.missing = FALSE), "genes",
        "NULL or a character vector of reference genes")
    absent <- genes[!toupper(genes) %in% toupper(rownames(refCounts))]
    if (length(absent)) {
        .abort("{.arg genes} must be genes of {.arg reference}; not found:
            {paste(utils::head(absent, 10), collapse = ', ')}{if (length(absent) > 10) ', ...'}.")
    }
    twice <- duplicated(toupper(genes))
    if (any(twice)) {
        .abort("{.arg genes} names some genes more than once (genes are matched ignoring case):
            {paste(unique(genes[toupper(genes) %in% toupper(genes[twice])]), collapse = ', ')}.")
    }
    genes
}

## Engine arguments that runSpaLSTF() and evaluateSpaLSTF() set themselves, with the R argument
## that sets each (these are refused in `...`).
.SPALSTF_DATA_ARGS <- c(st_counts = "x", st_genes = "x", ref_counts = "reference",
    ref_genes = "reference", st_coords = "coords", preset = "preset", device = "device",
    seed = "seed", verbose = "verbose")
.SPALSTF_ARGS <- c(.SPALSTF_DATA_ARGS, genes = "genes", checkpoint = "checkpoint",
    validation_fraction = "validationFraction", reference_blend = "referenceBlend")

## The engine's per-gene validation (a dict of equal-length lists, or None) as a data frame with
## R-style column names, one row per imputed gene; NULL without validation.
.validationTable <- function(v) {
    if (is.null(v)) return(NULL)
    v <- .asList(v)
    num <- function(key) vapply(.asList(v[[key]]), function(e) if (is.null(e)) NA_real_ else
        as.numeric(e), 0)
    data.frame(gene = as.character(.asList(v[["gene"]])),
        validationSPCC = num("validation_spcc"), neighbourValidationSPCC =
        num("neighbour_validation_spcc"), modelWeight = num("model_weight"),
        row.names = as.character(.asList(v[["gene"]])))
}
.EVALUATE_SPALSTF_ARGS <- c(.SPALSTF_DATA_ARGS, n_folds = "folds")

## Run the SpaLSTF engine function `fun` on each sample of `st` against the whole reference.
## `extra` holds the call-specific engine arguments, `describe(nCells)` the progress message and
## `convert(res)` (a function of the package, run where the sample runs) the call-specific part of
## the result; the sample's cell indices (`cells`), parameters, timings and versions are always
## kept. Returns one result per sample, named by sample.
.spalstfPerSample <- function(st, ref, fun, settings, BPPARAM, extra, describe, convert) {
    groups <- .sampleGroups(ncol(st$counts), st$samples)
    .checkBPPARAM(BPPARAM, length(groups))
    .checkEngine()
    .adviseBLAS(settings$verbose)
    parts <- lapply(.sampleParts(groups, st$counts, st$coords),
        function(part) c(part, list(what = describe(length(part$cells)))))
    shared <- c(list(st_genes = as.list(rownames(st$counts)), ref_counts = .countsForEngine(ref),
        ref_genes = as.list(rownames(ref))), extra, settings)
    runs <- .runGroups(parts, .spalstfPart, BPPARAM, fun = fun, shared = shared,
        convert = convert)
    names(runs) <- names(groups)
    runs
}

## One sample's part (.sampleParts(), with the progress message `what`) for .runGroups(): the
## engine function `fun` on its cells, with the engine arguments every sample shares (`shared`).
.spalstfPart <- function(part, fun, shared, convert) {
    label <- if (is.null(part$sample)) "SpaLSTF" else paste0("SpaLSTF [", part$sample, "]")
    .say(shared$verbose, "{label}: {part$what} (preset = \"{shared$preset}\", device =
        \"{shared$device}\", seed = {shared$seed})...")
    res <- .callEngine("engine", fun, c(list(st_counts = .countsForEngine(part$counts),
        st_coords = if (!is.null(part$coords)) unname(part$coords)), shared))
    c(convert(res), list(cells = part$cells, params = .asList(res[["params"]]),
        timings = .asList(res[["timings"]]), versions = .asList(res[["versions"]])))
}
