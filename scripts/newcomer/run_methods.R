## A new user's first R session after installSpatialDiffusion(), run by scripts/newcomer_check.sh in
## a temporary folder outside the repository. The package must find the engine by itself, run both
## methods on the shipped examples, and return the results inside the user's objects.
## Usage: Rscript run_methods.R <the virtualenv that installSpatialDiffusion() created>
envDir <- normalizePath(commandArgs(trailingOnly = TRUE)[[1]])
check <- function(ok, what) {
    if (!isTRUE(ok)) stop("newcomer check failed: ", what, call. = FALSE)
    cat("  ok:", what, "\n")
}

library(SpatialDiffusion)
found <- spatialDiffusionPython()
check(grepl("installed by installSpatialDiffusion", found$source, fixed = TRUE),
    paste0("the engine is found through the recorded install (", found$source, ")"))
check(startsWith(file.path(normalizePath(dirname(found$python)), basename(found$python)), envDir),
    "the interpreter is the new virtualenv's")
check(isTRUE(pythonAvailable()), "the engine loads and has the package's version")

## DiffusionST on the whole shipped DLPFC slice, with small settings (a minute on 2 cores)
sce <- loadExampleDLPFC()
before <- sce
sce <- runDiffusionST(sce, nClusters = 7, seed = 0, librarySize = "sum_umi", verbose = FALSE,
    gcn_epochs = 10L, train_epochs = 1L, sampling_steps = 1L, n_candidates = 2L, n_keep = 1L)
domains <- sce$DiffusionST_domain
check(is.factor(domains) && !anyNA(domains) && nlevels(domains) == 7L,
    "colData(sce)$DiffusionST_domain holds 7 domains for every spot")
check(identical(dim(SingleCellExperiment::reducedDim(sce, "DiffusionST")), c(ncol(sce), 10L)),
    "reducedDim(sce, 'DiffusionST') is spots x 10")
enhanced <- SummarizedExperiment::assay(SingleCellExperiment::altExp(sce, "DiffusionST"), "enhanced")
check(ncol(enhanced) == ncol(sce) && all(is.finite(enhanced)),
    "altExp(sce, 'DiffusionST') holds the enhanced genes")
md <- S4Vectors::metadata(sce)$DiffusionST
check(isTRUE(md$seed == 0) && !is.null(md$versions), "metadata(sce)$DiffusionST records seed and versions")
inputColumns <- names(SummarizedExperiment::colData(before))
check(identical(SummarizedExperiment::colData(before), SummarizedExperiment::colData(sce)[, inputColumns]),
    "the input's colData columns are unchanged")
ari <- domainMetrics(sce, truth = "layer_guess_reordered", pred = "DiffusionST_domain")[["ARI"]]
cat("  DiffusionST ARI against the manual layers (small settings):", round(ari, 3), "\n")
check(ari > 0.5, "the domains follow the cortical layers (ARI > 0.5; 0.62 on our machines)")

## SpaLSTF: impute two genes the spatial data do not hold, from the shipped reference
ex <- loadExampleOsmFISH()
hidden <- c("Gad2", "Slc32a1")
spatial <- ex$spatial[setdiff(rownames(ex$spatial), hidden), ]
spatial <- runSpaLSTF(spatial, ex$reference, genes = hidden, seed = 0, verbose = FALSE,
    epochs = 2L, n_models = 1L, n_samples = 2L)
imputed <- SummarizedExperiment::assay(SingleCellExperiment::altExp(spatial, "SpaLSTF"), "imputed")
check(identical(rownames(imputed), hidden) && ncol(imputed) == ncol(spatial) &&
    all(is.finite(imputed)),
    "altExp(spatial, 'SpaLSTF') holds the two imputed genes for every cell")
check(identical(S4Vectors::metadata(spatial)$SpaLSTF$genes, hidden),
    "metadata(spatial)$SpaLSTF records the genes")
cat("newcomer R session: all checks passed\n")
