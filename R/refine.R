## DiffusionST's spatial refinement, in R after R's mclust: each spot takes the label most common
## among its `k` nearest other spots, reading only the original labels (one pass).
##
## The rule, written out so that the engine's `spatialdiffusion.cluster.refine_labels` can follow
## it bit for bit:
## * the neighbours of spot i are the k spots j != i with the smallest (d2, j), where
##   d2 = sum over coordinate columns of (x[j, c] - x[i, c])^2 in double precision, the columns
##   added in order; they are listed in that order (nearer first, the lower index first among
##   equal distances), so a tie at the k-th distance goes to the lower indices;
## * the vote: the label held by most neighbours; a tie between labels goes to the tied label of
##   the earliest neighbour in that order.
## On an integer lattice (Visium array_row/array_col) most distances tie, so the rule has to fix the
## order: a KD-tree alone returns equidistant spots in an order of its own.

## Neighbours of every spot under the rule above: an N x k matrix of row indices of `coords`.
## BiocNeighbors (exact search) proposes `k` plus a margin of candidates per spot; their distances
## are recomputed here and sorted by (d2, index). A spot whose candidates could miss a spot tied
## with its k-th neighbour (the margin all at the k-th distance) is searched again by brute force.
.orderedNeighbors <- function(coords, k) {
    n <- nrow(coords)
    rows <- seq_len(n)
    m <- min(n - 1L, k + k %/% 2L + 10L)
    ## KMKNN's k-means draws random numbers: seeded, and the caller's stream left alone (the
    ## neighbours found are exact whatever the draw)
    cand <- withr::with_seed(1L, BiocNeighbors::findKNN(coords, k = m, get.distance = FALSE,
        warn.ties = FALSE, BNPARAM = BiocNeighbors::KmknnParam())$index)
    d2 <- .squaredDistances(coords, rows, cand)
    d2[cand == rows] <- Inf  # never the spot itself (findKNN leaves it out already)
    o <- order(row(cand), d2, cand)
    cand <- matrix(cand[o], n, byrow = TRUE)
    d2 <- matrix(d2[o], n, byrow = TRUE)
    out <- cand[, seq_len(k), drop = FALSE]
    if (m < n - 1L) {
        last <- d2[cbind(rows, m)]
        redo <- which(!(last > d2[, k] * (1 + 1e-8)))
        for (i in redo) {
            all <- .squaredDistances(coords, rep(i, n), matrix(rows, 1L))
            all[i] <- Inf
            out[i, ] <- order(all, rows)[seq_len(k)]
        }
    }
    out
}

## Squared distances between spots `from` and the spots in `to` (same shape as `to`; `from` holds
## one spot per row of `to`), the coordinate columns added in order.
.squaredDistances <- function(coords, from, to) {
    d2 <- 0
    for (j in seq_len(ncol(coords))) {
        diff <- matrix(coords[to, j], nrow(to)) - coords[from, j]
        d2 <- d2 + diff * diff
    }
    d2
}

## Refined labels (same type as `labels`): the majority vote over each spot's `k` nearest other
## spots (at most N - 1), ties going to the tied label of the nearest neighbour carrying one.
.refineLabels <- function(labels, coords, k = 50L) {
    n <- length(labels)
    k <- min(as.integer(k), n - 1L)
    if (k < 1L) return(labels)
    values <- sort(unique(labels))
    codes <- matrix(match(labels, values)[.orderedNeighbors(coords, k)], n)
    rows <- seq_len(n)
    counts <- matrix(0L, n, length(values))
    for (j in seq_len(k)) {
        at <- cbind(rows, codes[, j])
        counts[at] <- counts[at] + 1L
    }
    best <- counts[cbind(rows, max.col(counts, ties.method = "first"))]
    carriesBest <- matrix(counts[cbind(rows, as.vector(codes))] == best, n) + 0L
    values[codes[cbind(rows, max.col(carriesBest, ties.method = "first"))]]
}
