"""Spatial k-NN graph, propagation matrix and label refinement."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from spatialdiffusion.cluster import refine_labels
from spatialdiffusion.cluster.refine import ordered_neighbors
from spatialdiffusion.graph import knn_indices, propagation_matrix, spatial_adjacency


def _grid(n: int) -> np.ndarray:
    return np.array([(i, j) for i in range(n) for j in range(n)], dtype=float)


def test_knn_excludes_self_and_orders_by_distance() -> None:
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0]])
    idx = knn_indices(coords, 2)
    np.testing.assert_array_equal(idx, [[1, 2], [0, 2], [1, 0], [2, 1]])


def test_knn_handles_duplicate_coordinates() -> None:
    coords = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    idx = knn_indices(coords, 1)
    assert idx[0, 0] == 1 and idx[1, 0] == 0


def test_adjacency_is_binary_symmetric_without_self_loops() -> None:
    coords = np.random.default_rng(0).uniform(size=(200, 2))
    adj = spatial_adjacency(coords, 4)
    assert sp.issparse(adj)
    assert (adj != adj.T).nnz == 0
    assert adj.diagonal().sum() == 0
    assert set(np.unique(adj.data)) == {1.0}
    degrees = np.asarray(adj.sum(axis=1)).ravel()
    assert degrees.min() >= 4
    # directed 4-NN edges are all present after symmetrising
    idx = knn_indices(coords, 4)
    assert all(adj[i, j] == 1 for i in range(200) for j in idx[i])


def test_propagation_matrix_matches_dense_formula() -> None:
    coords = _grid(5)
    adj = spatial_adjacency(coords, 4)
    dense = adj.toarray()
    d = np.diag(1 / np.sqrt(dense.sum(axis=1)))
    expected = d @ dense @ d + np.eye(len(coords))
    np.testing.assert_allclose(propagation_matrix(adj).toarray(), expected, rtol=1e-6)


def test_graph_rejects_too_few_spots() -> None:
    with pytest.raises(ValueError, match=r"`n_neighbors` \(4\) must be smaller than the number of spots \(3\)"):
        knn_indices(np.zeros((3, 2)), 4)


def test_refinement_majority_vote_and_tie_break() -> None:
    coords = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [10, 0]])
    labels = np.array(["a", "b", "b", "a", "a"])
    # spot 0: neighbours 1 (b), 2 (b) -> b; spot 4: neighbours 3 (a), 2 (b) -> tie, nearest (a) wins
    out = refine_labels(labels, coords, n_neighbors=2)
    assert out[0] == "b" and out[4] == "a"
    assert out.dtype == labels.dtype


def test_refinement_matches_loop_reference_on_real_like_data() -> None:
    rng = np.random.default_rng(1)
    coords = rng.uniform(size=(300, 2))
    labels = rng.integers(1, 5, size=300)
    fast = refine_labels(labels, coords, n_neighbors=10)
    idx = knn_indices(coords, 10)
    slow = np.array([max(list(labels[row]), key=list(labels[row]).count) for row in idx])
    np.testing.assert_array_equal(fast, slow)


def _brute_force_neighbors(coords: np.ndarray, k: int) -> np.ndarray:
    """The refinement's rule written out spot by spot: the k others with the smallest (d2, index)."""
    out = []
    for i in range(coords.shape[0]):
        d2 = ((coords - coords[i]) ** 2).sum(axis=1)
        d2[i] = np.inf
        out.append(np.lexsort((np.arange(coords.shape[0]), d2))[:k])
    return np.array(out)


def test_refinement_neighbours_break_distance_ties_by_index() -> None:
    # a square lattice (Visium HD bins) and a Visium-like hexagonal lattice of integer positions: most
    # distances tie, so only the rule (distance, then index) fixes which spots are neighbours
    square = np.array([[r, c] for r in range(12) for c in range(9)], dtype=float)
    hexagonal = np.array([[r, c] for r in range(14) for c in range(r % 2, 20, 2)], dtype=float)
    rng = np.random.default_rng(0)
    for coords in (square, hexagonal, square[rng.permutation(len(square))]):
        for k in (4, 6, 50):
            np.testing.assert_array_equal(ordered_neighbors(coords, k), _brute_force_neighbors(coords, k))
    # the rule, not the search tree, decides the vote on a lattice
    labels = rng.integers(0, 3, size=len(square))
    neighbours = _brute_force_neighbors(square, 8)
    counts = np.stack([(labels[neighbours] == c).sum(axis=1) for c in range(3)], axis=1)
    winners = counts == counts.max(axis=1, keepdims=True)
    expected = np.array([row[np.argmax(winners[i][row])] for i, row in enumerate(labels[neighbours])])
    np.testing.assert_array_equal(refine_labels(labels, square, n_neighbors=8), expected)


def test_refinement_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="labels"):
        refine_labels(np.array([1, 2]), np.zeros((3, 2)))
