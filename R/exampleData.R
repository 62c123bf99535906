#' Small real example data shipped with the package
#'
#' * `loadExampleDLPFC()`: human dorsolateral prefrontal cortex, 10x Visium slice 151673
#'   (Maynard et al. 2021, spatialLIBD): raw UMI counts of 5000 variable genes (Ensembl IDs) for
#'   the 3639 in-tissue spots, with `colData` columns `array_row`, `array_col`,
#'   `pxl_row_in_fullres`, `pxl_col_in_fullres`, the manual annotation
#'   `layer_guess_reordered` (Layer1..Layer6, WM; `NA` for unannotated spots) and `sum_umi`, each
#'   spot's UMI total over the whole transcriptome (pass `librarySize = "sum_umi"` to
#'   [runDiffusionST()], since the counts hold 5000 genes). DiffusionST uses 7 domains on this slice.
#' * `loadExampleOsmFISH()`: the SpaLSTF benchmark pair: osmFISH mouse somatosensory cortex
#'   (Codeluppi et al. 2018; 3405 cells x 33 genes, `colData` columns `x_coord`, `y_coord`) and
#'   the Allen mouse cortex SMART-seq reference (Tasic et al. 2016, 2018; 5613 cells, the same 33
#'   genes).
#'
#' The files live in `system.file("extdata", package = "SpatialDiffusion")` in a format that R
#' and the Python engine both read (xz-compressed MatrixMarket and CSV); see the README there.
#'
#' @param spatialExperiment Return a SpatialExperiment (pixel coordinates as `spatialCoords`)
#'   instead of a SingleCellExperiment; needs the SpatialExperiment package.
#' @return `loadExampleDLPFC()`: a SingleCellExperiment (or SpatialExperiment) with assay
#'   `counts` (sparse). `loadExampleOsmFISH()`: a list with SingleCellExperiments `spatial` and
#'   `reference` (assay `counts`).
#' @references
#' Maynard KR et al. (2021) Transcriptome-scale spatial gene expression in the human dorsolateral
#' prefrontal cortex. Nat Neurosci 24:425-436.
#'
#' Codeluppi S et al. (2018) Spatial organization of the somatosensory cortex revealed by
#' osmFISH. Nat Methods 15:932-935.
#'
#' Tasic B et al. (2016) Adult mouse cortical cell taxonomy revealed by single cell
#' transcriptomics. Nat Neurosci 19:335-346.
#' @examples
#' spe <- loadExampleDLPFC()
#' spe
#' table(spe$layer_guess_reordered, useNA = "ifany")
#' ex <- loadExampleOsmFISH()
#' ex$spatial
#' @name exampleData
NULL

.extdata <- function(...) {
    path <- system.file("extdata", ..., package = "SpatialDiffusion")
    if (!nzchar(path)) {
        stop("The example file ", file.path(...), " is missing from the installed package.",
            call. = FALSE)
    }
    path
}

## A MatrixMarket file of counts ("coordinate" format, as scripts/make_extdata.py writes it) as a
## dgCMatrix; reading the triplets with scan() takes half the time of Matrix::readMM().
.readCountsMM <- function(file) {
    con <- xzfile(file, "rt")
    on.exit(close(con))
    header <- readLines(con, 1L)
    if (!grepl("^%%MatrixMarket matrix coordinate (integer|real) general", header)) {
        stop("The example file ", basename(file), " is not a MatrixMarket coordinate matrix.",
            call. = FALSE)
    }
    repeat {
        line <- readLines(con, 1L)
        if (!startsWith(line, "%")) break
    }
    dims <- as.integer(strsplit(trimws(line), "[[:space:]]+")[[1]])
    triplets <- scan(con, what = list(integer(), integer(), numeric()), quiet = TRUE)
    Matrix::sparseMatrix(i = triplets[[1]], j = triplets[[2]], x = triplets[[3]],
        dims = dims[1:2])
}

#' @rdname exampleData
#' @export
loadExampleDLPFC <- function(spatialExperiment = FALSE) {
    dir <- .extdata("dlpfc_151673")
    counts <- .readCountsMM(file.path(dir, "counts.mtx.xz"))
    genes <- utils::read.csv(file.path(dir, "genes.csv.xz"), stringsAsFactors = FALSE)
    spots <- utils::read.csv(file.path(dir, "spots.csv.xz"), stringsAsFactors = FALSE,
        na.strings = c("NA", ""))
    rownames(counts) <- genes$gene_id
    colnames(counts) <- spots$barcode
    cd <- S4Vectors::DataFrame(spots[, setdiff(colnames(spots), "barcode"), drop = FALSE],
        row.names = spots$barcode)
    if ("layer_guess_reordered" %in% colnames(cd)) {
        lv <- sort(unique(stats::na.omit(cd$layer_guess_reordered)))
        cd$layer_guess_reordered <- factor(cd$layer_guess_reordered, levels = lv)
    }
    rd <- S4Vectors::DataFrame(genes, row.names = genes$gene_id)
    if (isTRUE(spatialExperiment)) {
        if (!requireNamespace("SpatialExperiment", quietly = TRUE)) {
            stop("`spatialExperiment = TRUE` needs the SpatialExperiment package.", call. = FALSE)
        }
        return(SpatialExperiment::SpatialExperiment(assays = list(counts = counts), colData = cd,
            rowData = rd, spatialCoordsNames = c("pxl_col_in_fullres", "pxl_row_in_fullres"),
            sample_id = "151673"))
    }
    SingleCellExperiment::SingleCellExperiment(list(counts = counts), colData = cd, rowData = rd)
}

#' @rdname exampleData
#' @export
loadExampleOsmFISH <- function() {
    read <- function(file) {
        tab <- utils::read.csv(.extdata("osmfish", file), check.names = FALSE,
            stringsAsFactors = FALSE, colClasses = c(cell = "character"))
        coordCols <- intersect(c("x_coord", "y_coord"), colnames(tab))
        geneCols <- setdiff(colnames(tab), c("cell", coordCols))
        counts <- t(as.matrix(tab[, geneCols, drop = FALSE]))
        dimnames(counts) <- list(geneCols, tab$cell)
        counts <- methods::as(counts, "CsparseMatrix")
        cd <- S4Vectors::DataFrame(tab[, coordCols, drop = FALSE], row.names = tab$cell)
        SingleCellExperiment::SingleCellExperiment(list(counts = counts), colData = cd)
    }
    list(spatial = read("osmfish_st.csv.xz"), reference = read("allen_ref.csv.xz"))
}
