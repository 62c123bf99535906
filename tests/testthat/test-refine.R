## The spatial refinement runs in R (.refineLabels): each spot takes the label most common among
## its k nearest other spots, neighbours ordered by (squared distance, index), ties in the vote
## going to the tied label of the nearest neighbour carrying one.

## The rule written as plainly as possible, one spot at a time.
refineByDefinition <- function(labels, coords, k) {
    n <- length(labels)
    k <- min(k, n - 1L)
    vapply(seq_len(n), function(i) {
        d2 <- (coords[, 1] - coords[i, 1])^2 + (coords[, 2] - coords[i, 2])^2
        nearest <- setdiff(order(d2, seq_len(n)), i)[seq_len(k)]
        votes <- table(labels[nearest])
        winners <- names(votes)[votes == max(votes)]
        labels[nearest][match(TRUE, as.character(labels[nearest]) %in% winners)]
    }, labels[1])
}

test_that("the refinement follows its rule on Visium array and pixel coordinates (ties)", {
    sce <- exampleFiles("dlpfc")
    sce <- sce[, sce$array_row < 36]  # 1,700 spots, the upper half of the slice
    set.seed(2)
    noisy <- sample(1:7, ncol(sce), replace = TRUE)
    layers <- as.integer(addNA(sce$layer_guess_reordered))
    ## array_row/array_col is an integer lattice: almost every distance ties
    array <- cbind(as.numeric(sce$array_row), as.numeric(sce$array_col))
    expect_identical(SpatialDiffusion:::.refineLabels(noisy, array, 50L),
        refineByDefinition(noisy, array, 50L))
    pixel <- cbind(as.numeric(sce$pxl_row_in_fullres), as.numeric(sce$pxl_col_in_fullres))
    expect_identical(SpatialDiffusion:::.refineLabels(layers, pixel, 50L),
        refineByDefinition(layers, pixel, 50L))
    ## spots sharing a position: the spot itself is left out by index
    small <- array[1:300, ]
    small[2:5, ] <- small[1, ]
    expect_identical(SpatialDiffusion:::.refineLabels(noisy[1:300], small, 10L),
        refineByDefinition(noisy[1:300], small, 10L))
    ## neighbourhoods larger than the data use every other spot; fewer than one change nothing
    expect_identical(SpatialDiffusion:::.refineLabels(noisy[1:30], array[1:30, ], 100L),
        refineByDefinition(noisy[1:30], array[1:30, ], 29L))
    expect_identical(SpatialDiffusion:::.refineLabels(3L, array[1, , drop = FALSE], 50L), 3L)
    ## the refinement changes labels (the test above would pass on labels it leaves alone)
    expect_gt(mean(SpatialDiffusion:::.refineLabels(noisy, array, 50L) != noisy), 0.5)
})

test_that("the refinement gives the engine's labels, ties and all", {
    skipIfNoPython()
    engine <- reticulate::import("spatialdiffusion")$cluster$refine_labels
    set.seed(3)
    coords <- cbind(runif(1500, 0, 100), runif(1500, 0, 100))
    labels <- as.integer(cut(coords[, 1] + rnorm(1500, sd = 15), 5))
    sce <- exampleFiles("dlpfc")
    array <- cbind(as.numeric(sce$array_row), as.numeric(sce$array_col))
    noisy <- sample(1:7, ncol(sce), replace = TRUE)
    for (case in list(list(labels, coords, 6L), list(labels, coords, 50L),
        list(noisy, array, 50L))) {
        fromEngine <- as.integer(engine(case[[1]], case[[2]], n_neighbors = case[[3]]))
        refined <- SpatialDiffusion:::.refineLabels(case[[1]], case[[2]], case[[3]])
        expect_identical(refined, fromEngine)
        expect_false(identical(refined, case[[1]]))
    }
})
