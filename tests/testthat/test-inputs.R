## Input checks and coordinate discovery; none of these needs Python (checks run first).

test_that("coordinates are found in colData, reducedDim and user-named columns", {
    sce <- smallDLPFC()
    coordsOf <- function(x, coords = NULL) SpatialDiffusion:::.coordsSCE(x, coords, verbose = TRUE)
    expect_message(res <- coordsOf(sce), "Using spatial coordinates from colData\\(x\\) columns array_row/array_col")
    expect_equal(unname(res[, 1]), as.numeric(sce$array_row))
    expect_identical(rownames(res), colnames(sce))

    sce2 <- sce
    SingleCellExperiment::reducedDim(sce2, "spatial") <- cbind(sce$pxl_row_in_fullres,
        sce$pxl_col_in_fullres)
    expect_message(res2 <- coordsOf(sce2), "from reducedDim\\(x, \"spatial\"\\)")
    expect_equal(unname(res2[, 2]), as.numeric(sce$pxl_col_in_fullres))

    expect_message(res3 <- coordsOf(sce, c("pxl_row_in_fullres", "pxl_col_in_fullres")),
        "colData\\(x\\) columns pxl_row_in_fullres/pxl_col_in_fullres")
    expect_equal(unname(res3[, 1]), as.numeric(sce$pxl_row_in_fullres))
    expect_error(coordsOf(sce, c("a", "b")), "`coords` names \"a\" and \"b\", not columns of colData")

    ## the fallback list is short: other columns are named with `coords =`
    pixelOnly <- sce
    pixelOnly$array_row <- pixelOnly$array_col <- NULL
    expect_error(coordsOf(pixelOnly), "No spatial coordinates found.*Pass `coords` =")
})

test_that("every spot at one position is refused, naming the coordinates used", {
    sce <- smallDLPFC()
    sce$array_row <- 5
    sce$array_col <- 7
    expect_error(runDiffusionST(sce, nClusters = 4, verbose = FALSE), paste0("All 600 spots have ",
        "the same spatial coordinates \\(5, 7\\) in colData\\(x\\) columns array_row/array_col"))
    m <- SummarizedExperiment::assay(sce, "counts")
    expect_error(runDiffusionST(m, 4, coords = cbind(rep(1, ncol(m)), 2)),
        "All 600 spots have the same spatial coordinates \\(1, 2\\) in the `coords` argument")
    ## a few spots sharing a position are fine
    crd <- cbind(as.numeric(sce$pxl_row_in_fullres), as.numeric(sce$pxl_col_in_fullres))
    crd[2, ] <- crd[1, ]
    expect_identical(unname(SpatialDiffusion:::.checkCoordMatrix(crd, ncol(m), "test")), crd)
})

test_that("duplicated gene names are refused with how to make them unique", {
    sce <- smallDLPFC()
    rownames(sce)[2] <- rownames(sce)[1]
    expect_error(runDiffusionST(sce, nClusters = 4, verbose = FALSE), paste0("`x` has duplicated ",
        "gene names: \"", rownames(sce)[1], "\".*make.unique\\(rownames\\(x\\)\\).*",
        "scuttle::uniquifyFeatureNames"))
    ## SpaLSTF matches genes ignoring case, so names differing only in case are duplicates there
    osm <- smallOsmFISH()
    ref <- osm$reference
    rownames(ref)[rownames(ref) == "Slc32a1"] <- "GAD2"
    expect_error(runSpaLSTF(osm$spatial, ref, genes = "Gad2", verbose = FALSE),
        "`reference` has duplicated gene names \\(compared ignoring case\\): \"Gad2\" and \"GAD2\"")
})

test_that("no coordinates anywhere gives one clear error", {
    sce <- smallDLPFC()
    SummarizedExperiment::colData(sce) <- S4Vectors::DataFrame(row.names = colnames(sce))
    expect_error(runDiffusionST(sce, nClusters = 4, verbose = FALSE),
        "No spatial coordinates found.*colData\\(x\\) columns array_row/array_col")
    expect_error(runDiffusionST(sce, nClusters = 4, verbose = FALSE),
        "Pass `coords` = the names of the two columns")
})

