#' DiffusionST spatial domains
#'
#' Runs DiffusionST on spatial transcriptomics data: the Python engine denoises the raw counts
#' (ZINB graph autoencoder), enhances the highly variable genes with a diffusion model and returns
#' the PCA embedding of the enhanced data; the embedding is then clustered **in R** with
#' `mclust::Mclust(embedding, G = nClusters, modelNames = "EEE")` seeded from `seed`, and the labels
#' are refined in R by a majority vote over each spot's `refineNeighbors` nearest spots
#' (BiocNeighbors; equidistant spots are taken in the order of their index, so the result does
#' not depend on the neighbour search).
#'
#' @section Input:
#' * **SpatialExperiment / SingleCellExperiment**: raw counts from `assay(x, assay)`. Spatial
#'   coordinates come from `coords` when given (the names of two `colData` columns, or an N x 2
#'   matrix), else from the first of: `spatialCoords(x)` (SpatialExperiment);
#'   `reducedDim(x, "spatial")`; the `colData` columns `array_row`/`array_col`,
#'   `x_coord`/`y_coord` or `x`/`y`. Any other columns are named with `coords`, e.g.
#'   `coords = c("pxl_row_in_fullres", "pxl_col_in_fullres")`. A message says which coordinates
#'   were used; when every spot has the same position the run stops, naming them.
#' * **Seurat** (when SeuratObject is installed): raw counts from the `counts` slot of Seurat assay
#'   `assay` (default: the default assay); coordinates from `coords`, else
#'   `GetTissueCoordinates()` of the object's images, else the `meta.data` columns listed above.
#' * **matrix / sparse Matrix / DelayedArray**: genes x spots raw counts with `coords` an N x 2
#'   numeric matrix; `sampleId` and `librarySize` are then vectors (one value per spot) or `NULL`.
#'
#' Gene names (rownames) must be unique: make them so with `make.unique()` or
#' `scuttle::uniquifyFeatureNames()`.
#'
#' Objects with several samples (a `sample_id` column, or the column named by `sampleId`) are run
#' per sample, each with its own spatial graph, model and clustering, in parallel with `BPPARAM`.
#' Domain labels `1..nClusters` are then per sample (label 3 of one sample is not label 3 of
#' another).
#'
#' @section Results:
#' For a SingleCellExperiment / SpatialExperiment, with the default `name = "DiffusionST"`:
#' * `colData(x)$DiffusionST_domain`: the refined domains (factor);
#' * `reducedDim(x, "DiffusionST")`: the embedding that mclust clustered (spots x `n_pcs`: 10 with
#'   the `fast` preset, 20 with `paper`; columns
#'   `DiffusionST_1`, ...);
#' * `altExp(x, "DiffusionST")`: a SingleCellExperiment whose assay `"enhanced"` holds the
#'   diffusion-enhanced expression of the selected genes (for several samples: the union of the
#'   genes selected per sample, `NA` where a gene was not selected in a sample), when it is
#'   returned (see `returnEnhanced`; otherwise an earlier run's under this name is removed);
#' * `metadata(x)$DiffusionST`: parameters, seed, coordinates and library sizes used, timings
#'   (seconds) and versions.
#'
#' For a Seurat object: the `meta.data` column `DiffusionST_domain`, the DimReduc
#' `tolower(name)` (`"diffusionst"`, key `DiffusionST_`), the assay `name` holding the enhanced
#' expression when it is returned (with several samples, 0 where a gene was not selected in a sample: a Seurat assay
#' cannot hold `NA`), and `Misc(x, name)`. `name` must be one that Seurat keeps as it is (a letter,
#' then letters, digits, `.` or `_`) and hold an upper-case letter (the assay and the reduction
#' cannot share a name); the keys are `name` without `.` and `_`, followed by `_`, in lower case for
#' the assay, and must not be used by another part of the object.
#'
#' Results replace only those of an earlier DiffusionST run of the same `name` (its metadata
#' says so): a column, reduced dimension, alternative experiment, assay, reduction, metadata entry
#' or key of that name holding anything else stops the run before any work. Nothing else in the
#' object changes, and nothing is written when the run fails.
#'
#' For a matrix, a list with `domains`, `embedding`, `enhanced` (genes x spots, or `NULL` when not
#' returned) and `metadata`.
#'
#' @section Seeding:
#' `seed` is passed to the engine (all its random steps) and seeds R's random number generator
#' (default RNG kinds) for `Mclust`, exactly as a Python-first run does through rpy2, so R and
#' Python give the same domains for the same seed and settings. The caller's random stream is
#' restored afterwards. On more than 2000 spots `Mclust` starts EM from a hierarchical clustering
#' of 2000 spots drawn at random (mclust's default, and DiffusionST's); the engine setting
#' `mclust_start = "all"` (through `...`) starts it from every spot, so that the clustering no
#' longer depends on `seed`, at a cost in time and memory that grows with the square of the
#' number of spots. Results are bitwise reproducible for the same seed, settings, number of
#' torch CPU threads, BLAS and CPU model; a different thread count, BLAS or CPU (torch picks its
#' CPU kernels by instruction set) changes the order of floating-point sums, which can move the
#' embedding by about 1e-3 and, through mclust's start, the domains. Hosted by R, torch's matrix products use R's BLAS, so a standalone Python run
#' matches an R run exactly only when it uses the same BLAS (see the README, "R and BLAS").
#'
#' @param x A SpatialExperiment, SingleCellExperiment, Seurat object, or a genes x spots counts
#'   matrix (dense, sparse `Matrix` or `DelayedArray`).
#' @param nClusters Number of spatial domains (mclust components), from 2 to the number of spots
#'   minus one (the second argument when not named).
#' @param assay For SingleCellExperiment: the assay holding raw counts (`"counts"`). For Seurat:
#'   the Seurat assay whose counts slot is used (default: `DefaultAssay(x)`).
#' @param coords `NULL` (find coordinates, see Input), two column names of `colData(x)` /
#'   `meta.data`, or an N x 2 numeric matrix (required for the matrix method).
#' @param sampleId Column holding sample labels (default `"sample_id"`, ignored when absent), or
#'   one label per spot, or `NULL` to treat all spots as one sample.
#' @param preset Engine preset: `"auto"` (choose by size/device), `"fast"`, `"paper"`, ... (see
#'   the engine documentation).
#' @param device Torch device: `"auto"`, `"cpu"`, `"cuda"`, `"mps"`.
#' @param seed Non-negative whole number seeding the engine and mclust.
#' @param librarySize `NULL` (default), a column of `colData(x)` / `meta.data`, or one number per
#'   spot: each spot's UMI total over the **whole transcriptome**, for data that hold only some
#'   genes (e.g. spatialLIBD's `sum_umi`). DiffusionST normalises each spot by its library size over
#'   all genes; without this, the totals over the genes present stand in for it. Without the
#'   totals, the engine settings `library_share` (the genes' share of the whole transcriptome) and
#'   `library_genes = "stable"` (sum over the genes present that vary least), passed through `...`,
#'   bring that stand-in closer to them (see the engine's `DiffusionSTConfig`).
#' @param returnEnhanced Return the enhanced expression (genes x spots; see Results): `TRUE`,
#'   `FALSE`, or `NULL` (default) for only up to 50,000 spots in all (the engine's
#'   `AUTO_ENHANCED_MAX_SPOTS`), where it takes about 1.6 GB as doubles at 4096 genes; above that
#'   a message says it was left out and how to get it. The domains and embedding do not depend on it.
#' @param refine Refine the mclust labels by a spatial majority vote (`TRUE`, as DiffusionST).
#' @param refineNeighbors Neighbourhood size of the refinement (50 in DiffusionST).
#' @param name Name under which results are stored (see Results).
#' @param BPPARAM A BiocParallel backend for running several samples; default serial. For several
#'   samples, backends that fork R (`MulticoreParam`, `SnowParam(type = "FORK")`) are refused: the
#'   engine's threads do not survive a fork. `SnowParam(workers)` runs samples in new R processes.
#' @param verbose Show progress messages (and the engine's progress bars).
#' @param ... Further engine settings passed to
#'   `spatialdiffusion.diffusionst_arrays()`, e.g. `gcn_epochs` or
#'   `train_epochs` for quick runs (see the engine's `DiffusionSTConfig`). Engine arguments that
#'   the arguments above set (such as `refine_neighbors`) are refused, and so is `NA`.
#'   The object methods pass the matrix method's arguments (all but `x`, `coords`, `sampleId`,
#'   `librarySize`, `name` and `verbose`, which they take themselves) through `...` too.
#' @return `x` with the results added (see Results), or a list for the matrix method.
#' @seealso [domainMetrics()], [plotDomains()], [loadExampleDLPFC()]
#' @examples
#' sce <- loadExampleDLPFC()
#' if (pythonAvailable()) {
#'     ## a corner of the slice and tiny settings, to run in seconds on a CPU;
#'     ## real analyses use the whole slice and the default settings
#'     small <- sce[, sce$array_row < 16 & sce$array_col < 60]
#'     small <- runDiffusionST(small, nClusters = 3, seed = 1, verbose = FALSE,
#'         n_top_genes = 64L, gcn_epochs = 5L, train_epochs = 1L, batch_size = 256L,
#'         unet_channels = 4L, sampling_steps = 1L, n_candidates = 2L, n_keep = 1L)
#'     table(small$DiffusionST_domain)
#'     S4Vectors::metadata(small)$DiffusionST$coordinates
#' }
#' @include AllGenerics.R
#' @name runDiffusionST
#' @aliases runDiffusionST,ANY-method runDiffusionST,SingleCellExperiment-method
#'   runDiffusionST,Seurat-method
NULL

