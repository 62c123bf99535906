## DiffusionST end to end on a 600-spot window of the shipped DLPFC slice, tiny engine settings.
## Each test makes its own runs: none depends on another's results.

test_that("runDiffusionST stores its results, and every input class gives the same domains", {
    skipIfNoPython()
    sce <- smallDLPFC()
    set.seed(123)
    before <- runif(1)
    set.seed(123)
    expect_message(out <- runDiffusionST(sce, nClusters = 4, seed = 7L, verbose = TRUE,
        gcn_epochs = 2L, diffusion = "none", n_top_genes = 200L),
        "colData\\(x\\) columns array_row/array_col")
    ## the caller's random stream is untouched
    expect_identical(runif(1), before)

    dom <- out$DiffusionST_domain
    expect_s3_class(dom, "factor")
    expect_length(dom, ncol(sce))
    expect_false(anyNA(dom))
    expect_true(all(as.integer(as.character(dom)) %in% 1:4))
    md <- S4Vectors::metadata(out)$DiffusionST
    emb <- SingleCellExperiment::reducedDim(out, "DiffusionST")
    ## one column per principal component of the preset "auto" resolved to (`fast` on CPU)
    expect_equal(dim(emb), c(ncol(sce), c(fast = 10L, paper = 20L)[[md$params$preset]]))
    expect_identical(rownames(emb), colnames(sce))
    expect_identical(colnames(emb), paste0("DiffusionST_", seq_len(ncol(emb))))
    enh <- SingleCellExperiment::altExp(out, "DiffusionST")
    expect_equal(dim(enh), c(200L, ncol(sce)))
    expect_true(all(rownames(enh) %in% rownames(sce)))
    expect_identical(colnames(enh), colnames(sce))
    expect_false(anyNA(SummarizedExperiment::assay(enh, "enhanced")))
    expect_identical(md$seed, 7L)
    expect_identical(md$nClusters, 4L)
    expect_identical(md$coordinates, "colData(x) columns array_row/array_col")
    expect_identical(md$params$gcn_epochs, 2L)
    expect_identical(md$params$library_size, "input genes")
    expect_true(all(c("gcn", "total", "mclust", "refine") %in% names(md$timings)))
    expect_true(all(c("torch", "R", "mclust", "SpatialDiffusion") %in% names(md$versions)))
    expect_identical(md$clustering$modelNames, "EEE")
    ## the domains follow the cortical layers even with these tiny settings
    expect_gt(domainMetrics(out, "layer_guess_reordered")[["ARI"]], 0.1)

    ## nothing else in the object changed
    stripped <- out
    stripped$DiffusionST_domain <- NULL
    SingleCellExperiment::reducedDims(stripped) <- list()
    SingleCellExperiment::altExps(stripped) <- list()
    S4Vectors::metadata(stripped) <- list()
    expect_identical(stripped, sce)

    sameAsSCE <- function(domains, embedding) {
        expect_identical(as.character(domains), as.character(dom))
        expect_equal(unname(embedding), unname(emb), tolerance = sameSeedTolerance)
    }
    ## a counts matrix with coordinates (sparse, then DelayedArray)
    crd <- cbind(sce$array_row, sce$array_col)
    counts <- SummarizedExperiment::assay(sce, "counts")
    res <- runTinyDST(counts, coords = crd)
    expect_named(res, c("domains", "embedding", "enhanced", "metadata"))
    sameAsSCE(res$domains, res$embedding)
    expect_identical(res$metadata$coordinates, "the `coords` argument")
    delayed <- runTinyDST(DelayedArray::DelayedArray(counts), coords = crd)
    expect_identical(delayed$domains, res$domains)
    expect_error(runDiffusionST(counts, nClusters = 4, coords = crd, verbose = FALSE,
        not_a_setting = 1L), "not_a_setting")

    ## an object without column names
    unnamed <- sce
    colnames(unnamed) <- NULL
    noNames <- runTinyDST(unnamed)
    expect_null(colnames(noNames))
    sameAsSCE(noNames$DiffusionST_domain, SingleCellExperiment::reducedDim(noNames, "DiffusionST"))

    ## library sizes equal to the counts' own totals change nothing
    sce$ownTotal <- Matrix::colSums(counts)
    same <- runTinyDST(sce, librarySize = "ownTotal")
    sameAsSCE(same$DiffusionST_domain, SingleCellExperiment::reducedDim(same, "DiffusionST"))
    expect_identical(S4Vectors::metadata(same)$DiffusionST$params$library_size, "supplied")
    expect_identical(S4Vectors::metadata(same)$DiffusionST$librarySize, "column ownTotal")
    ## whole-transcriptome totals differ from the totals over these genes by a per-spot factor
    other <- runTinyDST(sce, librarySize = sce$ownTotal * (1 + seq_len(ncol(sce)) %% 3))
    expect_false(isTRUE(all.equal(unname(SingleCellExperiment::reducedDim(other, "DiffusionST")),
        unname(emb), tolerance = sameSeedTolerance)))
    expect_identical(S4Vectors::metadata(other)$DiffusionST$librarySize, "numeric vector")

    ## a Seurat object built from the same counts
    skipIfNoSeurat()
    so <- suppressWarnings(SeuratObject::CreateSeuratObject(counts = counts,
        meta.data = as.data.frame(SummarizedExperiment::colData(sce))))
    fromSeurat <- runTinyDST(so)
    expect_s4_class(fromSeurat, "Seurat")
    sameAsSCE(fromSeurat$DiffusionST_domain, SeuratObject::Embeddings(fromSeurat, "diffusionst"))
    expect_true("DiffusionST" %in% SeuratObject::Assays(fromSeurat))
    expect_identical(SeuratObject::Misc(fromSeurat, "DiffusionST")$seed, 7L)
    expect_identical(SeuratObject::DefaultAssay(fromSeurat), SeuratObject::DefaultAssay(so))
    ## nothing else changed
    expect_identical(SeuratObject::GetAssayData(fromSeurat, slot = "counts", assay = "RNA"),
        SeuratObject::GetAssayData(so, slot = "counts", assay = "RNA"))
    expect_identical(fromSeurat[[]][, colnames(so[[]])], so[[]])
})

