"""SpaLSTF inputs: count validation, gene matching, normalisation, reference augmentation, cell order.

Everything here is numpy in, numpy out; no torch and no AnnData.

Normalisation (spec section 1.3): ``normalize_total(1e4) -> log1p -> divide each cell by its maximum
-> 2x - 1``. Unlike the released code, the library size and the per-cell maximum are computed from the
**observed (conditioning) genes only**, for the reference and the spatial cells alike. The released code
used every gene, which leaks each fold's held-out genes into the scaling of the spatial condition and is
impossible in the real use case, where the spatial data has no value for the target genes. Target genes
are scaled by the same per-cell factors, so they can exceed 1 in model space; the model caps them at
``SpaLSTFConfig.target_ceiling`` (3 by default: log-expression twice the cell's observed maximum; the
99.9th percentile on the osmFISH reference is 2.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from .._utils import single_threaded_numpy
from ..checks import check_counts, check_unique_genes

TARGET_SUM = 1e4


def as_counts(x: object, name: str) -> np.ndarray:
    """Return ``x`` as a dense float32 cells x genes count matrix, checked by :func:`~spatialdiffusion.checks.check_counts`.

    Parameters
    ----------
    x
        Dense array or scipy sparse matrix of raw counts.
    name
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        Dense float32 cells x genes matrix.

    Raises
    ------
    TypeError, ValueError
        As :func:`~spatialdiffusion.checks.check_counts`.
    """
    return check_counts(x, name).toarray()


def _upper_index(genes: Sequence[str], name: str) -> dict[str, int]:
    """Column of each gene, keyed by its upper-cased name; repeated names are refused (:func:`check_unique_genes`)."""
    names = [str(gene) for gene in genes]
    check_unique_genes(names, name, ignore_case=True)
    return {gene.upper(): i for i, gene in enumerate(names)}


@dataclass(frozen=True)
class GenePlan:
    """Which genes condition the model and which it imputes, as column indices into each input.

    ``observed`` genes are measured in both data sets; ``target`` genes are imputed. Names use the
    reference's spelling.
    """

    observed: list[str]
    target: list[str]
    st_observed: np.ndarray
    ref_observed: np.ndarray
    ref_target: np.ndarray


def shared_genes(st_genes: Sequence[str], ref_genes: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Genes measured by both data sets, matched case-insensitively.

    Parameters
    ----------
    st_genes, ref_genes
        Gene names of the spatial data and of the reference (compared as upper-cased ``str``).

    Returns
    -------
    names
        Shared genes in the spatial data's order, spelt as in the reference.
    st_idx, ref_idx
        Their column indices in each data set (int64 arrays).

    Raises
    ------
    ValueError
        If either list has duplicated names or names that differ only in case.
    """
    st_index = _upper_index(st_genes, "st_genes")
    ref_index = _upper_index(ref_genes, "ref_genes")
    keys = [k for k in st_index if k in ref_index]
    return (
        [str(ref_genes[ref_index[k]]) for k in keys],
        np.array([st_index[k] for k in keys], dtype=np.int64),
        np.array([ref_index[k] for k in keys], dtype=np.int64),
    )


def check_shared(n_shared: int, min_shared: int) -> None:
    """Raise a clear error when fewer than ``min_shared`` genes are available to condition on.

    Parameters
    ----------
    n_shared
        Number of shared genes available to condition on.
    min_shared
        Minimum number required (``min_shared_genes`` of the configuration).

    Raises
    ------
    ValueError
        If ``n_shared < min_shared``; the message suggests checking the gene naming or lowering
        ``min_shared_genes``.
    """
    if n_shared < min_shared:
        raise ValueError(
            f"Only {n_shared} gene(s) are shared by the spatial data and the reference (outside `genes`); "
            f"at least {min_shared} are needed to condition on. Check that both use the same gene naming "
            "(symbols vs Ensembl IDs, species), or lower `min_shared_genes`."
        )


