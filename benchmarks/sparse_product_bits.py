"""Do the GCN's sparse graph products give the same bits whatever the memory alignment of their operand?

Builds the propagation matrix of the shipped DLPFC 151673 slice (the engine's 4-NN graph, torch sparse CSR,
whose products on CPU go to torch's MKL), multiplies a fixed random spots x 64 matrix placed 0, 4, 16, 32
and 48 bytes past a 64-byte boundary, and prints one line: a short hash of each product. Run it in several
fresh processes, or under ``MKL_CBWR=COMPATIBLE``, to see whether the bits move.

Usage (from the repository root)::

    for i in $(seq 60); do .venv/bin/python benchmarks/sparse_product_bits.py; done | sort | uniq -c
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from spatialdiffusion.graph import propagation_matrix, spatial_adjacency, to_torch_sparse
from spatialdiffusion.io import load_example

OFFSETS = (0, 4, 16, 32, 48)


def placed_at(values: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``values`` whose data start ``offset`` bytes past a 64-byte boundary."""
    buffer = np.empty(values.nbytes + 128, dtype=np.uint8)
    start = (-buffer.ctypes.data) % 64 + offset
    copy = buffer[start:start + values.nbytes].view(values.dtype).reshape(values.shape)
    copy[...] = values
    return copy


def main() -> None:
    torch.set_num_threads(2)
    coords = np.asarray(load_example("dlpfc_151673").obsm["spatial"], dtype=float)
    propagation = to_torch_sparse(propagation_matrix(spatial_adjacency(coords, 4)), torch.device("cpu"))
    dense = np.random.default_rng(0).standard_normal((propagation.shape[0], 64)).astype(np.float32)
    hashes = [hashlib.md5((propagation @ torch.from_numpy(placed_at(dense, offset))).numpy().tobytes()).hexdigest()[:8]
              for offset in OFFSETS]
    print(" ".join(f"offset {offset}: {digest}" for offset, digest in zip(OFFSETS, hashes)))


if __name__ == "__main__":
    main()