test_that("mclust_start = 'all' is accepted and recorded, and an unknown start is refused", {
    skipIfNoPython()
    sce <- smallDLPFC()
    crd <- cbind(sce$array_row, sce$array_col)
    res <- runTinyDST(SummarizedExperiment::assay(sce, "counts"), coords = crd, mclust_start = "all")
    expect_identical(res$metadata$params$mclust_start, "all")
    expect_identical(res$metadata$clustering$start, "all")
    expect_true(all(as.integer(as.character(res$domains)) %in% 1:4))
    expect_error(runTinyDST(SummarizedExperiment::assay(sce, "counts"), coords = crd,
        mclust_start = "random"), "mclust_start")
})

test_that("R and Python-first runs give identical domains for the same seed and settings", {
    skipIfNoPython()
    ## Hosted by R, torch's matrix products resolve to the BLAS that R itself loaded (torch asks
    ## for `sgemm_` by name and R's libblas comes first), whereas a standalone Python uses torch's
    ## bundled MKL: the two sum in different orders and differ in the last digits, which training
    ## amplifies. The Python-first run below therefore preloads R's BLAS and LAPACK, the only way
    ## to give both the same arithmetic; torch and numpy's BLAS are pinned to one thread on both
    ## sides for the same reason (they order sums by thread).
    skip_if_not(identical(Sys.info()[["sysname"]], "Linux"),
        "preloading R's BLAS into a Python process (LD_PRELOAD) is done here on Linux only")
    sce <- smallDLPFC()
    crd <- cbind(as.numeric(sce$array_row), as.numeric(sce$array_col))
    counts <- SummarizedExperiment::assay(sce, "counts")
    torch <- reticulate::import("torch")
    oldThreads <- torch$get_num_threads()
    torch$set_num_threads(1L)
    blasLimits <- reticulate::import("threadpoolctl")$threadpool_limits(limits = 1L)
    on.exit({
        blasLimits$restore_original_limits()
        torch$set_num_threads(oldThreads)
    }, add = TRUE)
    ## R drives: engine with cluster = FALSE, then mclust and the refinement in R.
    rres <- do.call(runDiffusionST, c(list(counts, nClusters = 5, coords = crd, seed = 11L,
        verbose = FALSE), tinyDDPM))
    expect_true(rres$metadata$params$diffusion == "ddpm")

    ## Python drives, in its own process (rpy2 must not run under reticulate): a whole
    ## Python-first run with cluster = TRUE, mclust through rpy2.
    dir <- tempfile("pyfirst")
    dir.create(dir)
    on.exit(unlink(dir, recursive = TRUE), add = TRUE)
    Matrix::writeMM(methods::as(counts, "CsparseMatrix"), file.path(dir, "counts.mtx"))
    utils::write.csv(crd, file.path(dir, "coords.csv"), row.names = FALSE)
    settings <- paste(sprintf("%s=%s", names(tinyDDPM), vapply(tinyDDPM, function(v)
        if (is.character(v)) sprintf("'%s'", v) else as.character(v), "")), collapse = ", ")
    script <- file.path(dir, "run.py")
    writeLines(c(
        "import sys, numpy as np, scipy.io, pandas as pd, threadpoolctl, torch",
        "torch.set_num_threads(1)",
        "threadpoolctl.threadpool_limits(limits=1)",
        "from spatialdiffusion import diffusionst_arrays",
        "d = sys.argv[1]",
        "counts = scipy.io.mmread(d + '/counts.mtx').T.tocsr()",
        "coords = pd.read_csv(d + '/coords.csv').to_numpy(dtype=float)",
        sprintf(paste0("res = diffusionst_arrays(counts, coords, n_clusters=5, seed=11, ",
            "cluster=True, verbose=False, cluster_method='mclust', %s)"), settings),
        "np.savetxt(d + '/domains.txt', res['domains'], fmt='%d')",
        "np.savetxt(d + '/unrefined.txt', res['domains_unrefined'], fmt='%d')",
        "np.savetxt(d + '/embedding.txt', res['embedding'], fmt='%.9g')"
    ), script)
    rLibs <- c(extSoftVersion()[["BLAS"]], La_library())
    expect_true(all(file.exists(rLibs)))
    log <- suppressWarnings(system2(reticulate::py_exe(), c(shQuote(script), shQuote(dir)),
        stdout = TRUE, stderr = TRUE,
        env = c("TQDM_DISABLE=1", paste0("LD_PRELOAD=", paste(rLibs, collapse = ":")))))
    status <- attr(log, "status")
    if (!is.null(status) && status != 0) fail(paste(c("Python-first run failed:", log), collapse = "\n"))
    pyDomains <- as.integer(scan(file.path(dir, "domains.txt"), quiet = TRUE))
    pyUnrefined <- as.integer(scan(file.path(dir, "unrefined.txt"), quiet = TRUE))
    ## mclust in R gives Python's labels, and R refines them to R's domains
    expect_identical(as.integer(as.character(rres$domains)),
        SpatialDiffusion:::.refineLabels(pyUnrefined, crd, 50L))
    pyEmbedding <- as.matrix(utils::read.table(file.path(dir, "embedding.txt")))
    expect_equal(unname(rres$embedding), unname(pyEmbedding), tolerance = 1e-7)
    ## On array coordinates most neighbour distances tie: both sides order equidistant spots by index
    expect_identical(as.integer(as.character(rres$domains)), pyDomains)
})