## The core: a genes x spots counts matrix (dense, sparse, DelayedArray) and its coordinates. It is
## the "ANY" method, and the object methods call it after extracting their inputs.
.runDiffusionSTCore <- function(x, nClusters = 7, coords = NULL, sampleId = NULL, preset = "auto",
    device = "auto", seed = 0L, librarySize = NULL, returnEnhanced = NULL, refine = TRUE,
    refineNeighbors = 50L, name = "DiffusionST", BPPARAM = BiocParallel::SerialParam(),
    verbose = TRUE, ...) {
    .checkMatrixLike(x, "spots")
    counts <- .checkCounts(x, "The counts matrix `x`",
        "Pass raw integer counts, genes in rows and spots in columns.")
    .geneNames(counts)
    if (!is.matrix(coords) && !is.data.frame(coords)) {
        .abort("For a counts matrix, {.arg coords} must be an N x 2 numeric matrix of spot
            coordinates (one row per column of {.arg x}).")
    }
    source <- attr(coords, "source")
    if (is.null(source)) source <- "the `coords` argument"
    coords <- .checkCoordMatrix(coords, ncol(counts), source, colnames(counts))
    samples <- .sampleLabels(sampleId, ncol(counts))
    libSize <- .librarySizes(librarySize, counts)
    name <- .checkString(name, "name")
    settings <- .checkRunSettings(preset, device, seed, verbose)
    engineArgs <- .engineOverrides(list(...), .DIFFUSIONST_ARGS)
    refine <- .checkFlag(refine, "refine")
    if (!is.null(returnEnhanced)) returnEnhanced <- .checkFlag(returnEnhanced, "returnEnhanced")
    refineNeighbors <- .checkWhole(refineNeighbors, "refineNeighbors", 1)
    groups <- .sampleGroups(ncol(counts), samples)
    nClusters <- .checkNClusters(nClusters, min(lengths(groups)))
    .checkBPPARAM(BPPARAM, length(groups))
    .checkEngine()
    .adviseBLAS(settings$verbose)
    keepEnhanced <- .keepEnhanced(returnEnhanced, ncol(counts), settings$verbose)
    start <- proc.time()[["elapsed"]]
    if (length(groups) > 1L) {
        .say(settings$verbose, "DiffusionST: {length(groups)} samples, run one by one
            ({class(BPPARAM)[1]}).")
    }
    runs <- .runGroups(.sampleParts(groups, counts, coords, libSize), .diffusionstPart, BPPARAM,
        nClusters = nClusters, settings = settings, refine = refine,
        refineNeighbors = refineNeighbors, keepEnhanced = keepEnhanced, engineArgs = engineArgs)
    names(runs) <- names(groups)

    cells <- colnames(counts)  # NULL for an object without column names
    genes <- rownames(counts)
    nPcs <- ncol(runs[[1]]$embedding)
    embedding <- matrix(NA_real_, ncol(counts), nPcs,
        dimnames = list(cells, paste0(name, "_", seq_len(nPcs))))
    selected <- genes[sort(unique(unlist(lapply(runs, `[[`, "geneIndex"))))]
    enhanced <- if (keepEnhanced) {
        matrix(NA_real_, length(selected), ncol(counts), dimnames = list(selected, cells))
    }
    domains <- integer(ncol(counts))
    for (s in names(groups)) {
        idx <- groups[[s]]
        embedding[idx, ] <- runs[[s]]$embedding
        if (keepEnhanced) enhanced[genes[runs[[s]]$geneIndex], idx] <- t(runs[[s]]$enhanced)
        domains[idx] <- runs[[s]]$domains
    }

    meta <- runs[[1]]$metadata
    meta$coordinates <- source
    meta$librarySize <- if (is.null(libSize)) "totals over the genes given" else
        attr(libSize, "source")
    meta$nSpots <- ncol(counts)
    meta$nGenesInput <- length(genes)
    meta$nGenesSelected <- length(selected)
    meta$returnEnhanced <- keepEnhanced
    if (length(groups) > 1L) {
        meta$samples <- lapply(runs, `[[`, "metadata")
        meta$timings <- list(total = proc.time()[["elapsed"]] - start)
    } else {
        meta$timings$total <- proc.time()[["elapsed"]] - start
    }
    list(domains = factor(domains, levels = sort(unique(domains))), embedding = embedding,
        enhanced = enhanced, metadata = meta)
}

## Whether the enhanced matrix is returned: `returnEnhanced` (checked), or for NULL whether the
## spots of all samples together are at most the engine's AUTO_ENHANCED_MAX_SPOTS.
.keepEnhanced <- function(returnEnhanced, nSpots, verbose) {
    if (!is.null(returnEnhanced)) {
        if (!returnEnhanced) .say(verbose, "DiffusionST: the enhanced expression is not returned
            ({.code returnEnhanced = FALSE}).")
        return(returnEnhanced)
    }
    limit <- .py("engine")$AUTO_ENHANCED_MAX_SPOTS
    if (nSpots <= limit) return(TRUE)
    cli::cli_inform("DiffusionST: {nSpots} spots is more than {limit}, so the enhanced expression
        is not returned (no altExp or assay is added); the domains and embedding are. Pass
        {.code returnEnhanced = TRUE} to keep it.")
    FALSE
}

#' @rdname runDiffusionST
#' @export
setMethod("runDiffusionST", "ANY", .runDiffusionSTCore)

#' @rdname runDiffusionST
#' @export
setMethod("runDiffusionST", "SingleCellExperiment", function(x, ..., assay = "counts",
    coords = NULL, sampleId = "sample_id", librarySize = NULL, name = "DiffusionST",
    verbose = TRUE) {
    name <- .checkSCEResultName(x, name, "DiffusionST", withDomains = TRUE)
    cd <- SummarizedExperiment::colData(x)
    res <- .runDiffusionSTCore(.countsSCE(x, assay), ...,
        coords = .coordsSCE(x, coords, verbose), sampleId = .sampleIds(cd, sampleId, ncol(x)),
        librarySize = .librarySizeColumn(cd, librarySize), name = name, verbose = verbose)

    ## Build every piece first, then assign: a failure leaves `x` untouched.
    enh <- NULL  # no enhanced expression: an earlier run's altExp of this name is removed
    if (!is.null(res$enhanced)) {
        enh <- SingleCellExperiment::SingleCellExperiment(list(enhanced = res$enhanced))
        rd <- SummarizedExperiment::rowData(x)
        if (ncol(rd)) {
            SummarizedExperiment::rowData(enh) <- rd[rownames(res$enhanced), , drop = FALSE]
        }
    }
    md <- S4Vectors::metadata(x)
    md[[name]] <- res$metadata
    x[[paste0(name, "_domain")]] <- res$domains
    reducedDim(x, name) <- res$embedding
    if (!is.null(enh) || name %in% SingleCellExperiment::altExpNames(x)) altExp(x, name) <- enh
    S4Vectors::metadata(x) <- md
    x
})

## The Seurat method (registered by .registerSeuratMethods() once SeuratObject is loaded).
.runDiffusionSTSeurat <- function(x, ..., assay = NULL, coords = NULL, sampleId = "sample_id",
    librarySize = NULL, name = "DiffusionST", verbose = TRUE) {
    slots <- .seuratResultSlots(x, name, "DiffusionST", withReduction = TRUE)
    if (is.null(assay)) assay <- SeuratObject::DefaultAssay(x)
    md <- x[[]]
    res <- .runDiffusionSTCore(.countsSeurat(x, assay), ...,
        coords = .coordsSeurat(x, coords, verbose), sampleId = .sampleIds(md, sampleId, ncol(x)),
        librarySize = .librarySizeColumn(md, librarySize), name = name, verbose = verbose)

    colnames(res$embedding) <- paste0(slots$reductionKey, seq_len(ncol(res$embedding)))
    reduction <- SeuratObject::CreateDimReducObject(embeddings = res$embedding,
        key = slots$reductionKey, assay = assay)
    newAssay <- NULL  # no enhanced expression: an earlier run's assay of this name is removed
    if (!is.null(res$enhanced)) {
        enhanced <- res$enhanced
        enhanced[is.na(enhanced)] <- 0  # a Seurat assay cannot hold NA
        newAssay <- .resultAssay(enhanced, slots)
    }
    x[[slots$column]] <- res$domains
    if (!is.null(newAssay) || slots$assay %in% SeuratObject::Assays(x)) x[[slots$assay]] <- newAssay
    x[[slots$reduction]] <- reduction
    SeuratObject::Misc(x, name) <- res$metadata
    x
}

## One sample's part (.sampleParts()), for .runGroups().
.diffusionstPart <- function(part, ...) {
    .diffusionstOne(part$counts, part$coords, libSize = part$libSize, sample = part$sample, ...)
}

## One sample: the engine (embedding), then mclust and the refinement in R.
.diffusionstOne <- function(counts, coords, nClusters, settings, libSize, refine, refineNeighbors,
    keepEnhanced, engineArgs, sample = NULL) {
    verbose <- settings$verbose
    label <- if (is.null(sample)) "DiffusionST" else paste0("DiffusionST [", sample, "]")
    .say(verbose, "{label}: {ncol(counts)} spots x {nrow(counts)} genes; running the engine
        (preset = \"{settings$preset}\", device = \"{settings$device}\", seed =
        {settings$seed})...")
    t0 <- proc.time()[["elapsed"]]
    args <- c(list(counts = .countsForEngine(counts), coords = unname(coords),
        gene_names = as.list(rownames(counts)), n_clusters = nClusters, preset = settings$preset,
        device = settings$device, seed = settings$seed, cluster = FALSE, verbose = verbose,
        library_size = if (!is.null(libSize)) array(libSize),
        refine_neighbors = if (refine) refineNeighbors else 0L, return_enhanced = keepEnhanced),
        engineArgs)
    res <- .callEngine("engine", "diffusionst_arrays", args)
    tEngine <- proc.time()[["elapsed"]] - t0
    embedding <- .asMatrix(res[["embedding"]])
    params <- .asList(res[["params"]])

    .say(verbose, "{label}: clustering the embedding with mclust (EEE, G = {nClusters}, seed =
        {settings$seed})...")
    t1 <- proc.time()[["elapsed"]]
    labels <- .mclustSeeded(embedding, nClusters, settings$seed, params[["mclust_start"]])
    tMclust <- proc.time()[["elapsed"]] - t1
    t2 <- proc.time()[["elapsed"]]
    if (refine) {
        .say(verbose, "{label}: refining domains ({refineNeighbors} nearest spots)...")
        labels <- .refineLabels(labels, coords, refineNeighbors)
    }
    tRefine <- proc.time()[["elapsed"]] - t2

    meta <- list(
        method = "DiffusionST",
        nClusters = nClusters,
        seed = settings$seed,
        preset = settings$preset,
        device = settings$device,
        clustering = list(method = "mclust::Mclust", modelNames = "EEE",
            start = params[["mclust_start"]], runIn = "R"),
        refine = refine,
        refineNeighbors = refineNeighbors,
        engineArgs = engineArgs,
        params = params,
        timings = c(.asList(res[["timings"]]), list(engineCall = tEngine, mclust = tMclust,
            refine = tRefine)),
        versions = c(.asList(res[["versions"]]), .versionsR())
    )
    list(embedding = embedding, enhanced = if (keepEnhanced) .asMatrix(res[["enhanced"]]),
        geneIndex = as.integer(.asList(res[["hvg_index"]])) + 1L, domains = labels,
        metadata = meta)
}

## mclust in R on the engine's embedding, seeded and started exactly like the engine's rpy2 path:
## R's default RNG kinds and set.seed(seed), the caller's random stream restored afterwards;
## `start = "all"` starts EM from a hierarchical clustering of every spot instead of a random 2000.
.mclustSeeded <- function(embedding, nClusters, seed, start = "subset") {
    initialization <- if (identical(start, "all")) list(subset = seq_len(nrow(embedding))) else
        list()
    fit <- withr::with_seed(seed,
        Mclust(embedding, G = nClusters, modelNames = "EEE", verbose = FALSE,
            initialization = initialization),
        .rng_kind = "Mersenne-Twister", .rng_normal_kind = "Inversion",
        .rng_sample_kind = "Rejection")
    if (is.null(fit)) {
        .abort("mclust could not fit {nClusters} clusters (model EEE) to the DiffusionST
            embedding; try another {.arg nClusters} or {.arg seed}.")
    }
    as.integer(fit$classification)
}

## Engine arguments that runDiffusionST() sets itself, with the R argument that sets each.
.DIFFUSIONST_ARGS <- c(counts = "x", coords = "coords", gene_names = "x", n_clusters = "nClusters",
    preset = "preset", device = "device", seed = "seed", cluster = "(none: R runs mclust)",
    verbose = "verbose", library_size = "librarySize", refine_neighbors = "refineNeighbors",
    return_enhanced = "returnEnhanced")
