"""DiffusionST's preprocessing: library sizes, HVG selection, normalisation and the image layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from spatialdiffusion.checks import check_counts
from spatialdiffusion.diffusionst._preprocess import (
    MIN_GENES,
    check_library_size,
    from_images,
    image_side,
    normalize_log_scale,
    select_hvg,
    stable_gene_library,
    to_images,
)


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


def test_library_size_replaces_the_totals_of_the_genes_given(dlpfc_151673, shared_file) -> None:
    # spatialLIBD's whole-transcriptome totals of 151673: the 5000 genes of the file hold about 30% of them
    meta = pd.read_csv(shared_file("dlpfc/visium_151673/metadata.tsv"), sep="\t").set_index("barcode")
    library = meta["sum_umi"].reindex(dlpfc_151673.obs_names).to_numpy(dtype=float)
    counts = check_counts(dlpfc_151673.X)
    genes = np.arange(0, 5000, 7)
    before = library.copy()
    ours = normalize_log_scale(counts, genes, library_size=check_library_size(library, counts))
    np.testing.assert_array_equal(library, before)  # the caller's vector is not modified
    ref = sc.AnnData((sp.diags(1e4 / library) @ counts).toarray())
    sc.pp.log1p(ref)
    sc.pp.scale(ref, zero_center=False, max_value=10)
    np.testing.assert_allclose(ours, np.asarray(ref.X[:, genes]), rtol=1e-4, atol=1e-5)
    assert not np.allclose(ours, normalize_log_scale(counts, genes), atol=1e-3)
    own = np.asarray(counts.sum(axis=1)).ravel()
    np.testing.assert_array_equal(normalize_log_scale(counts, genes, library_size=own), normalize_log_scale(counts, genes))


def test_stable_gene_library_tracks_the_whole_transcriptome_with_less_layer_bias(dlpfc_151673, shared_file) -> None:
    # The file's 5000 genes are the most variable ones: their share of spatialLIBD's whole-transcriptome total
    # differs by layer. The stable genes' total, on the same scale, should depend on the layer less.
    meta = pd.read_csv(shared_file("dlpfc/visium_151673/metadata.tsv"), sep="\t").set_index("barcode")
    whole = np.log(meta["sum_umi"].reindex(dlpfc_151673.obs_names).to_numpy(dtype=float))
    layer = dlpfc_151673.obs["layer_guess_reordered"].astype(str).to_numpy()
    counts = check_counts(dlpfc_151673.X)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    stable = stable_gene_library(counts)
    assert stable.shape == totals.shape and np.all(stable > 0)
    assert np.median(stable) == pytest.approx(np.median(totals))
    assert not np.allclose(stable, totals, rtol=0.05)

    def layer_spread(library: np.ndarray) -> float:
        medians = pd.Series(np.log(library) - whole).groupby(layer).median()
        return float(medians.max() - medians.min())

    assert layer_spread(stable) < 0.6 * layer_spread(totals)  # 0.072 against 0.149
    assert np.corrcoef(np.log(stable), whole)[0, 1] > 0.97


def test_stable_gene_library_edge_cases() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(40, 20)).astype(float)
    counts[0, :] = 0  # a spot with no counts keeps 0
    library = stable_gene_library(check_counts(counts))
    assert library[0] == 0 and np.all(library[1:] > 0)
    sparse = np.zeros((40, 20))
    sparse[:3, :] = 1  # stable genes detected in 3 of 40 spots: no estimate
    with pytest.raises(ValueError, match="detected in fewer than half of the spots.*library_genes='all'"):
        stable_gene_library(check_counts(sparse))


@pytest.mark.parametrize(
    ("library", "message"),
    [
        ([10.0, 20.0, 30.0], "one total UMI count per spot \\(2\\), got shape \\(3,\\)"),
        ([10.0, 0.0], "finite, positive totals; spot 1"),
        ([np.nan, 20.0], "finite, positive totals; spot 0"),
        ([2.0, 20.0], "smaller than the spot's counts over the genes given for 1 spot\\(s\\) \\(spot 0: 2 < 3\\)"),
        (["a", "b"], "could not be read as numbers"),
    ],
)
def test_library_size_errors_name_the_problem(library: list, message: str) -> None:
    counts = check_counts(np.array([[1, 2, 0], [0, 5, 1]]))
    with pytest.raises(ValueError, match=message):
        check_library_size(library, counts)


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


def test_hvg_selection_on_too_few_spots_says_what_to_do(dlpfc_151673) -> None:
    counts = check_counts(dlpfc_151673.X[:100])  # scikit-misc's loess is singular on 100 spots of this slice
    with pytest.raises(ValueError, match=r"seurat_v3 gene selection failed on 100 spots x 5000 genes.*`n_top_genes` >= 5000"):
        select_hvg(counts, 64)
    assert select_hvg(counts, 5000).size == 5000  # keeping every gene needs no selection
