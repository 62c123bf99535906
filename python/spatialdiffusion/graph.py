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

    Parameters
    ----------
    coords
        ``N x d`` spot coordinates (``d = 2`` for tissue positions); Euclidean distances, found with a
        KD-tree.
    n_neighbors
        Neighbours per spot, excluding the spot itself.

    Returns
    -------
    numpy.ndarray
        Integer ``N x n_neighbors`` array of row indices into ``coords``; row ``i`` lists spot ``i``'s
        neighbours by increasing distance.

    Raises
    ------
    ValueError
        If ``n_neighbors`` is not smaller than the number of spots ``N``.
    """
    n = coords.shape[0]
    if n_neighbors >= n:
        raise ValueError(f"`n_neighbors` ({n_neighbors}) must be smaller than the number of spots ({n}); use fewer neighbours.")
    nn = NearestNeighbors(n_neighbors=n_neighbors + 1, algorithm="kd_tree").fit(coords)
    _, idx = nn.kneighbors(coords)
    not_self = idx != np.arange(n)[:, None]
    # keep the first n_neighbors entries that are not the spot itself (self is normally column 0)
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :n_neighbors]
    return np.take_along_axis(idx, order, axis=1)


def spatial_adjacency(coords: np.ndarray, n_neighbors: int = 4) -> sp.csr_matrix:
    """Binary, symmetric k-nearest-neighbour adjacency (``A = K + K^T`` binarised, no self loops).

    ``K[i, j] = 1`` when ``j`` is one of the ``n_neighbors`` nearest spots of ``i`` (:func:`knn_indices`),
    so spots are linked when either is among the other's neighbours and a spot can have more than
    ``n_neighbors`` links.

    Parameters
    ----------
    coords
        ``N x d`` spot coordinates.
    n_neighbors
        Nearest neighbours taken per spot.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 ``N x N`` matrix of ones and (implicit) zeros, with an empty diagonal.

    Raises
    ------
    ValueError
        If ``n_neighbors`` is not smaller than the number of spots.
    """
    idx = knn_indices(coords, n_neighbors)
    n = coords.shape[0]
    rows = np.repeat(np.arange(n), n_neighbors)
    knn = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, idx.ravel())), shape=(n, n))
    adj = knn.maximum(knn.T).tocsr()
    adj.data[:] = 1.0
    return adj


def propagation_matrix(adj: sp.csr_matrix) -> sp.csr_matrix:
    """DiffusionST's propagation operator ``D^-1/2 A D^-1/2 + I`` (self loop added after normalising).

    Parameters
    ----------
    adj
        Square ``N x N`` sparse adjacency ``A`` (e.g. from :func:`spatial_adjacency`). ``D`` is the
        diagonal of its row sums; a spot with a zero row sum gets ``D^-1/2 = 0`` and keeps only its self
        loop.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 ``N x N`` operator (computed in float64, then cast).
    """
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg, dtype=np.float64)
    inv_sqrt[deg > 0] = 1.0 / np.sqrt(deg[deg > 0])
    d = sp.diags(inv_sqrt)
    return (d @ adj @ d + sp.identity(adj.shape[0], format="csr")).tocsr().astype(np.float32)


def to_torch_sparse(mat: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """Convert a scipy CSR matrix to a torch sparse CSR tensor on ``device`` (COO on MPS).

    Parameters
    ----------
    mat
        Sparse ``N x M`` matrix in CSR format (the COO path converts it with ``tocoo()``).
    device
        Target :class:`torch.device`; ``device.type == "mps"`` selects the COO layout.

    Returns
    -------
    torch.Tensor
        Sparse tensor of shape ``mat.shape`` on ``device``: CSR with int64 indices and float32 values, or,
        on MPS, a coalesced COO tensor with int64 indices and values of ``mat``'s dtype.
    """
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
