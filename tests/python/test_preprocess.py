"""Input checks, HVG selection, normalisation and the image layout."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp

from spatialdiffusion.preprocess import (
    MIN_GENES,
    check_coords,
    check_counts,
    from_images,
    image_side,
    normalize_log_scale,
    select_hvg,
    to_images,
)


def test_counts_must_be_counts() -> None:
    with pytest.raises(ValueError, match="non-integer"):
        check_counts(np.array([[0.5, 1.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="negative"):
        check_counts(np.array([[-1.0, 1.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="NaN"):
        check_counts(np.array([[np.nan, 1.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="empty"):
        check_counts(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="2-D"):
        check_counts(np.arange(3))
    with pytest.raises(TypeError, match="numbers"):
        check_counts(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="raw counts"):
        check_counts("counts.csv")
    out = check_counts(sp.csr_matrix(np.array([[0, 2], [3, 0]])))
    assert out.dtype == np.float32 and sp.isspmatrix_csr(out)


def test_coords_checks_name_the_problem() -> None:
    with pytest.raises(ValueError, match="n_spots x 2"):
        check_coords(np.zeros((4, 3)), 4)
    with pytest.raises(ValueError, match="has 3 rows"):
        check_coords(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="NaN"):
        check_coords(np.array([[0, np.nan], [1, 1]]), 2)
    with pytest.raises(ValueError, match="n_spots x 2"):
        check_coords(None, 2)


def test_hvg_matches_scanpy_and_keeps_input_order(dlpfc_151673) -> None:
    counts = check_counts(dlpfc_151673.X)
    idx = select_hvg(counts, 1000)
    assert idx.size == 1000 and np.all(np.diff(idx) > 0)
    ref = dlpfc_151673.copy()
    sc.pp.highly_variable_genes(ref, flavor="seurat_v3", n_top_genes=1000)
    np.testing.assert_array_equal(idx, np.flatnonzero(ref.var["highly_variable"]))
    np.testing.assert_array_equal(select_hvg(counts[:, :50], 1000), np.arange(50))


def test_normalisation_matches_scanpy_reference(dlpfc_151673) -> None:
    counts = check_counts(dlpfc_151673.X)
    genes = np.arange(0, 5000, 7)
    ours = normalize_log_scale(counts, genes)
    ref = dlpfc_151673.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    sc.pp.scale(ref, zero_center=False, max_value=10)
    np.testing.assert_allclose(ours, np.asarray(ref.X[:, genes].todense() if sp.issparse(ref.X) else ref.X[:, genes]), rtol=1e-4, atol=1e-5)
    assert ours.min() >= 0 and ours.max() <= 10


def test_image_layout_round_trip_and_sizes() -> None:
    assert image_side(4096) == 64
    assert image_side(4096, multiple=8) == 64
    assert image_side(1000) == 32
    assert image_side(33) == 8
    with pytest.raises(ValueError, match=f"at least {MIN_GENES} genes"):
        image_side(MIN_GENES - 1)
    feats = np.random.default_rng(0).normal(size=(5, 33)).astype(np.float32)
    images = to_images(feats, 8)
    assert images.shape == (5, 1, 8, 8)
    assert images[0, 0, 0, 1] == feats[0, 1] and images[0, 0, 4, 0] == feats[0, 32]
    assert np.all(images.reshape(5, -1)[:, 33:] == 0)
    np.testing.assert_array_equal(from_images(images, 33), feats)
