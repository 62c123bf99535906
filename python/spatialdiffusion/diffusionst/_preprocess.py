"""DiffusionST's preprocessing: library sizes, seurat_v3 HVGs, normalise, log, scale, and the image layout.

Everything here is array-level: raw counts in (checked by :func:`~spatialdiffusion.checks.check_counts`,
spots x genes, float32 CSR), numpy out.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import anndata as ad
import numpy as np
import scipy.sparse as sp
import scanpy as sc

MIN_GENES = 16
"""Fewest genes DiffusionST accepts: a 4x4 image, the smallest grid the U-Net can halve twice."""

_BLOCK_ROWS = 2048
"""Spots per block when dense spots x genes matrices are filled or reduced block by block."""


def check_library_size(library_size: object, counts: sp.csr_matrix, name: str = "library_size") -> np.ndarray:
    """Validate per-spot library sizes given for a count matrix that holds only some of the genes.

    Parameters
    ----------
    library_size
        One total UMI count per spot over the **whole transcriptome** (e.g. spatialLIBD's ``sum_umi``,
        or scanpy's ``total_counts`` computed before the genes were subset).
    counts
        The spots x genes count matrix it belongs to (validated by :func:`~spatialdiffusion.checks.check_counts`).
    name
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 vector, one value per spot.

    Raises
    ------
    ValueError
        If it is not one finite number per spot, is not positive, or is smaller than the spot's count
        over the genes given (a whole-transcriptome total cannot be).
    """
    try:
        arr = np.asarray(library_size, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`{name}` must be one number per spot (a total UMI count); it could not be read as numbers.") from err
    n_spots = counts.shape[0]
    if arr.ndim != 1 or arr.shape[0] != n_spots:
        raise ValueError(f"`{name}` must be a vector with one total UMI count per spot ({n_spots}), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`{name}` must hold finite, positive totals; spot {int(np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))[0])} "
                         "does not.")
    given = np.asarray(counts.sum(axis=1)).ravel()
    short = np.flatnonzero(arr < given - 1e-6)
    if short.size:
        i = int(short[0])
        raise ValueError(
            f"`{name}` is smaller than the spot's counts over the genes given for {short.size} spot(s) (spot {i}: "
            f"{arr[i]:g} < {given[i]:g}); it must be each spot's total over the whole transcriptome, computed before "
            "genes were removed."
        )
    return arr


def stable_gene_library(counts: sp.csr_matrix) -> np.ndarray:
    """Library sizes from the input's most stable genes, for a matrix that holds only the most variable genes.

    When the input keeps only the most variable genes (e.g. the shared DLPFC files' 5000), each spot's total over
    them depends on the spot's domain as well as on its sequencing depth: marker genes are what such a selection
    keeps, and their share of the whole transcriptome differs between domains. This estimate sums, per spot, only
    the genes least tied to any domain: of the genes whose mean count exceeds the median gene mean, the half with
    the lowest variance-to-mean ratio. The totals are then multiplied by one constant so that their median equals
    the median total over all the input's genes, which keeps the normalised values on the scale the default
    library gives. A spot none of whose stable genes is detected keeps its total over all genes.

    Parameters
    ----------
    counts
        Spots x genes raw counts (as returned by :func:`~spatialdiffusion.checks.check_counts`).

    Returns
    -------
    numpy.ndarray
        float64 vector, one library size per spot (0 only for a spot with no counts at all).

    Raises
    ------
    ValueError
        If the stable genes are detected in fewer than half of the spots (too sparse an input for the estimate).
    """
    counts = sp.csr_matrix(counts, dtype=np.float64)
    mean = np.asarray(counts.mean(axis=0)).ravel()
    variance = np.asarray(counts.multiply(counts).mean(axis=0)).ravel() - mean**2
    expressed = mean > np.median(mean)
    ratio = variance / np.where(expressed, mean, 1.0)
    stable = expressed & (ratio <= np.median(ratio[expressed])) if expressed.any() else expressed
    library = np.asarray(counts[:, stable].sum(axis=1)).ravel()
    if np.median(library) <= 0:
        raise ValueError(f"`library_genes='stable'`: the {int(stable.sum())} stable genes are detected in fewer than half "
                         "of the spots, too few to estimate library sizes; use `library_genes='all'`.")
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scaled = library * (np.median(totals) / np.median(library))
    return np.where(library > 0, scaled, totals)


def select_hvg(counts: sp.csr_matrix, n_top_genes: int) -> np.ndarray:
    """Indices of the ``n_top_genes`` most variable genes by scanpy's ``seurat_v3`` flavour on raw counts.

    The indices are returned in the input's gene order (the order that fixes pixel positions), not in
    rank order. When there are no more genes than requested, every gene is kept.

    Parameters
    ----------
    counts
        Spots x genes raw counts (as returned by :func:`~spatialdiffusion.checks.check_counts`).
    n_top_genes
        Number of genes to select.

    Returns
    -------
    numpy.ndarray
        Integer column indices into ``counts``, ascending; ``numpy.arange(n_genes)`` when
        ``n_genes <= n_top_genes`` (after checking that at least :data:`MIN_GENES` genes vary).

    Raises
    ------
    ValueError
        When fewer than :data:`MIN_GENES` genes vary across the spots and are detected in at least two of
        them, or when the selection's loess fit is singular, which happens with very few spots.
    """
    n_genes = counts.shape[1]
    varies = np.asarray((counts.max(axis=0) != counts.min(axis=0)).todense()).ravel()
    detected_twice = np.asarray((counts > 0).sum(axis=0)).ravel() >= 2
    n_varying = int((varies & detected_twice).sum())
    if n_varying < MIN_GENES:  # nothing to learn from; seurat_v3's loess would end the process (scikit-misc)
        raise ValueError(
            f"Only {n_varying} of the {n_genes} genes vary across the {counts.shape[0]} spots and are detected in at least "
            f"two of them, too few to rank by variability (at least {MIN_GENES} must). Check that the counts are not all "
            "zero or constant, nor one spot repeated, nor each gene detected in a single spot."
        )
    if n_genes <= n_top_genes:
        return np.arange(n_genes)
    # scanpy kept: its seurat_v3 (loess on log mean) is the published selection; a rewrite could move ties
    adata = ad.AnnData(X=counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=n_top_genes)
        except ValueError as err:  # scikit-misc's loess of log variance on log mean
            raise ValueError(
                f"seurat_v3 gene selection failed on {counts.shape[0]} spots x {n_genes} genes: its loess fit of the "
                f"genes' variance on their mean is singular ({err}). This happens with very few spots; run on more "
                f"spots (a whole sample), or keep every gene with `n_top_genes` >= {n_genes}."
            ) from err
    return np.flatnonzero(adata.var["highly_variable"].to_numpy())


def _column_sums(matrix: np.ndarray, rows: int, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """float64 column sums of ``transform(block)`` over row blocks of ``matrix``, added one row after another.

    The running total is added as the block's first row, so the sum is formed in the same order as
    numpy's sum over axis 0 of the whole transformed matrix, and equals it bit for bit.
    """
    total = np.zeros(matrix.shape[1])
    for lo in range(0, matrix.shape[0], rows):
        total = np.add.reduce(np.vstack([total[None], transform(matrix[lo : lo + rows].astype(np.float64))]), axis=0)
    return total


def normalize_log_scale(
    counts: sp.csr_matrix, genes: np.ndarray, max_value: float = 10.0, library_size: np.ndarray | None = None
) -> np.ndarray:
    """DiffusionST's expression features for the selected genes.

    Library-size normalisation to 1e4 over **all** genes, ``log1p``, then each selected gene divided by
    its standard deviation (ddof 1; a constant gene, or every gene when there is a single spot, is left
    unscaled) and clipped at ``max_value``, without centring (scanpy ``scale(zero_center=False,
    max_value=10)``), so values stay non-negative.
    The library size is each spot's total over the genes of ``counts``, or ``library_size`` when given
    (whole-transcriptome totals for a matrix that holds only some genes; see :func:`check_library_size`).
    The matrix is filled block by block of spots, so memory beyond the result does not grow with the
    number of spots; the standard deviations are computed in double precision.

    Parameters
    ----------
    counts
        Spots x genes raw counts (as returned by :func:`~spatialdiffusion.checks.check_counts`).
    genes
        Column indices of the genes to return (e.g. from :func:`select_hvg`).
    max_value
        Upper clip applied after scaling.
    library_size
        Optional per-spot library sizes, one per row of ``counts``; not validated here (use
        :func:`check_library_size`). A zero library size, given or computed, is replaced by 1.

    Returns
    -------
    numpy.ndarray
        Dense float32 ``spots x len(genes)`` matrix.
    """
    totals = np.asarray(counts.sum(axis=1)).ravel() if library_size is None else np.asarray(library_size)
    library = totals.astype(counts.dtype)  # a copy, in the counts' precision whichever totals are used
    library[library == 0] = 1.0
    sub = (sp.diags(1e4 / library) @ counts[:, genes]).tocsr()
    n_spots = sub.shape[0]
    x = np.empty(sub.shape, dtype=np.float32)
    for lo in range(0, n_spots, _BLOCK_ROWS):
        x[lo : lo + _BLOCK_ROWS] = np.log1p(sub[lo : lo + _BLOCK_ROWS].toarray())
    if n_spots > 1:
        mean = _column_sums(x, _BLOCK_ROWS, lambda block: block) / n_spots
        std = np.sqrt(_column_sums(x, _BLOCK_ROWS, lambda block: np.square(block - mean)) / (n_spots - 1))
    else:
        std = np.ones(x.shape[1])
    std[std == 0] = 1.0
    for lo in range(0, n_spots, _BLOCK_ROWS):
        x[lo : lo + _BLOCK_ROWS] = np.minimum(x[lo : lo + _BLOCK_ROWS] / std, max_value)
    return x


def image_side(n_genes: int, multiple: int = 4) -> int:
    """Side of the square image that holds ``n_genes`` values.

    The smallest side that is a multiple of ``multiple`` (the U-Net's total down-sampling factor: 4 for
    the paper's network, 8 with 2x2 patches) with ``side**2 >= n_genes``: 4096 genes give the paper's
    64x64 image, 1000 genes a 32x32 image, 33 genes an 8x8 image. Gene ``j`` sits at pixel
    ``(j // side, j % side)``; the remaining pixels are zero padding and are ignored by the loss.

    Parameters
    ----------
    n_genes
        Number of gene values per spot.
    multiple
        The side is rounded up to a multiple of this.

    Returns
    -------
    int
        ``multiple * ceil(sqrt(n_genes) / multiple)``.

    Raises
    ------
    ValueError
        If ``n_genes`` is below :data:`MIN_GENES` (16), whatever ``multiple`` is.
    """
    if n_genes < MIN_GENES:
        raise ValueError(
            f"DiffusionST needs at least {MIN_GENES} genes to lay out as an image, got {n_genes}; "
            "pass more genes (the method is designed for 4096 highly variable genes)."
        )
    return multiple * math.ceil(math.sqrt(n_genes) / multiple)


def to_images(features: np.ndarray, side: int) -> np.ndarray:
    """Lay each row of ``features`` out row-major on a ``side x side`` grid, zero-padded: ``(N, 1, side, side)``.

    Parameters
    ----------
    features
        ``N x G`` matrix with ``G <= side**2``.
    side
        Image side, e.g. from :func:`image_side`.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, 1, side, side)`` array (a new array); gene ``j`` sits at pixel
        ``(j // side, j % side)`` and the pixels after the last gene are zero.

    Raises
    ------
    ValueError
        If ``features`` has more columns than ``side**2`` pixels (numpy's broadcasting error).
    """
    n, g = features.shape
    padded = np.zeros((n, side * side), dtype=np.float32)
    padded[:, :g] = features
    return padded.reshape(n, 1, side, side)


def from_images(images: np.ndarray, n_genes: int) -> np.ndarray:
    """Inverse of :func:`to_images`: drop the padding and return ``(N, n_genes)``.

    Parameters
    ----------
    images
        Array of shape ``(N, ...)`` whose trailing dimensions flatten row-major into the pixels, e.g.
        ``(N, 1, side, side)``.
    n_genes
        Number of leading pixels (genes) to keep.

    Returns
    -------
    numpy.ndarray
        ``(N, n_genes)`` array of the same dtype as ``images``; a view of ``images`` when numpy can
        reshape it without copying.
    """
    return images.reshape(images.shape[0], -1)[:, :n_genes]