test_that("a SpatialExperiment with empty spatialCoords falls back to colData", {
    skipIfNoSpatialExperiment()
    sce <- smallDLPFC()
    spe <- SpatialExperiment::SpatialExperiment(
        assays = list(counts = SummarizedExperiment::assay(sce, "counts")),
        colData = SummarizedExperiment::colData(sce))
    expect_equal(ncol(SpatialExperiment::spatialCoords(spe)), 0L)
    expect_message(res <- SpatialDiffusion:::.coordsSCE(spe, NULL, TRUE),
        "colData\\(x\\) columns array_row/array_col")
    expect_equal(unname(res[, 1]), as.numeric(sce$array_row))
    SummarizedExperiment::colData(spe) <- S4Vectors::DataFrame(row.names = colnames(spe))
    expect_error(SpatialDiffusion:::.coordsSCE(spe, NULL, TRUE),
        "No spatial coordinates found. Looked in: spatialCoords\\(x\\)")
    ## spatialCoords() comes first
    SpatialExperiment::spatialCoords(spe) <- cbind(x = sce$pxl_col_in_fullres,
        y = sce$pxl_row_in_fullres)
    expect_message(res <- SpatialDiffusion:::.coordsSCE(spe, NULL, TRUE), "from spatialCoords\\(x\\)")
})

test_that("a Seurat object without images uses meta.data coordinates", {
    skipIfNoSeurat()
    sce <- smallDLPFC()
    so <- suppressWarnings(SeuratObject::CreateSeuratObject(
        counts = SummarizedExperiment::assay(sce, "counts"),
        meta.data = as.data.frame(SummarizedExperiment::colData(sce))))
    expect_message(res <- SpatialDiffusion:::.coordsSeurat(so, NULL, TRUE),
        "from the meta.data columns array_row/array_col")
    expect_equal(unname(res[, 2]), as.numeric(sce$array_col))
    for (col in c("array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres")) {
        so[[col]] <- NULL
    }
    expect_error(runDiffusionST(so, nClusters = 4, verbose = FALSE),
        "No spatial coordinates found.*no images.*meta.data columns array_row/array_col")
})

test_that("counts are checked: missing assay, non-integer values, negative values", {
    sce <- smallDLPFC()
    expect_error(runDiffusionST(sce, nClusters = 4, assay = "raw", verbose = FALSE),
        "`assay` = \"raw\" is not an assay of `x`; its assays are: \"counts\"")
    SummarizedExperiment::assay(sce, "logcounts") <- log1p(SummarizedExperiment::assay(sce, "counts"))
    expect_error(runDiffusionST(sce, nClusters = 4, assay = "logcounts", verbose = FALSE),
        "Assay \"logcounts\" of `x` does not hold raw counts \\(whole numbers of at least 0, no NA\\): it contains [0-9.]+")
    m <- as.matrix(SummarizedExperiment::assay(sce, "counts")[1:50, ])
    m[1, 1] <- -1
    expect_error(runDiffusionST(m, nClusters = 4,
        coords = as.matrix(as.data.frame(SummarizedExperiment::colData(sce))[, c("array_row", "array_col")]),
        verbose = FALSE), "does not hold raw counts .*: it contains -1")
})

