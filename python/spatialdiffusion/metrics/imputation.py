"""Per-gene imputation accuracy (SPCC, SSIM, RMSE, JS) and the Leiden-based clustering check.

Definitions follow the SpaLSTF/stDiff evaluation code (``specs/spalstf_reference.md`` section 5). Each
per-gene function takes two equal-shape cells x genes matrices (``truth``, ``pred``) and returns one
value per gene (column). A gene whose value is undefined (a constant column) gets NaN; summaries use
medians over the genes with a defined value.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._utils import single_threaded_numpy
from .clustering import clustering_scores

GENE_METRICS = ("spcc", "ssim", "rmse", "js")


def _pair(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.ndim == 1:
        t, p = t[:, None], p.reshape(-1, 1)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"`truth` and `pred` must be cells x genes matrices of the same shape, got {t.shape} and {p.shape}.")
    return t, p


def _safe_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def spcc(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Spearman correlation per gene across cells (ties get average ranks, as ``scipy.stats.spearmanr``).

    Parameters
    ----------
    truth, pred
        Cells x genes reference and predicted values of one shape (a 1-D array is one gene).

    Returns
    -------
    numpy.ndarray
        float64 vector, one correlation in ``[-1, 1]`` per gene; NaN where either column is constant.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    t, p = _pair(truth, pred)
    rt = stats.rankdata(t, axis=0)
    rp = stats.rankdata(p, axis=0)
    rt -= rt.mean(axis=0)
    rp -= rp.mean(axis=0)
    return _safe_divide((rt * rp).sum(axis=0), np.sqrt((rt**2).sum(axis=0) * (rp**2).sum(axis=0)))


def ssim(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Global (window-free) SSIM per gene after scaling each column by its maximum.

    ``M`` is the smaller of the two scaled maxima (1 unless a column is all zero), ``C1 = (0.01 M)^2``,
    ``C2 = (0.03 M)^2``, ``C3 = C2 / 2``; standard deviations use ``ddof = 0``.

    Parameters
    ----------
    truth, pred
        Cells x genes reference and predicted values of one shape (a 1-D array is one gene).

    Returns
    -------
    numpy.ndarray
        float64 vector, one SSIM per gene (1 for identical columns); NaN where either column's maximum
        is zero (e.g. an all-zero column).

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    t, p = _pair(truth, pred)
    t = _safe_divide(t, t.max(axis=0))
    p = _safe_divide(p, p.max(axis=0))
    m = np.minimum(t.max(axis=0), p.max(axis=0))
    c1, c2 = (0.01 * m) ** 2, (0.03 * m) ** 2
    c3 = c2 / 2
    mu_t, mu_p = t.mean(axis=0), p.mean(axis=0)
    sd_t, sd_p = t.std(axis=0), p.std(axis=0)
    cov = ((t - mu_t) * (p - mu_p)).mean(axis=0)
    luminance = _safe_divide(2 * mu_t * mu_p + c1, mu_t**2 + mu_p**2 + c1)
    contrast = _safe_divide(2 * sd_t * sd_p + c2, sd_t**2 + sd_p**2 + c2)
    structure = _safe_divide(cov + c3, sd_t * sd_p + c3)
    return luminance * contrast * structure


def rmse(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Root mean squared difference per gene between the z-scored (``ddof = 0``) columns.

    Parameters
    ----------
    truth, pred
        Cells x genes reference and predicted values of one shape (a 1-D array is one gene).

    Returns
    -------
    numpy.ndarray
        float64 vector, one non-negative RMSE per gene (lower is better); NaN where either column is
        constant.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    t, p = _pair(truth, pred)
    zt = _safe_divide(t - t.mean(axis=0), t.std(axis=0))
    zp = _safe_divide(p - p.mean(axis=0), p.std(axis=0))
    return np.sqrt(((zt - zp) ** 2).mean(axis=0))


def js(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log) per gene between the columns scaled to sum to one.

    Parameters
    ----------
    truth, pred
        Cells x genes reference and predicted values of one shape (a 1-D array is one gene).

    Returns
    -------
    numpy.ndarray
        float64 vector, one divergence per gene (0 for proportional columns, at most ``log 2`` for
        non-negative data; lower is better); NaN where either column sums to zero.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    t, p = _pair(truth, pred)
    t = _safe_divide(t, t.sum(axis=0))
    p = _safe_divide(p, p.sum(axis=0))
    mid = (t + p) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_t = np.where(t > 0, t * np.log(t / mid), 0.0).sum(axis=0)
        kl_p = np.where(p > 0, p * np.log(p / mid), 0.0).sum(axis=0)
    out = 0.5 * kl_t + 0.5 * kl_p
    undefined = ~(np.isfinite(t).all(axis=0) & np.isfinite(p).all(axis=0))
    out[undefined] = np.nan
    return out


def gene_scores(truth: np.ndarray, pred: np.ndarray, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """All four per-gene metrics as a DataFrame (one row per gene, columns ``gene, spcc, ssim, rmse, js``).

    Parameters
    ----------
    truth
        Cells x genes reference values; a 1-D array is read as a single gene.
    pred
        Predicted values of the same shape.
    genes
        One name per column; by default the column numbers as strings (``"0"``, ``"1"``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per gene, in column order: the name, then :func:`spcc`, :func:`ssim`, :func:`rmse` and
        :func:`js` (float64, NaN where undefined).

    Raises
    ------
    ValueError
        If ``truth`` and ``pred`` do not have the same 2-D shape, or ``genes`` does not have one name per
        column.
    """
    t, p = _pair(truth, pred)
    names = list(genes) if genes is not None else [str(i) for i in range(t.shape[1])]
    if len(names) != t.shape[1]:
        raise ValueError(f"`genes` has {len(names)} names for {t.shape[1]} columns.")
    return pd.DataFrame({"gene": names, "spcc": spcc(t, p), "ssim": ssim(t, p), "rmse": rmse(t, p), "js": js(t, p)})


def leiden_labels(x: np.ndarray, *, n_neighbors: int = 30, n_pcs: int = 30, resolution: float = 1.0, random_state: int = 0) -> np.ndarray:
    """The published clustering: scanpy PCA (default size), kNN graph, then ``sc.tl.leiden`` with its defaults.

    The defaults are those the released evaluation ran with: the ``leidenalg`` flavour, iterated until the
    partition stops improving (``n_iterations=-1``), on the directed kNN graph. ``n_pcs`` is capped by the
    number of principal components available (``n_genes - 1``, at most 50). PCA and the kNN graph run on
    one BLAS thread, so the partition does not change with the machine's thread count.

    Parameters
    ----------
    x
        Cells x features matrix (converted to float32); PCA centres it but does not scale it.
    n_neighbors
        Neighbours of the kNN graph (``sc.pp.neighbors``).
    n_pcs
        Principal components the kNN graph is built on, capped at the number computed
        (``min(n_cells, n_genes) - 1``, at most 50).
    resolution
        Leiden resolution; higher values give more clusters.
    random_state
        Seed of PCA, the kNN graph and Leiden.

    Returns
    -------
    numpy.ndarray
        Object array of cluster labels as strings (``"0"``, ``"1"``, ...), one per cell.
    """
    import warnings

    import anndata as ad
    import scanpy as sc

    # scanpy kept: the published PCA, kNN weights and Leiden; a rewrite moves the partition
    adata = ad.AnnData(np.asarray(x, dtype=np.float32))
    with single_threaded_numpy():
        sc.tl.pca(adata, random_state=random_state)
        sc.pp.neighbors(adata, n_neighbors=n_neighbors, n_pcs=min(n_pcs, adata.obsm["X_pca"].shape[1]), random_state=random_state)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="In the future, the default backend for leiden", category=FutureWarning)
        sc.tl.leiden(adata, resolution=resolution, random_state=random_state, flavor="leidenalg", n_iterations=-1)
    return adata.obs["leiden"].to_numpy()


def imputation_cluster_scores(truth: np.ndarray, pred: np.ndarray, *, random_state: int = 0) -> dict[str, float]:
    """ARI/AMI/NMI/Homo of Leiden on ``pred`` against Leiden on ``truth`` (the reference labelling).

    Both matrices are clustered by :func:`leiden_labels` with its defaults and the labellings compared
    with :func:`~spatialdiffusion.metrics.clustering_scores`.

    Parameters
    ----------
    truth
        Cells x genes reference matrix.
    pred
        Cells x genes predicted matrix, same cells in the same order (the number of genes may differ).
    random_state
        Seed passed to both :func:`leiden_labels` calls.

    Returns
    -------
    dict
        ``ari``, ``ami``, ``nmi`` and ``homo`` as floats (see
        :func:`~spatialdiffusion.metrics.clustering_scores`).

    Raises
    ------
    ValueError
        If ``truth`` and ``pred`` have different numbers of cells (rows).
    """
    scores = clustering_scores(leiden_labels(truth, random_state=random_state), leiden_labels(pred, random_state=random_state))
    return {k: scores[k] for k in ("ari", "ami", "nmi", "homo")}
