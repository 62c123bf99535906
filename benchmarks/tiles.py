"""Large sections built from real slices: copies of one slice laid side by side, labels and totals kept.

:func:`tile_slice` is what the scale and GPU benchmarks (``benchmarks/gpu_check.py``) run on: ``k`` copies of
DLPFC 151673 make one section of ``k * 3639`` spots whose every spot still has its ground-truth layer, so
the ARI of a run on the tile can be compared with the single slice's.
"""

from __future__ import annotations

import math

import anndata as ad
import numpy as np

GAP = 0.25
"""Space left between neighbouring copies, as a share of the slice's width (or height)."""


def tile_slice(adata: ad.AnnData, copies: int, spatial_key: str = "spatial") -> ad.AnnData:
    """``copies`` copies of ``adata`` side by side on a near-square grid, as one section.

    Parameters
    ----------
    adata
        One slice: counts in ``X``, coordinates in ``obsm[spatial_key]``.
    copies
        How many copies (at least 1); they fill ``ceil(sqrt(copies))`` columns, row by row.
    spatial_key
        ``obsm`` key of the coordinates.

    Returns
    -------
    anndata.AnnData
        ``copies * n_obs`` spots with the same genes (``var``) and ``obs`` columns, plus ``obs['tile']``
        (the copy, ``0 .. copies - 1``); obs names are made unique as ``<name>-<copy>``. Each copy's
        coordinates are shifted by a whole multiple of the slice's extent plus a gap of :data:`GAP` times
        it, so no two copies overlap or touch and a spatial neighbour graph never joins them.

    Raises
    ------
    ValueError
        If ``copies`` is not a positive integer or ``obsm[spatial_key]`` is missing.
    """
    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 1:
        raise ValueError(f"`copies` must be a positive integer, got {copies!r}.")
    if spatial_key not in adata.obsm:
        raise ValueError(f"adata.obsm[{spatial_key!r}] not found; `tile_slice` needs the slice's coordinates.")
    xy = np.asarray(adata.obsm[spatial_key], dtype=float)
    step = (xy.max(axis=0) - xy.min(axis=0)) * (1 + GAP)
    columns = math.ceil(math.sqrt(copies))
    tiles = []
    for k in range(int(copies)):
        tile = adata.copy()
        tile.obsm[spatial_key] = xy + step * np.array([k % columns, k // columns])
        tiles.append(tile)
    out = ad.concat(tiles, label="tile", keys=[str(k) for k in range(int(copies))], index_unique="-", merge="same")
    out.obs["tile"] = out.obs["tile"].astype(int)
    return out
