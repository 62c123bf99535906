"""mclust through rpy2: how its EM is started."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from spatialdiffusion.checks import check_counts
from spatialdiffusion.cluster import cluster_embedding, mclust_cluster, mclust_fit
from spatialdiffusion.diffusionst import normalize_log_scale, select_hvg
from spatialdiffusion.diffusionst._stages import embed


@pytest.fixture(scope="module")
def slice_embedding(dlpfc_151673: ad.AnnData) -> np.ndarray:
    """20 PCs of 2100 spots of the real 151673 slice: more than mclust's 2000-spot subset."""
    counts = check_counts(dlpfc_151673.X[:2100])
    return embed(normalize_log_scale(counts, select_hvg(counts, 512)), 20, seed=0)


def test_starting_from_all_spots_does_not_depend_on_the_seed(slice_embedding: np.ndarray) -> None:
    a = mclust_cluster(slice_embedding, 7, seed=0, start="all")
    b = mclust_cluster(slice_embedding, 7, seed=1, start="all")
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= set(range(1, 8))


def plain_mclust(embedding: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """`Mclust(x, G = 7, modelNames = "EEE")` after `set.seed(seed)`, called directly: classification and loglik."""
    import rpy2.robjects as ro
    from rpy2.robjects import numpy2ri

    fit = ro.r("function(x, seed) { suppressPackageStartupMessages(library(mclust)); set.seed(seed); "
               "fit <- Mclust(x, G = 7, modelNames = 'EEE', verbose = FALSE); c(fit$loglik, fit$classification) }")
    with (ro.default_converter + numpy2ri.converter).context():
        result = np.asarray(fit(np.asarray(embedding, dtype=np.float64), seed))
    return result[1:].astype(np.int64), float(result[0])


def test_default_start_is_mclusts_own(slice_embedding: np.ndarray) -> None:
    """`start="subset"` passes no initialisation, so it is exactly `Mclust`'s default under the same seed."""
    expected, _ = plain_mclust(slice_embedding, 3)
    np.testing.assert_array_equal(cluster_embedding(slice_embedding, 7, method="mclust", seed=3)[0], expected)


def test_fit_gives_the_labels_and_mclusts_log_likelihood(slice_embedding: np.ndarray) -> None:
    """`mclust_fit` returns `mclust_cluster`'s labels and the `loglik` that `Mclust` reports for that fit."""
    labels, loglik = mclust_fit(slice_embedding, 7, seed=3)
    np.testing.assert_array_equal(labels, mclust_cluster(slice_embedding, 7, seed=3))
    assert isinstance(loglik, float) and loglik == plain_mclust(slice_embedding, 3)[1]


def test_unknown_start_is_an_error(slice_embedding: np.ndarray) -> None:
    with pytest.raises(ValueError, match="mclust_start"):
        cluster_embedding(slice_embedding, 7, method="mclust", mclust_start="random")
