"""Per-gene imputation metrics against hand-computed cases (spec section 5)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from spatialdiffusion.metrics import gene_scores, imputation_cluster_scores, js, leiden_labels, rmse, spcc, ssim

T = np.array([1.0, 2.0, 3.0, 4.0])
P = np.array([2.0, 1.0, 4.0, 3.0])


def test_spcc_hand_case_and_ties():
    # ranks of P: 2,1,4,3 -> d^2 = 1+1+1+1 = 4 -> 1 - 6*4/(4*15) = 0.6
    assert spcc(T, P)[0] == pytest.approx(0.6)
    # ties get average ranks: T ranks 1,2,3,4 ; P = [1,1,2,2] ranks 1.5,1.5,3.5,3.5 -> pearson of ranks
    rp = np.array([1.5, 1.5, 3.5, 3.5])
    expect = np.corrcoef([1, 2, 3, 4], rp)[0, 1]
    assert spcc(T, np.array([1.0, 1.0, 2.0, 2.0]))[0] == pytest.approx(expect)
    assert np.isnan(spcc(T, np.ones(4))[0])


def test_ssim_hand_case():
    # after dividing by the column max: t = [.25,.5,.75,1], p = [.5,.25,1,.75]; M = 1
    t, p = T / 4, P / 4
    mu = t.mean()
    sd = t.std()
    cov = ((t - mu) * (p - mu)).mean()
    c1, c2 = 1e-4, 9e-4
    c3 = c2 / 2
    expect = (2 * mu * mu + c1) / (2 * mu**2 + c1) * (2 * sd * sd + c2) / (2 * sd**2 + c2) * (cov + c3) / (sd * sd + c3)
    assert ssim(T, P)[0] == pytest.approx(expect)
    assert ssim(T, T)[0] == pytest.approx(1.0)
    # scale invariance from the per-gene max scaling
    assert ssim(T, 10 * P)[0] == pytest.approx(expect)


def test_rmse_hand_case():
    z = (T - T.mean()) / T.std()
    zp = (P - P.mean()) / P.std()
    assert rmse(T, P)[0] == pytest.approx(math.sqrt(((z - zp) ** 2).mean()))
    # z-scores of [1,2,3,4] are +-0.447, +-1.342; swapping neighbours differs by 0.894 everywhere
    assert rmse(T, P)[0] == pytest.approx(2 / math.sqrt(5))
    assert rmse(T, 3 * T + 1)[0] == pytest.approx(0.0, abs=1e-12)


def test_js_hand_case():
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert js(p, q)[0] == pytest.approx(math.log(2))
    assert js(T, 2 * T)[0] == pytest.approx(0.0, abs=1e-12)
    a, b = np.array([0.25, 0.75]), np.array([0.5, 0.5])
    m = (a + b) / 2
    expect = 0.5 * (a * np.log(a / m)).sum() + 0.5 * (b * np.log(b / m)).sum()
    assert js(a, b)[0] == pytest.approx(expect)


def test_gene_scores_frame_and_shape_errors():
    truth = np.column_stack([T, T])
    pred = np.column_stack([P, T])
    df = gene_scores(truth, pred, ["a", "b"])
    assert list(df.columns) == ["gene", "spcc", "ssim", "rmse", "js"]
    assert df.loc[1, "spcc"] == pytest.approx(1.0) and df.loc[0, "spcc"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="same shape"):
        gene_scores(truth, pred[:3], ["a", "b"])
    with pytest.raises(ValueError, match="names"):
        gene_scores(truth, pred, ["a"])


def test_cluster_scores_identical_and_shuffled():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (3, 10))
    x = np.vstack([c + rng.normal(0, 0.3, (60, 10)) for c in centres])
    same = imputation_cluster_scores(x, x)
    assert same == {"ari": 1.0, "ami": 1.0, "nmi": 1.0, "homo": 1.0}
    noise = imputation_cluster_scores(x, rng.permutation(x))
    assert noise["ari"] < 0.2


def test_leiden_labels_are_scanpys_defaults() -> None:
    """The reference clustering is ``sc.tl.leiden()`` with its defaults, as the released evaluation ran it."""
    import anndata as ad
    import scanpy as sc

    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(c, 1.0, size=(60, 12)) for c in (0.0, 3.0, 6.0)]).astype(np.float32)
    adata = ad.AnnData(x)
    sc.tl.pca(adata, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=30, n_pcs=11, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # some scanpy versions announce a change of default
        sc.tl.leiden(adata, random_state=0)  # scanpy's defaults: leidenalg, n_iterations=-1, directed
    np.testing.assert_array_equal(leiden_labels(x), adata.obs["leiden"].to_numpy())
