#' Cross-validated evaluation of SpaLSTF
#'
#' The published SpaLSTF/stDiff protocol on genes measured in both data sets: the shared genes
#' are split into `folds` folds; each fold is hidden from the spatial data, imputed from the
#' reference and the remaining genes, and compared with the measured values. Per gene: Spearman
#' correlation (SPCC), structural similarity (SSIM), RMSE and Jensen-Shannon divergence (JS); the
#' summary adds clustering agreement (ARI, AMI, NMI, homogeneity) between clusters of the
#' imputed and of the measured data.
#'
#' @inheritParams runSpaLSTF
#' @param folds Number of cross-validation folds (at least 2).
#' @param ... Further engine settings passed to
#'   `spatialdiffusion.evaluate_spalstf_arrays()` (e.g. `epochs`; see the engine's
#'   `SpaLSTFConfig`). Engine arguments that the arguments above set (such as `n_folds`) are
#'   refused, and so is `NA`.
#' @return A [S4Vectors::DataFrame] with one row per gene (`gene`, `fold` numbered from 1, `spcc`,
#'   `ssim`, `rmse`, `js`; plus `sample` for several samples). Its `metadata()` holds `summary`
#'   (a named numeric vector: the medians `spcc`, `ssim`, `rmse`, `js` over genes and the
#'   clustering scores `ari`, `ami`, `nmi`, `homo`; a list of them, one per sample, for several
#'   samples), `params`, `timings` and `versions`.
#' @seealso [runSpaLSTF()]
#' @examples
#' ex <- loadExampleOsmFISH()
#' if (pythonAvailable()) {
#'     ## small subsets and a tiny, briefly trained model, to run in seconds on a CPU
#'     ref <- ex$reference[, seq(1, ncol(ex$reference), by = 10)]
#'     res <- evaluateSpaLSTF(ex$spatial[, 1:300], ref, folds = 2, verbose = FALSE,
#'         epochs = 1L, hidden = 32L, depth = 1L, num_heads = 2L, lstm_hidden = 8L,
#'         sampler = "ddim", sampler_steps = 2L, augment = FALSE)
#'     head(res)
#'     S4Vectors::metadata(res)$summary
#' }
#' @include AllGenerics.R
#' @name evaluateSpaLSTF
#' @aliases evaluateSpaLSTF,ANY-method evaluateSpaLSTF,SummarizedExperiment-method
#'   evaluateSpaLSTF,Seurat-method
NULL

## The core on genes x cells counts (the "ANY" method; the object methods call it).
.evaluateSpaLSTFCore <- function(x, reference, folds = 5, referenceAssay = NULL, coords = NULL,
    sampleId = NULL, preset = "auto", device = "auto", seed = 0L,
    BPPARAM = BiocParallel::SerialParam(), verbose = TRUE, ...) {
    st <- .spatialInput(x, coords, sampleId)
    ref <- .referenceCounts(reference, referenceAssay)
    shared <- rownames(st$counts)[toupper(rownames(st$counts)) %in% toupper(rownames(ref))]
    .genesToImpute(st$counts, ref, shared)  # errors when no gene is shared
    folds <- .checkWhole(folds, "folds", 2, max(2, length(shared)),
        paste0(" (at most the ", length(shared), " genes shared by `x` and `reference`)"))
    settings <- .checkRunSettings(preset, device, seed, verbose)
    engineArgs <- .engineOverrides(list(...), .EVALUATE_SPALSTF_ARGS)
    start <- proc.time()[["elapsed"]]
    runs <- .spalstfPerSample(st, ref, "evaluate_spalstf_arrays", settings, BPPARAM,
        extra = c(list(n_folds = folds), engineArgs),
        describe = function(n) paste0(folds, "-fold cross-validation over ", length(shared),
            " shared genes, ", n, " cells"),
        convert = .evaluation)
    if (length(runs) > 1L) {
        out <- do.call(rbind, lapply(names(runs), function(s) {
            d <- runs[[s]]$perGene
            d$sample <- rep(s, nrow(d))
            d
        }))
        summary <- lapply(runs, `[[`, "summary")
    } else {
        out <- runs[[1]]$perGene
        summary <- runs[[1]]$summary
    }
    S4Vectors::metadata(out) <- list(summary = summary, folds = folds, seed = settings$seed,
        preset = settings$preset, device = settings$device, sharedGenes = shared,
        params = runs[[1]]$params,
        timings = c(runs[[1]]$timings, list(total = proc.time()[["elapsed"]] - start)),
        versions = c(runs[[1]]$versions, .versionsR()))
    out
}

## The per-gene scores and their summary in an engine result.
.evaluation <- function(res) {
    list(perGene = .perGeneTable(res[["per_gene"]]), summary = unlist(.asList(res[["summary"]])))
}

#' @rdname evaluateSpaLSTF
#' @export
setMethod("evaluateSpaLSTF", "ANY", .evaluateSpaLSTFCore)

#' @rdname evaluateSpaLSTF
#' @export
setMethod("evaluateSpaLSTF", "SummarizedExperiment", function(x, reference, ..., assay = "counts",
    coords = NULL, sampleId = "sample_id", verbose = TRUE) {
    crd <- if (methods::is(x, "SingleCellExperiment")) .coordsSCE(x, coords, verbose,
        required = FALSE)
    .evaluateSpaLSTFCore(.countsSCE(x, assay), reference, ..., coords = crd,
        sampleId = .sampleIds(SummarizedExperiment::colData(x), sampleId, ncol(x)),
        verbose = verbose)
})

## The Seurat method (registered by .registerSeuratMethods() once SeuratObject is loaded).
.evaluateSpaLSTFSeurat <- function(x, reference, ..., assay = NULL, coords = NULL,
    sampleId = "sample_id", verbose = TRUE) {
    .evaluateSpaLSTFCore(.countsSeurat(x, assay), reference, ...,
        coords = .coordsSeurat(x, coords, verbose, required = FALSE),
        sampleId = .sampleIds(x[[]], sampleId, ncol(x)), verbose = verbose)
}

## The engine's per-gene scores as a DataFrame, folds numbered from 1 as R counts.
.perGeneTable <- function(perGene) {
    out <- S4Vectors::DataFrame(lapply(.asList(perGene), unlist))
    out$fold <- as.integer(out$fold) + 1L
    out
}
