#' @rdname runDiffusionST
#' @export
setGeneric("runDiffusionST", function(x, ...) standardGeneric("runDiffusionST"))

#' @rdname runSpaLSTF
#' @export
setGeneric("runSpaLSTF", function(x, reference, ...) standardGeneric("runSpaLSTF"))

#' @rdname evaluateSpaLSTF
#' @export
setGeneric("evaluateSpaLSTF", function(x, reference, ...) standardGeneric("evaluateSpaLSTF"))
