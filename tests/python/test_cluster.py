"""mclust through rpy2: how its EM is started."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from spatialdiffusion.cluster import cluster_embedding, mclust_cluster
from spatialdiffusion.methods.diffusionst_stages import embed
from spatialdiffusion.preprocess import check_counts, normalize_log_scale, select_hvg


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


def test_default_start_is_mclusts_own(slice_embedding: np.ndarray) -> None:
    """`start="subset"` passes no initialisation, so it is exactly `Mclust`'s default under the same seed."""
    import rpy2.robjects as ro
    from rpy2.robjects import numpy2ri

    plain = ro.r("function(x, seed) { suppressPackageStartupMessages(library(mclust)); set.seed(seed); "
                 "as.integer(Mclust(x, G = 7, modelNames = 'EEE', verbose = FALSE)$classification) }")
    with (ro.default_converter + numpy2ri.converter).context():
        expected = np.asarray(plain(np.asarray(slice_embedding, dtype=np.float64), 3))
    np.testing.assert_array_equal(cluster_embedding(slice_embedding, 7, method="mclust", seed=3)[0], expected)


def test_unknown_start_is_an_error(slice_embedding: np.ndarray) -> None:
    with pytest.raises(ValueError, match="mclust_start"):
        cluster_embedding(slice_embedding, 7, method="mclust", mclust_start="random")
