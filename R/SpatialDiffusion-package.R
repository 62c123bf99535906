#' SpatialDiffusion: diffusion models for spatial transcriptomics in R
#'
#' Runs two published diffusion-model methods on SpatialExperiment, SingleCellExperiment,
#' Seurat objects or a counts matrix with coordinates, and stores the results in the object:
#' * [runDiffusionST()]: DiffusionST spatial domains (enhanced expression, embedding, mclust
#'   clustering in R, spatial refinement);
#' * [runSpaLSTF()] and [evaluateSpaLSTF()]: SpaLSTF imputation of unmeasured genes from a
#'   single-cell reference, and its cross-validated evaluation;
#' * [domainMetrics()] and [plotDomains()] to score and show domains.
#'
#' The models run in the Python engine `spatialdiffusion` (PyTorch) through reticulate. Loading
#' the package never starts Python; see [spatialDiffusionPython()] for how the interpreter is
#' chosen and [installSpatialDiffusion()] for the one-time setup.
#'
#' @keywords internal
#' @import methods
#' @importFrom mclust Mclust mclustBIC
#' @importFrom S4Vectors DataFrame metadata metadata<-
#' @importFrom SummarizedExperiment colData colData<- assay assayNames
#' @importFrom ggplot2 .data
#' @importFrom SingleCellExperiment SingleCellExperiment reducedDim reducedDim<- altExp altExp<-
#' @importClassesFrom SingleCellExperiment SingleCellExperiment
#' @importClassesFrom SummarizedExperiment SummarizedExperiment
"_PACKAGE"
