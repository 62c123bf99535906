## Counts held as a DelayedArray (e.g. an HDF5Array on disk) are read one block of columns at a
## time and never made dense whole. A seed that refuses to hand out more than a few columns per
## read shows it: any step that realised the whole matrix would stop with the seed's error.

guardEnv <- new.env()
methods::setClass("GuardedCountsSeed", slots = c(counts = "dgCMatrix", maxCols = "integer"),
    where = guardEnv)
methods::setMethod("dim", "GuardedCountsSeed", function(x) dim(x@counts), where = guardEnv)
methods::setMethod("dimnames", "GuardedCountsSeed", function(x) dimnames(x@counts),
    where = guardEnv)
methods::setMethod(DelayedArray::extract_array, "GuardedCountsSeed", function(x, index) {
    asked <- if (is.null(index[[2L]])) ncol(x@counts) else length(index[[2L]])
    if (asked > x@maxCols) {
        stop("guarded counts: ", asked, " columns asked for at once, at most ", x@maxCols)
    }
    DelayedArray::extract_array(x@counts, index)
}, where = guardEnv)

## `counts` as a DelayedArray whose reads may span at most `maxCols` columns.
guardedCounts <- function(counts, maxCols) {
    DelayedArray::DelayedArray(methods::new("GuardedCountsSeed", counts = counts,
        maxCols = as.integer(maxCols)))
}

## DelayedArray's automatic blocks of `nCols` columns of `counts` (doubles), for this test.
localBlockColumns <- function(counts, nCols, envir = parent.frame()) {
    old <- DelayedArray::getAutoBlockSize()
    suppressMessages(DelayedArray::setAutoBlockSize(8 * nrow(counts) * nCols))
    withr::defer(suppressMessages(DelayedArray::setAutoBlockSize(old)), envir = envir)
}

test_that("DelayedArray counts are read in blocks of columns into a sparse matrix", {
    sce <- smallDLPFC()
    m <- SummarizedExperiment::assay(sce, "counts")
    crd <- cbind(sce$array_row, sce$array_col)
    guarded <- guardedCounts(m, 40)
    expect_error(as.matrix(guarded), "600 columns asked for at once, at most 40")
    localBlockColumns(m, 30)
    check <- function(x) SpatialDiffusion:::.checkCounts(x, "The counts", "Pass counts.")
    expect_identical(check(guarded), m)
    ## on disk, dense and sparse layouts; integer storage
    for (asSparse in c(FALSE, TRUE)) {
        h5 <- HDF5Array::writeHDF5Array(m, filepath = withr::local_tempfile(fileext = ".h5"),
            name = "counts", with.dimnames = TRUE, as.sparse = asSparse)
        expect_s4_class(h5, "HDF5Matrix")
        expect_identical(DelayedArray::is_sparse(h5), asSparse)
        expect_identical(check(h5), m)
    }
    dense <- as.matrix(m)
    storage.mode(dense) <- "integer"
    expect_identical(check(DelayedArray::DelayedArray(dense)), m)
    ## the counts checks see every block
    bad <- m
    bad[3, 590] <- 0.5
    expect_error(runDiffusionST(guardedCounts(bad, 40), 4, coords = crd),
        "The counts matrix `x` does not hold raw counts .*: it contains 0.5")
    expect_error(runDiffusionST(DelayedArray::DelayedArray(dense > 0), 4, coords = crd),
        "The counts matrix `x` is a DelayedArray of type logical, not numeric counts")
})

test_that("runDiffusionST and runSpaLSTF give the in-memory results on DelayedArray counts", {
    skipIfNoPython()
    sce <- smallDLPFC()
    m <- SummarizedExperiment::assay(sce, "counts")
    localBlockColumns(m, 30)
    onDisk <- sce
    SummarizedExperiment::assay(onDisk, "counts", withDimnames = FALSE) <- guardedCounts(m, 40)
    inMemory <- runTinyDST(sce)
    delayed <- runTinyDST(onDisk)
    expect_identical(delayed$DiffusionST_domain, inMemory$DiffusionST_domain)
    expect_equal(SingleCellExperiment::reducedDim(delayed, "DiffusionST"),
        SingleCellExperiment::reducedDim(inMemory, "DiffusionST"), tolerance = sameSeedTolerance)

    ## SpaLSTF: the query's counts and the reference's, both in HDF5 files
    osm <- smallOsmFISH()
    hidden <- c("Gad2", "Slc32a1")
    st <- osm$spatial[setdiff(rownames(osm$spatial), hidden), ]
    dir <- withr::local_tempdir()
    toHDF5 <- function(x) {
        SummarizedExperiment::assay(x, "counts", withDimnames = FALSE) <-
            HDF5Array::writeHDF5Array(SummarizedExperiment::assay(x, "counts"),
                filepath = tempfile(tmpdir = dir, fileext = ".h5"), name = "counts")
        x
    }
    run <- function(x, reference) {
        out <- do.call(runSpaLSTF, c(list(x, reference, genes = hidden, seed = 3L,
            verbose = FALSE), tinySpaLSTF))
        SummarizedExperiment::assay(SingleCellExperiment::altExp(out, "SpaLSTF"), "imputed")
    }
    stH5 <- toHDF5(st)
    refH5 <- toHDF5(osm$reference)
    expect_s4_class(SummarizedExperiment::assay(refH5, "counts"), "DelayedMatrix")
    expect_identical(run(stH5, refH5), run(st, osm$reference))
})
