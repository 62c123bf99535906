library(testthat)
library(SpatialDiffusion)

test_check("SpatialDiffusion")
