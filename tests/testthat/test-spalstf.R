## SpaLSTF on a small subset of the shipped osmFISH / Allen pair, tiny engine settings.

test_that("runSpaLSTF imputes held-out osmFISH genes better than a kNN baseline", {
    skipIfNoPython()
    ## a quarter of the shipped pair: 852 osmFISH cells, 1404 reference cells
    ex <- exampleFiles("osm")
    st <- ex$spatial[, seq(1, ncol(ex$spatial), by = 4)]
    ref <- ex$reference[, seq(1, ncol(ex$reference), by = 4)]
    hidden <- c("Gad2", "Slc32a1", "Mfge8", "Pdgfra", "Sox10", "Aldoc")
    observed <- setdiff(rownames(st), hidden)
    query <- st[observed, ]
    out <- runSpaLSTF(query, ref, genes = hidden, seed = 0L, verbose = FALSE, preset = "fast",
        epochs = 30L, n_models = 1L, n_samples = 2L)
    imputed <- SummarizedExperiment::assay(SingleCellExperiment::altExp(out, "SpaLSTF"), "imputed")
    expect_identical(dim(imputed), c(length(hidden), ncol(st)))

    ## measured values and the baseline on SpaLSTF's scale: log1p(1e4 * count / library size of the
    ## observed genes)
    logNorm <- function(counts, lib) log1p(t(as.matrix(counts)) * 1e4 / pmax(lib, 1))
    stCounts <- SummarizedExperiment::assay(st, "counts")
    refCounts <- SummarizedExperiment::assay(ref, "counts")
    stLib <- Matrix::colSums(stCounts[observed, ])
    refLib <- Matrix::colSums(refCounts[observed, ])
    measured <- logNorm(stCounts[hidden, ], stLib)
    ## kNN baseline: each cell gets the mean of its 30 nearest reference cells in the space of
    ## the observed genes
    nn <- BiocNeighbors::queryKNN(logNorm(refCounts[observed, ], refLib),
        logNorm(stCounts[observed, ], stLib), k = 30L, get.distance = FALSE, warn.ties = FALSE)$index
    refHidden <- logNorm(refCounts[hidden, ], refLib)
    knn <- sapply(hidden, function(g) rowMeans(matrix(refHidden[nn, g], nrow(nn))))
    medianSpearman <- function(pred) {
        stats::median(vapply(hidden, function(g) stats::cor(pred[, g], measured[, g],
            method = "spearman"), 0))
    }
    spcc <- medianSpearman(t(imputed))
    baseline <- medianSpearman(knn)
    ## SpaLSTF 0.175-0.207 against 0.115 on seeds 0-3 of the engine (these settings, one thread)
    expect_gt(spcc, baseline)
    expect_gt(baseline, 0.05)  # the held-out genes carry signal that the baseline finds

    ## the results are stored beside the object, which is otherwise unchanged
    md <- S4Vectors::metadata(out)$SpaLSTF
    expect_identical(md$genes, hidden)
    expect_identical(md$seed, 0L)
    expect_identical(md$coordinates, "colData(x) columns x_coord/y_coord")
    expect_true("total" %in% names(md$timings))

    ## every imputed gene carries its score on the reference cells held out of training
    scores <- SummarizedExperiment::rowData(SingleCellExperiment::altExp(out, "SpaLSTF"))
    expect_identical(rownames(scores), hidden)
    expect_identical(colnames(scores), c("validationSPCC", "neighbourValidationSPCC", "modelWeight"))
    expect_true(all(abs(scores$validationSPCC) <= 1) && all(scores$modelWeight == 1))
    ## osmFISH cells lie far from every SMART-seq cell, so the default referenceBlend = "auto" keeps
    ## the model's imputation
    expect_identical(md$params$reference_blend, "auto")
    expect_false(md$params$blended)
    expect_gt(md$params$reference_distance_ratio, 1.5)
    expect_identical(md$validation$gene, hidden)
    expect_equal(md$params$validation_cells, round(0.1 * ncol(ref)))
    stripped <- out
    SingleCellExperiment::altExps(stripped) <- list()
    S4Vectors::metadata(stripped) <- list()
    expect_identical(stripped, query)
})

