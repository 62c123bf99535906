"""Do the bits of a small DiffusionST run depend on the state of the process's heap?

A probe for the R-hosted first run that twice differed from later runs in the last bits (RESULTS.md, "Not
finished (DiffusionST)"). It runs the R tests' same-seed run (the tests' 600-spot window of the shipped 151673
slice, GCN only, 2 epochs, 200 genes, seed 7) ``--runs`` times in one Python process and prints two entries
of each embedding. With ``--junk N`` it first leaves N arrays of random sizes (seeded by ``--junk-seed``)
allocated, and one more after each run, so that each run finds the heap in another state. Run it under
``GLIBC_TUNABLES`` (e.g. ``glibc.malloc.mmap_threshold=...`` or ``glibc.malloc.perturb=...``) to change how
memory is handed out, and compare the printed bits between invocations.

Usage (from the repository root)::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/heap_state_bits.py
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/heap_state_bits.py --junk 500 --junk-seed 1
    GLIBC_TUNABLES=glibc.malloc.perturb=165 OMP_NUM_THREADS=2 .venv/bin/python benchmarks/heap_state_bits.py
"""

from __future__ import annotations

import argparse

import numpy as np

from spatialdiffusion.diffusionst import diffusionst_arrays
from spatialdiffusion.io import load_example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs in this process")
    parser.add_argument("--junk", type=int, default=0, help="arrays left allocated before the first run")
    parser.add_argument("--junk-seed", type=int, default=0, help="seeds the sizes of those arrays")
    args = parser.parse_args()

    adata = load_example("dlpfc_151673")
    row, col = adata.obs["array_row"].to_numpy(), adata.obs["array_col"].to_numpy()
    window = adata[(row >= 20) & (row < 44) & (col >= 20) & (col < 70)].copy()  # the R tests' smallDLPFC()
    sizes = np.random.default_rng(args.junk_seed).integers(1, 5000, size=args.junk)
    junk = [np.ones(int(size)) for size in sizes]
    for run in range(args.runs):
        embedding = diffusionst_arrays(window.X, window.obsm["spatial"], n_clusters=4, seed=7, verbose=False,
                                       cluster=False, gcn_epochs=2, diffusion="none", n_top_genes=200)["embedding"]
        print(f"run {run}: first entry {float(embedding[0, 0])!r}, last entry {float(embedding[-1, -1])!r}", flush=True)
        junk.append(np.ones(777))


if __name__ == "__main__":
    main()
