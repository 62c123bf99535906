## One generic per verb, dispatching on `x` alone. Each has a core on a plain counts matrix (the
## "ANY" method) and thin methods for SingleCellExperiment and, once SeuratObject is loaded,
## Seurat (R/seurat.R) that extract the inputs, call the core and store the results.

#' @rdname runDiffusionST
#' @export
setGeneric("runDiffusionST", function(x, ...) standardGeneric("runDiffusionST"))

#' @rdname runSpaLSTF
#' @export
setGeneric("runSpaLSTF", function(x, reference, ...) standardGeneric("runSpaLSTF"),
    signature = "x")

#' @rdname evaluateSpaLSTF
#' @export
setGeneric("evaluateSpaLSTF", function(x, reference, ...) standardGeneric("evaluateSpaLSTF"),
    signature = "x")