def plan_genes(st_genes: Sequence[str], ref_genes: Sequence[str], target: Sequence[str], *, min_shared: int) -> GenePlan:
    """Match gene names case-insensitively and split them into observed and target genes.

    Parameters
    ----------
    st_genes, ref_genes
        Gene names of the spatial data and of the reference.
    target
        Genes to impute; each must be in the reference. A target that the spatial data also measures is
        treated as unmeasured (it is removed from the condition).
    min_shared
        Minimum number of observed genes required to condition on.

    Returns
    -------
    GenePlan
        Observed genes (shared, not targets; in the spatial data's order) and targets (in ``target``'s
        order), named as in the reference, with their column indices.

    Raises
    ------
    ValueError
        If either gene list has duplicated names or names that differ only in case; if ``target`` is
        empty, has case-insensitive duplicates or names a gene absent from the reference; or if fewer than
        ``min_shared`` observed genes remain (:func:`check_shared`).
    """
    names, st_idx, ref_idx = shared_genes(st_genes, ref_genes)
    ref_index = _upper_index(ref_genes, "ref_genes")
    target_keys = [str(g).upper() for g in target]
    if not target_keys:
        raise ValueError("`genes` is empty: name at least one reference gene to impute.")
    check_unique_genes([str(g) for g in target], "genes", ignore_case=True)
    missing = [g for g, k in zip(target, target_keys) if k not in ref_index]
    if missing:
        raise ValueError(
            f"{len(missing)} gene(s) in `genes` are absent from the reference: {list(missing[:10])}. "
            "Only genes the reference measures can be imputed."
        )
    keep = np.array([n.upper() not in set(target_keys) for n in names], dtype=bool)
    check_shared(int(keep.sum()), min_shared)
    return GenePlan(
        observed=[n for n, k in zip(names, keep) if k],
        target=[str(ref_genes[ref_index[k]]) for k in target_keys],
        st_observed=st_idx[keep],
        ref_observed=ref_idx[keep],
        ref_target=np.array([ref_index[k] for k in target_keys], dtype=np.int64),
    )


def normalize(counts: np.ndarray, n_observed: int) -> tuple[np.ndarray, np.ndarray]:
    """Map counts to SpaLSTF's model space, scaling each cell by its first ``n_observed`` columns.

    Parameters
    ----------
    counts
        ``n x G`` non-negative counts, observed genes first, then any other (e.g. target) genes.
    n_observed
        Number of leading columns that set each cell's library size and maximum (at least 1).

    Returns
    -------
    x
        ``2 * log1p(1e4 * counts / lib) / max - 1`` (float32); ``lib`` and ``max`` come from the observed
        columns. Cells without observed counts get ``lib = max = 1``, so their observed columns (and any
        other zero count) are ``-1``.
    scale
        Per-cell ``(lib, max)`` as a float64 ``(n, 2)`` array, to map predictions back with
        :func:`to_lognorm`.
    """
    lib = counts[:, :n_observed].sum(axis=1, keepdims=True).astype(np.float64)
    lib[lib == 0] = 1.0
    logn = np.log1p(counts * (TARGET_SUM / lib))
    top = logn[:, :n_observed].max(axis=1, keepdims=True)
    top[top == 0] = 1.0
    return (2.0 * logn / top - 1.0).astype(np.float32), np.hstack([lib, top])


def model_to_unit(x: np.ndarray) -> np.ndarray:
    """Model space to the per-cell-max scale the evaluation scores: ``(clip(x, -1) + 1) / 2`` (dtype kept).

    Parameters
    ----------
    x
        Floating-point array of model-space values (any shape); values below ``-1`` are raised to ``-1``.

    Returns
    -------
    numpy.ndarray
        Array of the same shape and dtype, non-negative (1 at the cell's observed maximum).
    """
    return (np.clip(x, -1.0, None) + 1.0) / 2.0


