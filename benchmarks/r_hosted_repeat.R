## Does the R-hosted DiffusionST engine give the same bits when run again in the same R process?
##
## Runs runDiffusionST() on the 600-spot window of the shipped DLPFC slice that the R tests use (GCN only,
## the tests' tiny settings, seed 7), then RUNS more times. Prints the first run's first embedding entry and
## last embedding row, and the largest absolute difference of each later run's embedding and enhanced matrix
## from the first.
##
## Usage (from the repository root, after `make setup`; RUNS defaults to 4):
##   SPATIALDIFFUSION_PYTHON=.venv/bin/python OMP_NUM_THREADS=2 Rscript benchmarks/r_hosted_repeat.R [RUNS]
suppressMessages(library(SpatialDiffusion))
runs <- as.integer(commandArgs(trailingOnly = TRUE)[1])
if (is.na(runs)) runs <- 4L
source("tests/testthat/helper-SpatialDiffusion.R")  # smallDLPFC() and tinyDST, as the tests use them
sce <- smallDLPFC()
runOnce <- function(verbose) {
    out <- do.call(runDiffusionST, c(list(sce, nClusters = 4, seed = 7L, verbose = verbose), tinyDST))
    list(embedding = SingleCellExperiment::reducedDim(out, "DiffusionST"),
        enhanced = SummarizedExperiment::assay(SingleCellExperiment::altExp(out, "DiffusionST")))
}
first <- suppressMessages(runOnce(TRUE))
diffs <- vapply(seq_len(runs), function(i) {
    again <- runOnce(FALSE)
    c(embedding = max(abs(again$embedding - first$embedding)), enhanced = max(abs(again$enhanced - first$enhanced)))
}, numeric(2))
cat("first run, embedding[1, 1]:", format(first$embedding[1, 1], digits = 10), "\n")
## a failing testthat comparison prints the last rows, so this row identifies a failing run's bits
cat("first run, last embedding row:", format(first$embedding[nrow(first$embedding), ], digits = 10), "\n")
cat("largest difference from the first run, per later run:\n")
print(diffs)
