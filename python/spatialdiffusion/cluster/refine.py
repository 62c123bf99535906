"""Spatial label refinement: a majority vote over each spot's nearest neighbours.

The neighbours follow one rule that the R package's refinement (``R/refine.R``) implements too, so
that R and Python give the same domains bit for bit: the neighbours of spot ``i`` are the ``k`` spots
``j != i`` with the smallest ``(d2, j)``, where ``d2`` sums ``(x[j, c] - x[i, c]) ** 2`` over the
coordinate columns in order, in double precision. Equidistant spots, common on a lattice of spot or bin
positions, are thus taken and listed lower index first, whatever order a search tree returns them in.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

# Candidates searched per spot beyond ``k`` (k // 2 + 10 more); both languages use the same margin.
_MARGIN_FRACTION, _MARGIN_EXTRA = 2, 10
# A spot is searched again over all spots when its last candidate is not clearly farther than its k-th.
_TIE_TOLERANCE = 1e-8


def _squared_distances(coords: np.ndarray, rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``d2[r, m]`` between spot ``rows[r]`` and spot ``candidates[r, m]``, coordinate columns added in order."""
    d2 = np.zeros(candidates.shape, dtype=np.float64)
    for column in range(coords.shape[1]):
        diff = coords[candidates, column] - coords[rows, column][:, None]
        d2 = d2 + diff * diff
    return d2


def _sorted_by_distance_then_index(candidates: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``candidates`` (and ``d2``) reordered by increasing ``(d2, index)``."""
    order = np.lexsort((candidates, d2), axis=1)
    return np.take_along_axis(candidates, order, axis=1), np.take_along_axis(d2, order, axis=1)


def ordered_neighbors(coords: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other spots of every spot, ordered by ``(squared distance, index)``.

    A KD-tree proposes ``k + k // 2 + 10`` candidates per spot; their squared distances are recomputed
    from the coordinates and sorted with the index as tie-breaker. A spot whose candidates could miss a
    spot tied with its ``k``-th neighbour (its last candidate not farther than the ``k``-th) is searched
    again over all spots. Memory and time grow linearly with the number of spots.

    Parameters
    ----------
    coords
        ``N x d`` spot coordinates.
    k
        Neighbours per spot, excluding the spot itself; ``1 <= k < N``.

    Returns
    -------
    numpy.ndarray
        ``N x k`` integer array; row ``i`` lists spot ``i``'s neighbours, nearest (then lowest index) first.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    rows = np.arange(n)
    m = min(n - 1, k + k // _MARGIN_FRACTION + _MARGIN_EXTRA)
    _, found = NearestNeighbors(n_neighbors=m + 1, algorithm="kd_tree").fit(coords).kneighbors(coords)
    d2 = _squared_distances(coords, rows, found)
    d2[found == rows[:, None]] = np.inf  # never the spot itself, wherever the tree listed it
    candidates, d2 = _sorted_by_distance_then_index(found, d2)
    # the spot itself (infinite) is last: the first m entries are m other spots
    candidates, d2 = candidates[:, :m], d2[:, :m]
    neighbors = candidates[:, :k].copy()
    if m < n - 1:
        for i in np.flatnonzero(~(d2[:, m - 1] > d2[:, k - 1] * (1 + _TIE_TOLERANCE))):
            every = rows[None, :]
            all_d2 = _squared_distances(coords, np.array([i]), every)
            all_d2[0, i] = np.inf
            neighbors[i] = _sorted_by_distance_then_index(every, all_d2)[0][0, :k]
    return neighbors


def refine_labels(labels: np.ndarray, coords: np.ndarray, n_neighbors: int = 50) -> np.ndarray:
    """Relabel each spot with the most common label among its ``n_neighbors`` nearest other spots.

    One pass that reads only the original labels, as DiffusionST's refinement. The neighbours are those
    of :func:`ordered_neighbors` (equidistant spots by index); a tie between labels goes to the tied label
    of the nearest neighbour that carries one. Vectorised: one KD-tree query and a count per label.

    Parameters
    ----------
    labels
        One label per spot (any sortable values).
    coords
        ``N x 2`` spot coordinates.
    n_neighbors
        Neighbourhood size (50 in DiffusionST; it excludes the spot itself).

    Returns
    -------
    numpy.ndarray
        Refined labels, same dtype as ``labels``.
    """
    labels = np.asarray(labels)
    coords = np.asarray(coords, dtype=float)
    if labels.shape[0] != coords.shape[0]:
        raise ValueError(f"`labels` has {labels.shape[0]} entries but `coords` has {coords.shape[0]} rows.")
    n_neighbors = min(int(n_neighbors), coords.shape[0] - 1)
    if n_neighbors < 1:
        return labels.copy()
    uniques, codes = np.unique(labels, return_inverse=True)
    neigh = codes[ordered_neighbors(coords, n_neighbors)]  # N x k label codes, nearest first
    counts = np.zeros((neigh.shape[0], uniques.size), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(neigh.shape[0]), neigh.shape[1]), neigh.ravel()), 1)
    best = counts.max(axis=1, keepdims=True)
    is_best = np.take_along_axis(counts, neigh, axis=1) == best  # N x k: neighbour carries a winning label
    first = neigh[np.arange(neigh.shape[0]), is_best.argmax(axis=1)]
    return uniques[first]
