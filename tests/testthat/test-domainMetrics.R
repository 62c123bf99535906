test_that("domainMetrics gives known values and excludes missing truth", {
    truth <- c("a", "a", "b", "b", "c", "c")
    m <- domainMetrics(NULL, truth, c(1, 1, 2, 2, 3, 3))
    expect_equal(unname(m[c("ARI", "AMI", "NMI", "homogeneity")]), c(1, 1, 1, 1))
    expect_equal(m[["nScored"]], 6)
    ## NA and the string "NA" are excluded before scoring
    m2 <- domainMetrics(NULL, c(truth, NA, "NA"), c(1, 1, 2, 2, 3, 3, 1, 2))
    expect_equal(m2, m)
    ## one predicted cluster: no information
    m3 <- domainMetrics(NULL, truth, rep(1, 6))
    expect_equal(unname(m3[c("ARI", "NMI", "homogeneity")]), c(0, 0, 0))
    expect_error(domainMetrics(NULL, truth, 1:3), "`pred` must be labels of the same length as `truth` \\(6\\)")
    expect_error(domainMetrics(NULL, rep(NA, 3), 1:3), "missing")
})

test_that("domainMetrics reads columns of objects and agrees with the engine (scikit-learn)", {
    sce <- smallDLPFC()
    set.seed(3)
    sce$pred <- ifelse(runif(ncol(sce)) < 0.7, as.character(sce$layer_guess_reordered),
        sample(letters[1:4], ncol(sce), TRUE))
    m <- domainMetrics(sce, "layer_guess_reordered", "pred")
    expect_named(m, c("ARI", "AMI", "NMI", "homogeneity", "nScored"))
    expect_equal(m[["nScored"]], sum(!is.na(sce$layer_guess_reordered)))
    expect_error(domainMetrics(sce, "nope", "pred"), "`truth` must name a column")
    skipIfNoPython()
    metrics <- reticulate::import("spatialdiffusion")$metrics
    ref <- metrics$clustering_scores(as.character(sce$layer_guess_reordered), sce$pred)
    expect_equal(unname(m[c("ARI", "AMI", "NMI", "homogeneity")]),
        c(ref$ari, ref$ami, ref$nmi, ref$homo), tolerance = 1e-8)
})

test_that("domainMetrics follows scikit-learn where the ARI is 0/0, and reads every missing label", {
    expect_equal(domainMetrics(NULL, c("a", "b", "c"), c(1, 2, 3))[["ARI"]], 1)
    expect_equal(domainMetrics(NULL, c("a", "a", "a"), c(1, 1, 1))[["ARI"]], 1)
    m <- domainMetrics(NULL, c("a", "none", "NULL", "nan", "", "b"), c(1, 1, 2, 2, 2, 2))
    expect_equal(m[["nScored"]], 2)
})

test_that("plotDomains reads row/column pairs and x/y pairs the right way round", {
    osm <- smallOsmFISH()$spatial
    osm$domain <- factor(rep(c(10, 2, 1), length.out = ncol(osm)), levels = c(1, 2, 10))
    built <- ggplot2::ggplot_build(plotDomains(osm, "domain"))$data[[1]]
    expect_equal(range(built$x), range(osm$x_coord))  # x/y: first column is x
    sce <- smallDLPFC()
    built <- ggplot2::ggplot_build(plotDomains(sce, "layer_guess_reordered"))$data[[1]]
    expect_equal(range(built$x), range(sce$array_col))  # array_row/array_col: first column is y
    expect_error(plotDomains(sce, "layer_guess_reordered", pointSize = "big"),
        "`pointSize` must be a single positive number")
    expect_identical(SpatialDiffusion:::.labelLevels(list(c(10, 2, 1, NA))), c("1", "2", "10", NA))
})
