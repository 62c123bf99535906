## Shared helpers for the tests.

## Skip a test only when the Python engine is genuinely unavailable. `make test`
## (scripts/r_check.sh) sets SPATIALDIFFUSION_REQUIRE_PYTHON=true, so there a missing engine is
## a failure, not a skip.
skipIfNoPython <- function() {
    ok <- pythonAvailable()
    if (isTRUE(ok)) return(invisible(TRUE))
    if (identical(tolower(Sys.getenv("SPATIALDIFFUSION_REQUIRE_PYTHON")), "true")) {
        stop("SPATIALDIFFUSION_REQUIRE_PYTHON=true but the Python engine is unavailable:\n",
            attr(ok, "reason"))
    }
    skip(paste("Python engine not available:", attr(ok, "reason")))
}

skipIfNoSpatialExperiment <- function() {
    if (!requireNamespace("SpatialExperiment", quietly = TRUE)) {
        skip("SpatialExperiment is not installed (it is a Suggests-only dependency)")
    }
}

skipIfNoSeurat <- function() {
    if (!requireNamespace("SeuratObject", quietly = TRUE) ||
        !requireNamespace("Seurat", quietly = TRUE)) {
        skip("Seurat/SeuratObject are not installed")
    }
}

## Smallest engine settings: a few GCN epochs, enhancement skipped, few genes. One test below
## runs the real diffusion stage with tiny settings.
tinyDST <- list(gcn_epochs = 2L, diffusion = "none", n_top_genes = 200L)
tinyDDPM <- list(gcn_epochs = 2L, n_top_genes = 64L, train_epochs = 1L, batch_size = 256L,
    unet_channels = 4L, sampling_steps = 1L, n_candidates = 2L, n_keep = 1L)
tinySpaLSTF <- list(epochs = 1L, hidden = 32L, depth = 1L, num_heads = 2L, lstm_hidden = 8L,
    lstm_layers = 1L, sampler = "ddim", sampler_steps = 2L, num_timesteps = 20L,
    batch_size = 512L, augment = FALSE)

## Two runs with the same seed are compared exactly in their domains and to this mean relative
## difference (all.equal's `tolerance`) in their embeddings. In two CI runs out of many, the first
## R-hosted run of the test process gave an embedding up to 3e-5 off the later runs (mean relative
## difference about 8e-6 in the rows the log showed) with the same domains, for a reason not known
## (README, "R and BLAS"). Another seed, or library sizes off by a per-spot factor, give a mean
## relative difference of about 0.5.
sameSeedTolerance <- 1e-4

## cli wraps long messages at the console width; the tests match whole sentences.
withr::local_options(cli.width = 10000L, .local_envir = testthat::teardown_env())

## Each test builds its own input from the shipped examples and shares no results with another, so
## the tests run in any order. Only the decompressed example files are kept after their first
## read (about a second each): they are the same whichever test reads them first, and R copies an
## object that a test modifies.
exampleFiles <- local({
    loaded <- list()
    function(which) {
        if (is.null(loaded[[which]])) {
            loaded[[which]] <<- switch(which, dlpfc = loadExampleDLPFC(), osm = loadExampleOsmFISH())
        }
        loaded[[which]]
    }
})

## A 600-spot window of the shipped DLPFC slice (all Layer/WM labels present).
smallDLPFC <- function() {
    sce <- exampleFiles("dlpfc")
    sce[, sce$array_row >= 20 & sce$array_row < 44 & sce$array_col >= 20 & sce$array_col < 70]
}

## A small osmFISH / Allen pair.
smallOsmFISH <- function() {
    ex <- exampleFiles("osm")
    list(spatial = ex$spatial[, seq(1, ncol(ex$spatial), by = 12)],
        reference = ex$reference[, seq(1, ncol(ex$reference), by = 12)])
}

runTinyDST <- function(x, ...) {
    args <- utils::modifyList(c(list(nClusters = 4, seed = 7L, verbose = FALSE), tinyDST),
        list(...))
    do.call(runDiffusionST, c(list(x), args))
}
