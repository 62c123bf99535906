"""Spatial label refinement: a majority vote over each spot's nearest neighbours."""

from __future__ import annotations

import numpy as np

from ..graph import knn_indices


def refine_labels(labels: np.ndarray, coords: np.ndarray, n_neighbors: int = 50) -> np.ndarray:
    """Relabel each spot with the most common label among its ``n_neighbors`` nearest other spots.

    One pass that reads only the original labels, as DiffusionST's refinement. Ties go to the tied label
    that occurs first in distance order. Vectorised: one KD-tree query and a bincount per label.

    Parameters
    ----------
    labels
        One label per spot (any hashable values).
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
    neigh = codes[knn_indices(coords, n_neighbors)]  # N x k label codes, nearest first
    counts = np.zeros((neigh.shape[0], uniques.size), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(neigh.shape[0]), neigh.shape[1]), neigh.ravel()), 1)
    best = counts.max(axis=1, keepdims=True)
    is_best = np.take_along_axis(counts, neigh, axis=1) == best  # N x k: neighbour carries a winning label
    first = neigh[np.arange(neigh.shape[0]), is_best.argmax(axis=1)]
    return uniques[first]