def to_lognorm(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Invert the max-abs step of :func:`normalize`: model space to ``log1p(1e4 * count / observed library)``.

    Parameters
    ----------
    x
        ``n x G`` model-space values; values below ``-1`` are clipped to ``-1`` (log-expression 0).
    scale
        Per-cell ``(lib, max)`` from :func:`normalize`, ``(n, 2)``; only ``max`` is used.

    Returns
    -------
    numpy.ndarray
        float64 ``n x G`` log-normalised values, ``(clip(x, -1) + 1) / 2 * max``.
    """
    return model_to_unit(np.asarray(x, dtype=np.float64)) * scale[:, 1:2]


def rescale(x: np.ndarray, source: np.ndarray, dest: np.ndarray) -> np.ndarray:
    """Model-space values made with the per-cell ``(lib, max)`` of ``source``, re-expressed with those of ``dest``.

    The counts behind ``x`` (``expm1`` of its log-expression times ``lib / 1e4``) are kept; only the
    library size and maximum they are divided by change. Values below ``-1`` (a log-expression below
    zero, which no count gives) keep their log-expression, so averaging draws treats them as it does on
    one scale.

    Parameters
    ----------
    x
        ``n x G`` model-space values made with ``source``.
    source, dest
        Per-cell ``(lib, max)`` arrays from :func:`normalize`, each ``(n, 2)``.

    Returns
    -------
    numpy.ndarray
        float32 ``n x G`` model-space values on ``dest``'s scale.
    """
    logn = (np.asarray(x, dtype=np.float64) + 1.0) / 2.0 * source[:, 1:2]
    moved = np.log1p(np.expm1(np.maximum(logn, 0.0)) * (source[:, :1] / dest[:, :1]))
    return (2.0 * np.where(logn > 0, moved, logn) / dest[:, 1:2] - 1.0).astype(np.float32)


def reference_lognorm_maxabs(counts: np.ndarray) -> np.ndarray:
    """The published evaluation's preprocessing over all columns: ``normalize_total(1e4) -> log1p -> / cell max``.

    Parameters
    ----------
    counts
        ``n x G`` non-negative counts; the library size and the maximum are taken over all ``G`` columns.

    Returns
    -------
    numpy.ndarray
        float32 ``n x G`` values in ``[0, 1]``, 1 at each cell's maximum; a cell without counts is all
        zero.
    """
    x, _ = normalize(counts, counts.shape[1])
    return (x + 1.0) / 2.0


def augment(counts: np.ndarray, shifts: Sequence[float]) -> np.ndarray:
    """The released code's reference augmentation: stacked copies of ``counts + s`` for each shift ``s``.

    Parameters
    ----------
    counts
        ``n x G`` reference counts.
    shifts
        Values added to every entry, one copy per shift (at least one), e.g. from :func:`default_shifts`.

    Returns
    -------
    numpy.ndarray
        ``(len(shifts) * n) x G`` array, the copies stacked in the order of ``shifts``; float32 for
        float32 ``counts``.
    """
    return np.vstack([counts + np.float32(s) for s in shifts])


def default_shifts(n_genes: int) -> tuple[float, ...]:
    """Shifts used by the released SpaLSTF code: ``(0, 10)`` below 40 genes, ``(0, 5, 10)`` otherwise.

    Parameters
    ----------
    n_genes
        Number of genes (columns) of the reference counts to augment.

    Returns
    -------
    tuple of float
        ``(0.0, 10.0)`` if ``n_genes < 40``, else ``(0.0, 5.0, 10.0)``.
    """
    return (0.0, 10.0) if n_genes < 40 else (0.0, 5.0, 10.0)


AUGMENT_DENSITY_MARGIN = 0.1
"""How much smaller the spatial cells' share of zero counts must be than the reference's for ``augment=None`` to shift."""


def zero_fraction(counts: np.ndarray | sp.spmatrix) -> float:
    """Share of the entries of ``counts`` (dense or scipy sparse) that are zero; NaN for an empty matrix."""
    size = counts.shape[0] * counts.shape[1]
    if size == 0:
        return float("nan")
    nonzero = counts.count_nonzero() if sp.issparse(counts) else np.count_nonzero(counts)
    return 1.0 - nonzero / size


def augment_shifts(
    setting: bool | None, n_genes: int, ref_observed: np.ndarray, spatial_observed: np.ndarray | sp.spmatrix | None
) -> tuple[float, ...]:
    """The count shifts of the reference copies that training stacks (``(0.0,)``: the reference alone).

    Parameters
    ----------
    setting
        ``augment``: ``True`` the released copies (:func:`default_shifts`), ``False`` none. ``None`` decides
        from the data: the shifted copies stand in for a spatial assay that detects more of the panel genes
        than the reference does, so they are used when the spatial cells' share of zero counts over the
        observed genes is at least :data:`AUGMENT_DENSITY_MARGIN` below the reference's. Otherwise as many
        unshifted copies are stacked, so that training takes as many optimiser steps either way.
    n_genes
        Genes of the training matrix (observed and target), which set the number of copies.
    ref_observed, spatial_observed
        Raw counts of the observed genes in the reference and the spatial cells (only read for ``None``).

    Raises
    ------
    ValueError
        For ``setting=None`` without ``spatial_observed``.
    """
    if setting is False:
        return (0.0,)
    shifts = default_shifts(n_genes)
    if setting:
        return shifts
    if spatial_observed is None:
        raise ValueError("`augment=None` decides from the data and needs the spatial cells' observed-gene counts "
                         "(`spatial_counts`); set `augment` to True or False to train without them.")
    denser = zero_fraction(spatial_observed) <= zero_fraction(ref_observed) - AUGMENT_DENSITY_MARGIN
    return shifts if denser else (0.0,) * len(shifts)


def _hilbert_index(ix: np.ndarray, iy: np.ndarray, order: int) -> np.ndarray:
    """Position along a Hilbert curve of a ``2**order`` grid (vectorised over points)."""
    x, y = ix.astype(np.int64).copy(), iy.astype(np.int64).copy()
    d = np.zeros_like(x)
    s = 1 << (order - 1)
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, s - 1 - x, x)
        swap_y = np.where(flip & rx, s - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return d


def spatial_order(coords: np.ndarray, order: int = 10) -> np.ndarray:
    """Cell permutation along a Hilbert curve through the tissue: neighbours in the sequence are neighbours in space.

    Each axis is rescaled on its own to the integer grid ``0 .. 2**order - 1`` (a constant axis maps to
    0); cells in the same grid cell keep their input order.

    Parameters
    ----------
    coords
        ``n x d`` cell coordinates, ``d >= 2``; only the first two columns are used.
    order
        Order of the Hilbert curve: ``2**order`` grid cells per axis.

    Returns
    -------
    numpy.ndarray
        Integer permutation of ``0 .. n - 1``: the cell indices in curve order.
    """
    xy = np.asarray(coords, dtype=np.float64)[:, :2]
    span = np.ptp(xy, axis=0)
    span[span == 0] = 1.0
    grid = np.floor((xy - xy.min(axis=0)) / span * ((1 << order) - 1)).astype(np.int64)
    return np.argsort(_hilbert_index(grid[:, 0], grid[:, 1], order), kind="stable")


def expression_order(x: np.ndarray) -> np.ndarray:
    """Cell permutation along the first principal component of ``x``: similar cells are adjacent.

    Computed on one BLAS thread: cells with equal or nearly equal scores would otherwise swap places
    with the machine's thread count.

    Parameters
    ----------
    x
        ``n x G`` cell features (e.g. model-space observed genes); centred, not scaled.

    Returns
    -------
    numpy.ndarray
        Integer permutation of ``0 .. n - 1`` sorting the cells by ascending score on the first principal
        component (the component's sign is whatever the SVD returns); ties keep their input order.
    """
    centred = x - x.mean(axis=0, keepdims=True)
    with single_threaded_numpy():
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        scores = centred @ vt[0]
    return np.argsort(scores, kind="stable")