test_that("runSpaLSTF on a counts matrix returns the SingleCellExperiment method's imputation", {
    skipIfNoPython()
    osm <- smallOsmFISH()
    hidden <- c("Gad2", "Slc32a1")
    st <- osm$spatial[setdiff(rownames(osm$spatial), hidden), ]
    run <- function(x, ...) do.call(runSpaLSTF, c(list(x, osm$reference, genes = hidden,
        seed = 3L, verbose = FALSE, ...), tinySpaLSTF))
    fromSCE <- SummarizedExperiment::assay(SingleCellExperiment::altExp(run(st), "SpaLSTF"),
        "imputed")
    crd <- cbind(st$x_coord, st$y_coord)
    res <- run(SummarizedExperiment::assay(st, "counts"), coords = crd)
    expect_named(res, c("imputed", "metadata"))
    expect_identical(res$imputed, fromSCE)
    expect_identical(res$metadata$coordinates, "the `coords` argument")
})

test_that("runSpaLSTF accepts a Seurat reference and a Seurat query", {
    skipIfNoPython()
    skipIfNoSeurat()
    osm <- smallOsmFISH()
    hidden <- "Gad2"
    st <- osm$spatial[setdiff(rownames(osm$spatial), hidden), ]
    ref <- suppressWarnings(SeuratObject::CreateSeuratObject(
        counts = SummarizedExperiment::assay(osm$reference, "counts")))
    so <- suppressWarnings(SeuratObject::CreateSeuratObject(
        counts = SummarizedExperiment::assay(st, "counts"),
        meta.data = as.data.frame(SummarizedExperiment::colData(st))))
    out <- do.call(runSpaLSTF, c(list(so, ref, genes = hidden, seed = 3L, verbose = FALSE),
        tinySpaLSTF))
    expect_true("SpaLSTF" %in% SeuratObject::Assays(out))
    expect_identical(rownames(SeuratObject::GetAssayData(out, assay = "SpaLSTF")), hidden)
    expect_identical(SeuratObject::DefaultAssay(out), "RNA")
    expect_identical(SeuratObject::Misc(out, "SpaLSTF")$genes, hidden)
})

test_that("evaluateSpaLSTF returns per-gene metrics and a summary", {
    skipIfNoPython()
    osm <- smallOsmFISH()
    res <- do.call(evaluateSpaLSTF, c(list(osm$spatial, osm$reference, folds = 2, seed = 1L,
        verbose = FALSE), tinySpaLSTF))
    expect_s4_class(res, "DataFrame")
    expect_true(all(c("gene", "fold", "spcc", "ssim", "rmse", "js") %in% colnames(res)))
    expect_setequal(res$gene, rownames(osm$spatial))
    expect_setequal(unique(res$fold), 1:2)  # numbered from 1, as R counts
    s <- S4Vectors::metadata(res)$summary
    expect_true(all(c("spcc", "ssim", "rmse", "js", "ari", "ami", "nmi", "homo") %in% names(s)))
    expect_true(is.finite(s[["rmse"]]))
    expect_identical(S4Vectors::metadata(res)$folds, 2L)
})

test_that("runSpaLSTF runs each sample on its own and puts every cell back in place", {
    skipIfNoPython()
    osm <- smallOsmFISH()
    hidden <- "Gad2"
    st <- osm$spatial[setdiff(rownames(osm$spatial), hidden), ]
    st$slide <- rep(c("b", "a"), length.out = ncol(st))  # interleaved: order must be restored
    run <- function(x, ...) do.call(runSpaLSTF, c(list(x, osm$reference, genes = hidden,
        seed = 3L, verbose = FALSE, ...), tinySpaLSTF))
    out <- run(st, sampleId = "slide")
    imputed <- SummarizedExperiment::assay(SingleCellExperiment::altExp(out, "SpaLSTF"), "imputed")
    expect_identical(colnames(imputed), colnames(st))
    expect_named(S4Vectors::metadata(out)$SpaLSTF$samples, c("b", "a"))
    aloneA <- run(st[, st$slide == "a"])
    expect_equal(imputed[, st$slide == "a", drop = FALSE], SummarizedExperiment::assay(
        SingleCellExperiment::altExp(aloneA, "SpaLSTF"), "imputed"), tolerance = 1e-6)
})

test_that("runSpaLSTF checks the validation arguments before any work", {
    ex <- exampleFiles("osm")
    st <- ex$spatial[setdiff(rownames(ex$spatial), "Gad2"), 1:50]
    expect_error(runSpaLSTF(st, ex$reference, genes = "Gad2", validationFraction = 0.7),
        "validationFraction.*must be a number in \\[0, 0.5\\]")
    expect_error(runSpaLSTF(st, ex$reference, genes = "Gad2", referenceBlend = "knn"),
        "referenceBlend.*must be \"auto\", \"none\" or \"validated\"")
    expect_error(runSpaLSTF(st, ex$reference, genes = "Gad2", validation_fraction = 0.2),
        "validationFraction")
})