test_that("nClusters, seed and other arguments are range-checked before any work", {
    sce <- smallDLPFC()
    for (bad in list(1, 0, 2.5, NA, c(3, 4), "7", ncol(sce))) {
        expect_error(runDiffusionST(sce, nClusters = bad, verbose = FALSE),
            "`nClusters` must be a single whole number from 2 to 599")
    }
    expect_error(runDiffusionST(sce, nClusters = 4, seed = -1, verbose = FALSE), "`seed`")
    expect_error(runDiffusionST(sce, nClusters = 4, refine = NA, verbose = FALSE), "`refine`")
    expect_error(runDiffusionST(sce, nClusters = 4, BPPARAM = 2, verbose = FALSE), "`BPPARAM`")
    expect_error(runDiffusionST(list(1), nClusters = 4),
        "`x` must be a SpatialExperiment, .* got an object of class <list>")
    m <- SummarizedExperiment::assay(sce, "counts")
    expect_error(runDiffusionST(m, nClusters = 4), "`coords` must be an N x 2 numeric matrix")
    expect_error(runDiffusionST(m, nClusters = 4, coords = matrix(1, 3, 2)),
        "`coords` must be an N x 2 numeric matrix .*: must have exactly 600 rows, but has 3 rows")
    ## dense and DelayedArray counts reach the same checks as sparse ones
    for (counts in list(as.matrix(m), DelayedArray::DelayedArray(m))) {
        expect_error(runDiffusionST(counts, nClusters = 4), "`coords` must be an N x 2 numeric matrix")
    }
})

test_that("preset, device, engine settings, samples and counts are refused before any work", {
    sce <- smallDLPFC()
    run <- function(...) runDiffusionST(sce, nClusters = 4, verbose = FALSE, ...)
    expect_error(run(preset = "bogus"), "`preset` must be \"auto\", \"fast\" or \"paper\"")
    expect_error(run(device = "gpu0"), "`device` must be \"auto\", \"cpu\", \"cuda\"")
    expect_error(run(refine_neighbors = 10L),
        "`...` sets `refine_neighbors`.*use its argument `refineNeighbors`")
    expect_error(run(seed = "a"),
        "`seed` must be a single whole number of at least 0: must be of type .*, not 'character'")
    expect_error(run(sampleId = c(NA, rep("a", ncol(sce) - 1))), "`sampleId` has NA sample labels")
    m <- SummarizedExperiment::assay(sce, "counts")
    crd <- cbind(sce$array_row, sce$array_col)
    inf <- m
    inf[1, 1] <- Inf
    expect_error(runDiffusionST(inf, 4, coords = crd), "does not hold raw counts .*: it contains Inf")
    expect_error(runDiffusionST(m > 0, 4, coords = crd), "is a <lgCMatrix> \\(a pattern or logical")
    osm <- smallOsmFISH()
    expect_error(runSpaLSTF(methods::as(osm$spatial, "SummarizedExperiment"), osm$reference,
        genes = "Gad2", verbose = FALSE),
        "class <SummarizedExperiment>.*Convert it first with `as\\(x, \"SingleCellExperiment\"\\)`")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, genes = c("Gad2", "GAD2"), verbose = FALSE),
        "names some genes more than once .*: Gad2, GAD2")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, genes = "Gad2", st_coords = matrix(0, 2, 2),
        verbose = FALSE),
        "`...` sets `st_coords`, which the R function sets itself; use its argument `coords`")
    expect_error(evaluateSpaLSTF(osm$spatial, osm$reference, n_folds = 2L, verbose = FALSE),
        "`...` sets `n_folds`, which the R function sets itself; use its argument `folds`")
    ## NA would reach Python as True
    expect_error(run(gcn_epochs = NA), "`...` gives NA for `gcn_epochs`; give a value")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, genes = "Gad2", augment = NA,
        verbose = FALSE), "`...` gives NA for `augment`")
    expect_error(evaluateSpaLSTF(osm$spatial, osm$reference, epochs = NA_integer_, verbose = FALSE),
        "`...` gives NA for `epochs`")
    ## the engine runs threads in this process, which a fork does not carry over; one sample runs
    ## in this process whatever the backend
    twoSamples <- rep(c("a", "b"), length.out = ncol(sce))
    expect_error(run(sampleId = twoSamples, BPPARAM = BiocParallel::MulticoreParam(2)),
        "`BPPARAM` is a MulticoreParam, which forks this R process.*SnowParam\\(workers\\)")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, genes = "Gad2", verbose = FALSE,
        sampleId = rep(c("a", "b"), length.out = ncol(osm$spatial)),
        BPPARAM = BiocParallel::SnowParam(2, type = "FORK")),
        "`BPPARAM` is a SnowParam, which forks")
    expect_error(run(sampleId = twoSamples,
        BPPARAM = BiocParallel::BatchtoolsParam(2, cluster = "multicore")),
        "`BPPARAM` is a BatchtoolsParam, which forks.*cluster = \"socket\"")
    expect_silent(SpatialDiffusion:::.checkBPPARAM(BiocParallel::MulticoreParam(2), 1L))
    ## the matrix methods check `name` and `coords` like the object methods do
    stCounts <- SummarizedExperiment::assay(osm$spatial, "counts")
    refCounts <- SummarizedExperiment::assay(osm$reference, "counts")
    expect_error(runSpaLSTF(stCounts, refCounts, genes = "Gad2", name = NA, verbose = FALSE),
        "`name` must be a single")
    expect_error(runSpaLSTF(stCounts, refCounts, genes = "Gad2", coords = c("x", "y"),
        verbose = FALSE), "`coords` must be an N x 2 numeric matrix of cell coordinates .* or NULL")
    expect_error(runDiffusionST(m, 4, coords = crd, name = c("a", "b")), "`name` must be a single")
})