test_that("several samples are run one by one, each with its own graph", {
    skipIfNoPython()
    sce <- smallDLPFC()
    sce$sample_id <- ifelse(sce$array_col < 45, "left", "right")
    out <- runTinyDST(sce, nClusters = 3)
    md <- S4Vectors::metadata(out)$DiffusionST
    expect_named(md$samples, c("left", "right"))
    expect_false(anyNA(out$DiffusionST_domain))
    ## the left sample alone gives the same domains as within the multi-sample run
    left <- sce[, sce$sample_id == "left"]
    alone <- runTinyDST(left, nClusters = 3, sampleId = NULL)
    expect_identical(as.character(out$DiffusionST_domain[sce$sample_id == "left"]),
        as.character(alone$DiffusionST_domain))
    p <- plotDomains(out, truth = "layer_guess_reordered")
    expect_s3_class(p, "ggplot")
    ## the backend the docs recommend for parallel samples: new R processes, each with its own engine
    parallel <- runTinyDST(sce, nClusters = 3, BPPARAM = BiocParallel::SnowParam(2))
    expect_identical(as.character(parallel$DiffusionST_domain), as.character(out$DiffusionST_domain))
})

test_that("returnEnhanced = FALSE leaves the enhanced expression out, NULL decides by size", {
    skipIfNoPython()
    sce <- smallDLPFC()
    kept <- runTinyDST(sce)
    expect_true(S4Vectors::metadata(kept)$DiffusionST$returnEnhanced)
    expect_message(dropped <- runTinyDST(kept, returnEnhanced = FALSE, verbose = TRUE),
        "the enhanced expression is not returned")
    ## an earlier run's altExp of the same name goes; domains and embedding do not change
    expect_false("DiffusionST" %in% SingleCellExperiment::altExpNames(dropped))
    expect_identical(dropped$DiffusionST_domain, kept$DiffusionST_domain)
    expect_equal(SingleCellExperiment::reducedDim(dropped, "DiffusionST"),
        SingleCellExperiment::reducedDim(kept, "DiffusionST"), tolerance = sameSeedTolerance)
    md <- S4Vectors::metadata(dropped)$DiffusionST
    expect_false(md$returnEnhanced)
    expect_false(md$params$return_enhanced)
    res <- runTinyDST(SummarizedExperiment::assay(sce, "counts"),
        coords = cbind(sce$array_row, sce$array_col), returnEnhanced = FALSE)
    expect_named(res, c("domains", "embedding", "enhanced", "metadata"))
    expect_null(res$enhanced)
    expect_error(runTinyDST(sce, returnEnhanced = "no"), "returnEnhanced")
    ## automatic: kept up to the engine's limit on the spots of all samples, else left out with a message
    limit <- SpatialDiffusion:::.py("engine")$AUTO_ENHANCED_MAX_SPOTS
    expect_true(SpatialDiffusion:::.keepEnhanced(NULL, limit, verbose = FALSE))
    expect_message(auto <- SpatialDiffusion:::.keepEnhanced(NULL, limit + 1L, verbose = FALSE),
        "Pass `returnEnhanced = TRUE` to keep it")
    expect_false(auto)
})
