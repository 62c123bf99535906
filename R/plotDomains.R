#' Plot spatial domains on the tissue
#'
#' Draws each spot at its spatial coordinates, coloured by domain; with `truth`, the ground truth
#' is drawn in a second panel side by side with the same layout. Coordinates are found as in
#' [runDiffusionST()] (or given with `coords`). The y axis is reversed so that array/pixel
#' coordinates (row 0 at the top) show the tissue the right way up.
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
        crd <- .coordsSeurat(x, coords, verbose = FALSE)$coords
    } else if (methods::is(x, "SingleCellExperiment")) {
        df <- as.data.frame(SummarizedExperiment::colData(x))
        crd <- .coordsSCE(x, coords, verbose = FALSE)$coords
    } else {
        stop("`x` must be a SingleCellExperiment, SpatialExperiment or Seurat object.",
            call. = FALSE)
    }
    for (arg in c("domain", if (!is.null(truth)) "truth")) {
        v <- get(arg)
        if (!is.character(v) || length(v) != 1L || !v %in% colnames(df)) {
            stop("`", arg, "` must name a column of the cell annotations; ",
                dQuote(format(v)[1], FALSE), " is not one",
                if (arg == "domain") " (run runDiffusionST() first?)", ".", call. = FALSE)
        }
    }
    samples <- .sampleIds(df, sampleId, nrow(df))
    panel <- function(col, label) {
        data.frame(x = crd[, 2], y = crd[, 1], label = as.character(df[[col]]),
            panel = label, sample = if (is.null(samples)) "" else samples,
            stringsAsFactors = FALSE)
    }
    long <- panel(domain, domain)
    if (!is.null(truth)) {
        long <- rbind(panel(truth, truth), long)
        if (is.null(title)) {
            m <- tryCatch(domainMetrics(NULL, df[[truth]], df[[domain]]), error = function(e) NULL)
            if (!is.null(m)) title <- sprintf("ARI = %.3f (%d spots with ground truth)",
                m[["ARI"]], as.integer(m[["nScored"]]))
        }
    }
    long$panel <- factor(long$panel, levels = unique(long$panel))
    lv <- unique(long$label)
    long$label <- factor(long$label, levels = c(sort(setdiff(lv, NA)), if (anyNA(lv)) NA))
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
