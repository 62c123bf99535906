"""Where each gene sits on a spot's square image.

DiffusionST's U-Net reads a spot as a ``side x side`` image of gene values. Its convolutions, and the 2x2
patches of the CPU preset, mix only neighbouring pixels, so which genes are neighbours matters. Two layouts:

- ``"file"``: gene ``j`` at pixel ``j`` in row-major order, genes in the order given (the reference's
  layout: genomic order in a 10x file, so neighbouring pixels hold unrelated genes).
- ``"clustered"``: genes ordered by average-linkage hierarchical clustering of their correlation over the
  spots, and laid along a Hilbert curve, so that genes that vary together over the tissue share pixel
  neighbourhoods at every scale the U-Net down-samples to.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from ._utils import single_threaded_numpy

GENE_LAYOUTS = ("file", "clustered")


def hilbert_curve(order: int) -> np.ndarray:
    """Row-major pixel indices of a ``2**order x 2**order`` grid, visited along a Hilbert curve.

    Consecutive entries are edge-adjacent pixels, and every aligned ``2**k x 2**k`` block is visited
    in one run of ``4**k`` consecutive entries.

    Parameters
    ----------
    order
        Curve order (``>= 0``); the grid side is ``2**order``.

    Returns
    -------
    numpy.ndarray
        int64 array of the ``4**order`` flat indices ``row * side + col`` in curve order.
    """
    side = 1 << order
    d = np.arange(side * side, dtype=np.int64)
    row = np.zeros_like(d)
    col = np.zeros_like(d)
    rest = d.copy()
    s = 1
    while s < side:
        right = (rest // 2) & 1
        up = (rest ^ right) & 1
        swap = up == 0
        flip = swap & (right == 1)
        row[flip], col[flip] = s - 1 - row[flip], s - 1 - col[flip]
        row[swap], col[swap] = col[swap], row[swap].copy()
        col += s * right
        row += s * up
        rest //= 4
        s *= 2
    return row * side + col


def locality_curve(side: int) -> np.ndarray:
    """Row-major pixel indices of a ``side x side`` grid in a locality-preserving visiting order.

    The grid is cut into blocks whose side is the largest power of two dividing ``side``; blocks are
    visited row by row, the pixels of each along a Hilbert curve (:func:`hilbert_curve`). A side that is
    a power of two (64 for 4096 genes) gives one Hilbert curve over the whole image.

    Parameters
    ----------
    side
        Image side (``>= 1``).

    Returns
    -------
    numpy.ndarray
        int64 permutation of ``range(side**2)``.
    """
    block = side & -side
    inner = hilbert_curve(block.bit_length() - 1)
    inner_row, inner_col = np.divmod(inner, block)
    block_row, block_col = np.divmod(np.arange((side // block) ** 2), side // block)
    rows = (block_row[:, None] * block + inner_row[None, :]).ravel()
    cols = (block_col[:, None] * block + inner_col[None, :]).ravel()
    return rows * side + cols


def correlation_order(matrix: np.ndarray) -> np.ndarray:
    """Genes (columns) in the leaf order of an average-linkage clustering on ``1 - correlation``.

    Parameters
    ----------
    matrix
        ``N x G`` matrix; a gene constant over the spots has correlation 0 with every other gene.

    Returns
    -------
    numpy.ndarray
        int64 permutation of ``range(G)``: neighbours in it are genes that vary together.
    """
    centred = matrix - matrix.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    unit = centred / np.where(norms > 0, norms, 1)
    with single_threaded_numpy():
        correlation = (unit.T @ unit).astype(np.float64)
    distance = np.clip(1 - correlation, 0, 2)
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return leaves_list(tree).astype(np.int64)


def gene_pixels(matrix: np.ndarray, side: int, layout: str) -> np.ndarray:
    """Flat (row-major) pixel of every gene of ``matrix`` on a ``side x side`` image.

    Parameters
    ----------
    matrix
        ``N x G`` matrix whose columns are laid out, ``G <= side**2``.
    side
        Image side, e.g. from :func:`~spatialdiffusion.preprocess.image_side`.
    layout
        ``"file"`` or ``"clustered"`` (module docstring).

    Returns
    -------
    numpy.ndarray
        int64 array of ``G`` distinct pixel indices; gene ``j`` sits at pixel ``(p // side, p % side)``
        with ``p = pixels[j]``. Unused pixels are padding.

    Raises
    ------
    ValueError
        For an unknown ``layout``.
    """
    n_genes = matrix.shape[1]
    if layout == "file":
        return np.arange(n_genes, dtype=np.int64)
    if layout != "clustered":
        raise ValueError(f"`layout` must be one of {GENE_LAYOUTS}, got {layout!r}.")
    pixels = np.empty(n_genes, dtype=np.int64)
    pixels[correlation_order(matrix)] = locality_curve(side)[:n_genes]
    return pixels
