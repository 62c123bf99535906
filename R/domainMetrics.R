#' Agreement between spatial domains and a ground truth
#'
#' Adjusted Rand index (ARI), adjusted mutual information (AMI), normalised mutual information
#' (NMI) and homogeneity of predicted domains with respect to a reference labelling. Spots whose
#' reference label is missing (`NA`, or the strings `"NA"`, `"nan"`, `"none"`, `"null"`, `""`, in
#' any case) are excluded first, as
#' in the DiffusionST evaluation of the DLPFC slices. NMI and AMI use the arithmetic mean of the
#' entropies (scikit-learn's default, as the engine's metrics); homogeneity is 1 when every
#' predicted domain holds a single reference label. Computed in R: no Python needed.
#'
#' @param x A SingleCellExperiment / SpatialExperiment or Seurat object (then `truth` and `pred`
#'   name columns of `colData(x)` / `meta.data`), a data frame (columns), or `NULL` (then `truth`
#'   and `pred` are the label vectors themselves).
#' @param truth Reference labels, or the name of the column holding them.
#' @param pred Predicted labels, or the name of the column holding them (default
#'   `"DiffusionST_domain"`).
#' @return A named numeric vector: `ARI`, `AMI`, `NMI`, `homogeneity` and `nScored` (spots with a
#'   reference label).
#' @seealso [runDiffusionST()]
#' @examples
#' truth <- c("L1", "L1", "L2", "L2", NA, "L3")
#' pred <- c(1, 1, 2, 2, 2, 2)
#' domainMetrics(NULL, truth, pred)
#' @export
domainMetrics <- function(x, truth, pred = "DiffusionST_domain") {
    if (!is.null(x)) {
        df <- if (methods::is(x, "SummarizedExperiment")) {
            SummarizedExperiment::colData(x)
        } else if (.isSeurat(x)) {
            x[[]]
        } else if (is.data.frame(x) || methods::is(x, "DataFrame")) {
            x
        } else {
            .abort("{.arg x} must be a SingleCellExperiment, SpatialExperiment, Seurat object, data
                frame, or NULL.")
        }
        truth <- .annotationColumn(df, truth, "truth")
        pred <- .annotationColumn(df, pred, "pred", " (run runDiffusionST() first?)")
    }
    .assert(checkmate::check_atomic(pred, len = length(truth)), "pred",
        paste0("labels of the same length as `truth` (", length(truth), ")"))
    truth <- as.character(truth)
    pred <- as.character(pred)
    keep <- !(is.na(truth) | tolower(trimws(truth)) %in% c("", "na", "nan", "none", "null"))
    if (!any(keep)) .abort("Every reference label in {.arg truth} is missing; nothing to score.")
    if (anyNA(pred[keep])) {
        .abort("{.arg pred} has missing labels for spots that have a reference label.")
    }
    t <- truth[keep]
    p <- pred[keep]
    c(ARI = .ari(t, p), AMI = .ami(t, p), NMI = .nmi(t, p), homogeneity = .homogeneity(t, p),
        nScored = sum(keep))
}

## mclust's ARI, with scikit-learn's convention where it is 0/0: two partitions that are both a
## single cluster, or both all singletons, agree perfectly (1).
.ari <- function(t, p) {
    nt <- length(unique(t))
    np <- length(unique(p))
    if (nt == np && (nt == 1L || nt == length(t))) return(1)
    mclust::adjustedRandIndex(t, p)
}

.entropy <- function(counts) {
    p <- counts[counts > 0] / sum(counts)
    -sum(p * log(p))
}

.mutualInfo <- function(tab) {
    n <- sum(tab)
    pij <- tab / n
    pi <- rowSums(pij)
    pj <- colSums(pij)
    nz <- pij > 0
    sum(pij[nz] * log(pij[nz] / outer(pi, pj)[nz]))
}

.nmi <- function(t, p) {
    tab <- table(t, p)
    ht <- .entropy(rowSums(tab))
    hp <- .entropy(colSums(tab))
    if (ht == 0 && hp == 0) return(1)
    .mutualInfo(tab) / ((ht + hp) / 2)
}

.homogeneity <- function(t, p) {
    tab <- table(t, p)
    ht <- .entropy(rowSums(tab))
    if (ht == 0) return(1)
    ## H(truth | pred)
    hcond <- -sum(vapply(seq_len(ncol(tab)), function(j) {
        nj <- sum(tab[, j])
        v <- tab[, j][tab[, j] > 0]
        sum(v / sum(tab) * log(v / nj))
    }, 0))
    1 - hcond / ht
}

## Expected mutual information under the hypergeometric model (Vinh et al. 2010).
.emi <- function(a, b, n) {
    emi <- 0
    lgn <- lgamma(n + 1)
    for (ai in a) {
        for (bj in b) {
            lo <- max(1, ai + bj - n)
            hi <- min(ai, bj)
            if (lo > hi) next
            nij <- lo:hi
            term1 <- nij / n * log(n * nij / (ai * bj))
            lognum <- lgamma(ai + 1) + lgamma(bj + 1) + lgamma(n - ai + 1) + lgamma(n - bj + 1)
            logden <- lgn + lgamma(nij + 1) + lgamma(ai - nij + 1) + lgamma(bj - nij + 1) +
                lgamma(n - ai - bj + nij + 1)
            emi <- emi + sum(term1 * exp(lognum - logden))
        }
    }
    emi
}

.ami <- function(t, p) {
    tab <- table(t, p)
    a <- rowSums(tab)
    b <- colSums(tab)
    if ((length(a) == 1L && length(b) == 1L) || (length(a) == length(t) && length(b) == length(t))) {
        return(1)
    }
    n <- sum(tab)
    mi <- .mutualInfo(tab)
    emi <- .emi(a, b, n)
    hmean <- (.entropy(a) + .entropy(b)) / 2
    denom <- hmean - emi
    if (abs(denom) < .Machine$double.eps) denom <- sign(denom + 0) * .Machine$double.eps +
        (denom == 0) * .Machine$double.eps
    (mi - emi) / denom
}
