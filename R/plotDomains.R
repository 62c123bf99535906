#' Plot spatial domains on the tissue
#'
#' Draws each spot at its spatial coordinates, coloured by domain; with `truth`, the ground truth
#' is drawn in a second panel side by side with the same layout. Coordinates are found as in
#' [runDiffusionST()] (or given with `coords`). A pair whose first column names a row
#' (`array_row`/`array_col`, `imagerow`/`imagecol`, `pxl_row_in_fullres`/...) is read as
#' (row, column); any other pair, such as `spatialCoords()`, `x`/`y` or an unnamed matrix, as
#' (x, y). The y axis is reversed so that array/pixel coordinates (row 0 at the top) show the
#' tissue the right way up.
#'
#' @param x A SingleCellExperiment / SpatialExperiment or Seurat object.
#' @param domain Column of `colData(x)` / `meta.data` holding the domains to plot.
#' @param truth Optional column holding ground-truth labels, drawn in a second panel.
#' @param coords Coordinates, as in [runDiffusionST()].
#' @param sampleId Column of sample labels; with several samples each gets its own row of panels.
#' @param pointSize Size of the points.
#' @param title Optional plot title; by default the ARI against `truth` when `truth` is given.
#' @return A ggplot object.
#' @seealso [runDiffusionST()], [domainMetrics()]
#' @examples
#' sce <- loadExampleDLPFC()
#' plotDomains(sce, domain = "layer_guess_reordered")
#' @export
plotDomains <- function(x, domain = "DiffusionST_domain", truth = NULL, coords = NULL,
    sampleId = "sample_id", pointSize = 1, title = NULL) {
    if (.isSeurat(x)) {
        df <- x[[]]
        crd <- .coordsSeurat(x, coords, verbose = FALSE)
    } else if (methods::is(x, "SingleCellExperiment")) {
        df <- as.data.frame(SummarizedExperiment::colData(x))
        crd <- .coordsSCE(x, coords, verbose = FALSE)
    } else {
        stop("`x` must be a SingleCellExperiment, SpatialExperiment or Seurat object.",
            call. = FALSE)
    }
    crd <- .checkCoordMatrix(crd, nrow(df), attr(crd, "source"))
    labels <- list()  # one panel per labelling: the truth first, when given
    if (!is.null(truth)) labels[[truth]] <- .annotationColumn(df, truth, "truth")
    labels[[domain]] <- .annotationColumn(df, domain, "domain", " (run runDiffusionST() first?)")
    .assert(checkmate::check_number(pointSize, lower = .Machine$double.xmin), "pointSize",
        "a single positive number")
    samples <- .sampleIds(df, sampleId, nrow(df))
    xy <- if (.rowFirst(crd)) crd[, 2:1] else crd[, 1:2]
    long <- do.call(rbind, lapply(names(labels), function(panel) {
        data.frame(x = xy[, 1], y = xy[, 2], label = as.character(labels[[panel]]), panel = panel,
            sample = if (is.null(samples)) "" else samples, stringsAsFactors = FALSE)
    }))
    if (!is.null(truth) && is.null(title)) {
        m <- tryCatch(domainMetrics(NULL, df[[truth]], df[[domain]]), error = function(e) NULL)
        if (!is.null(m)) title <- sprintf("ARI = %.3f (%d spots with ground truth)",
            m[["ARI"]], as.integer(m[["nScored"]]))
    }
    long$panel <- factor(long$panel, levels = names(labels))
    long$label <- factor(long$label, levels = .labelLevels(labels))
    p <- ggplot2::ggplot(long, ggplot2::aes(x = .data$x, y = .data$y, colour = .data$label)) +
        ggplot2::geom_point(size = pointSize) +
        ggplot2::scale_y_reverse() +
        ggplot2::coord_fixed() +
        ggplot2::labs(colour = NULL, x = NULL, y = NULL, title = title) +
        ggplot2::theme_void() +
        ggplot2::theme(strip.text = ggplot2::element_text(size = 11)) +
        ggplot2::guides(colour = ggplot2::guide_legend(override.aes = list(size = 3)))
    if (is.null(samples)) {
        p + ggplot2::facet_wrap(~panel)
    } else {
        p + ggplot2::facet_grid(sample ~ panel)
    }
}

## Legend order: the factor levels of each labelling when it has them, else numbers in numeric
## order (1, 2, ..., 10) and text alphabetically; NA last.
.labelLevels <- function(labels) {
    lv <- unique(unlist(lapply(labels, function(l) {
        if (is.factor(l)) return(levels(l))
        u <- unique(as.character(l[!is.na(l)]))
        num <- suppressWarnings(as.numeric(u))
        if (!anyNA(num)) u[order(num)] else sort(u)
    })))
    c(lv, if (any(vapply(labels, anyNA, TRUE))) NA)
}