test_that("results never overwrite the user's data in a Seurat object, nor get renamed", {
    skipIfNoSeurat()
    sce <- smallDLPFC()
    so <- suppressWarnings(SeuratObject::CreateSeuratObject(
        counts = SummarizedExperiment::assay(sce, "counts"),
        meta.data = as.data.frame(SummarizedExperiment::colData(sce))))
    emb <- matrix(0, ncol(so), 2, dimnames = list(colnames(so), c("PC_1", "PC_2")))
    so[["pca"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "PC_", assay = "RNA")
    so$Mine_domain <- "mine"
    run <- function(name) runDiffusionST(so, nClusters = 4, name = name, verbose = FALSE)
    expect_error(run("RNA"), paste0("`name` = \"RNA\" would overwrite the Assay \"RNA\" of `x`, ",
        "which Misc\\(x, \"RNA\"\\) does not record as DiffusionST results .*; remove them or pass ",
        "another `name`"))
    expect_error(run("PCA"), "`name` = \"PCA\" would overwrite the DimReduc \"pca\" of `x`")
    expect_error(run("Mine"), "would overwrite the meta.data column \"Mine_domain\" of `x`")
    expect_error(run("PC"), "would give the results the key \"PC_\", which \"pca\" of `x` uses")
    expect_error(run("dst"), "would give the assay \\(`name`\\) and the reduction .* the same name")
    for (renamed in c("_x", "1abc", "a b", "if")) {
        expect_error(run(renamed), paste0("`name` = \"", renamed, "\" would be renamed by Seurat"))
    }
    osm <- smallOsmFISH()
    st <- suppressWarnings(SeuratObject::CreateSeuratObject(
        counts = SummarizedExperiment::assay(osm$spatial, "counts")))
    expect_error(runSpaLSTF(st, osm$reference, genes = "Gad2", name = "RNA", verbose = FALSE),
        "`name` = \"RNA\" would overwrite the Assay \"RNA\" of `x`, which .* as SpaLSTF results")
    expect_identical(SeuratObject::Assays(so), "RNA")
    expect_identical(SeuratObject::Reductions(so), "pca")
})

test_that("results never overwrite the user's data in a SingleCellExperiment", {
    sce <- smallDLPFC()
    SingleCellExperiment::reducedDim(sce, "PCA") <- matrix(0, ncol(sce), 2)
    sce$Mine_domain <- "mine"
    S4Vectors::metadata(sce)$notes <- "mine"
    run <- function(name) runDiffusionST(sce, nClusters = 4, name = name, verbose = FALSE)
    taken <- c(PCA = "reducedDim\\(x, \"PCA\"\\)", Mine = "the colData column \"Mine_domain\"",
        notes = "metadata\\(x\\)\\$notes")
    for (name in names(taken)) {
        expect_error(run(name), paste0("`name` = \"", name, "\" would overwrite ", taken[[name]],
            ", which metadata\\(x\\)\\$", name, " does not record as DiffusionST results; ",
            "remove them or pass another `name`"))
    }
    osm <- smallOsmFISH()
    st <- osm$spatial
    SingleCellExperiment::altExp(st, "Imputed") <- st[1:2, ]
    expect_error(runSpaLSTF(st, osm$reference, genes = "Gad2", name = "Imputed", verbose = FALSE),
        "would overwrite altExp\\(x, \"Imputed\"\\), which .* as SpaLSTF results")
})

test_that("librarySize is checked before any work: column, length, sign, and at least the counts", {
    sce <- smallDLPFC()
    totals <- Matrix::colSums(SummarizedExperiment::assay(sce, "counts"))
    expect_error(runDiffusionST(sce, nClusters = 4, librarySize = "total_umi", verbose = FALSE),
        "`librarySize` = \"total_umi\" is not a column")
    ## the shipped example carries spatialLIBD's whole-transcriptome totals
    lib <- SpatialDiffusion:::.librarySizes(SpatialDiffusion:::.librarySizeColumn(
        SummarizedExperiment::colData(sce), "sum_umi"), SummarizedExperiment::assay(sce, "counts"))
    expect_identical(as.vector(lib), as.numeric(sce$sum_umi))
    expect_identical(attr(lib, "source"), "column sum_umi")
    expect_error(runDiffusionST(sce, nClusters = 4, librarySize = totals[-1], verbose = FALSE),
        "`librarySize` must be NULL, a column name, or 600 finite positive numbers")
    expect_error(runDiffusionST(sce, nClusters = 4, librarySize = -totals, verbose = FALSE),
        "finite positive numbers")
    sce$halfTotal <- totals / 2
    expect_error(runDiffusionST(sce, nClusters = 4, librarySize = "halfTotal", verbose = FALSE),
        "smaller than the spot's counts over the genes given for 600 spot")
})

test_that("SpaLSTF inputs: reference without shared genes, unknown genes, missing assay", {
    osm <- smallOsmFISH()
    ref <- osm$reference
    rownames(ref) <- paste0("ENSMUSG", seq_len(nrow(ref)))
    expect_error(runSpaLSTF(osm$spatial, ref, verbose = FALSE),
        "`reference` shares no genes with `x`")
    expect_error(evaluateSpaLSTF(osm$spatial, ref, verbose = FALSE),
        "`reference` shares no genes with `x`")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, verbose = FALSE),
        "Every reference gene is already measured")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, genes = c("Gad2", "NotAGene"),
        verbose = FALSE), "not found: NotAGene")
    expect_error(runSpaLSTF(osm$spatial, osm$reference, referenceAssay = "logcounts",
        verbose = FALSE), "`referenceAssay` = \"logcounts\" is not an assay of `reference`")
    expect_error(evaluateSpaLSTF(osm$spatial, osm$reference, folds = 1, verbose = FALSE),
        "`folds`")
    expect_error(runSpaLSTF(osm$spatial, "ref", verbose = FALSE), "`reference` must be")
    expect_error(runSpaLSTF(list(1), osm$reference, verbose = FALSE), "`x` must be a SpatialExperiment")
})

test_that("mclust is seeded as a fresh R session would be, and the caller's stream is kept", {
    ## above 2000 rows mclust starts from a random subset, so the seed matters
    set.seed(5)
    emb <- matrix(rnorm(2100 * 3), ncol = 3) + rep(c(0, 3, 6), each = 700)
    RNGkind("L'Ecuyer-CMRG")
    on.exit(RNGkind("default", "default", "default"), add = TRUE)
    set.seed(1)
    expected <- runif(3)
    set.seed(1)
    labels <- SpatialDiffusion:::.mclustSeeded(emb, 3L, 99L)
    expect_identical(runif(3), expected)  # the caller's stream and RNG kind are untouched
    expect_identical(RNGkind()[1], "L'Ecuyer-CMRG")
    fresh <- withr::with_package("mclust", {
        RNGkind("Mersenne-Twister", "Inversion", "Rejection")
        set.seed(99)
        Mclust(emb, G = 3, modelNames = "EEE", verbose = FALSE)$classification
    })
    expect_identical(labels, as.integer(fresh))
})
