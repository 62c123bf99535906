"""One pass (forward and backward) of DiffusionST's block-wise GCN reconstruction loss: time, page faults, system time.

Usage (from the repository root, with the project's .venv)::

    OMP_NUM_THREADS=2 PYTHONPATH=python .venv/bin/python benchmarks/gcn_loss_blocks.py --spots 58224 232896 --blocks 2048 512

For each number of spots, a random ``spots x 4096`` target, ``spots x 64`` propagated latent and ``64 x 4096``
decoder weight (the shapes of `fast` on a tile of 151673) go through
:func:`spatialdiffusion.diffusionst._gcn.reconstruction_sse` with each block size, twice in a row; each pass prints
its wall time, the minor page faults it caused and the system CPU time it used. A block whose float32 size is
32 MiB or more is mapped fresh by glibc at every allocation, which shows as page faults and system time.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from spatialdiffusion.diffusionst._gcn import reconstruction_sse

GENES, LATENT = 4096, 64


def one_pass(propagated: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, block_rows: int) -> tuple[float, int, float]:
    """Wall seconds, minor page faults and system CPU seconds of one loss pass with its backward pass."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    reconstruction_sse(propagated, weight, target, block_rows).backward()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    propagated.grad = weight.grad = None
    return wall, after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", nargs="+", type=int, default=[58224])
    parser.add_argument("--blocks", nargs="+", type=int, default=[2048, 512])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print("spots,block_rows,repeat,wall_s,minor_page_faults,system_s")
    for spots in args.spots:
        target = torch.randn(spots, GENES, generator=gen)
        propagated = torch.randn(spots, LATENT, generator=gen, requires_grad=True)
        weight = torch.randn(LATENT, GENES, generator=gen, requires_grad=True)
        for block_rows in args.blocks:
            for repeat in range(2):
                wall, faults, system = one_pass(propagated, weight, target, block_rows)
                print(f"{spots},{block_rows},{repeat},{wall:.2f},{faults},{system:.2f}", flush=True)


if __name__ == "__main__":
    main()
