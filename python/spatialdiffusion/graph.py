"""Spatial neighbour graphs, built with a KD-tree and kept sparse (nothing is O(N^2))."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors


def knn_indices(coords: np.ndarray, n_neighbors: int) -> np.ndarray:
    """The ``n_neighbors`` nearest other spots of each spot, nearest first (``N x n_neighbors``).

    The spot itself is removed by index (not by position), so duplicated coordinates are handled.
    """
    n = coords.shape[0]
    if n_neighbors >= n:
        raise ValueError(f"Asked for {n_neighbors} neighbours but there are only {n} spots; use fewer neighbours.")
    nn = NearestNeighbors(n_neighbors=n_neighbors + 1, algorithm="kd_tree").fit(coords)
    _, idx = nn.kneighbors(coords)
    not_self = idx != np.arange(n)[:, None]
    # keep the first n_neighbors entries that are not the spot itself (self is normally column 0)
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :n_neighbors]
    return np.take_along_axis(idx, order, axis=1)


def spatial_adjacency(coords: np.ndarray, n_neighbors: int = 4) -> sp.csr_matrix:
    """Binary, symmetric k-nearest-neighbour adjacency (``A = K + K^T`` binarised, no self loops)."""
    idx = knn_indices(coords, n_neighbors)
    n = coords.shape[0]
    rows = np.repeat(np.arange(n), n_neighbors)
    knn = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, idx.ravel())), shape=(n, n))
    adj = knn.maximum(knn.T).tocsr()
    adj.data[:] = 1.0
    return adj


def propagation_matrix(adj: sp.csr_matrix) -> sp.csr_matrix:
    """DiffusionST's propagation operator ``D^-1/2 A D^-1/2 + I`` (self loop added after normalising)."""
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg, dtype=np.float64)
    inv_sqrt[deg > 0] = 1.0 / np.sqrt(deg[deg > 0])
    d = sp.diags(inv_sqrt)
    return (d @ adj @ d + sp.identity(adj.shape[0], format="csr")).tocsr().astype(np.float32)


def to_torch_sparse(mat: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """Convert a scipy CSR matrix to a torch sparse CSR tensor on ``device`` (COO on MPS)."""
    if device.type == "mps":
        coo = mat.tocoo()
        indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        return torch.sparse_coo_tensor(indices, torch.from_numpy(coo.data), coo.shape).coalesce().to(device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        return torch.sparse_csr_tensor(
            torch.from_numpy(mat.indptr.astype(np.int64)),
            torch.from_numpy(mat.indices.astype(np.int64)),
            torch.from_numpy(mat.data.astype(np.float32)),
            size=mat.shape,
        ).to(device)
