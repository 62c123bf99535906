"""Time one training step of the CPU preset's U-Net with a given number of torch threads.

Usage: .venv/bin/python benchmarks/cpu_threads.py 1 ; .venv/bin/python benchmarks/cpu_threads.py 2
Prints the median of 6 steps (batch 32, 64x64 images). Run both on the same machine state.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from spatialdiffusion.diffusionst._unet import UNet


def main() -> None:
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    unet = UNet(8, (1, 2, 2), groups=4, heads=4, head_dim=8, patch_size=2)
    optimizer = torch.optim.Adam(unet.parameters(), 1e-3)
    images, t = torch.randn(32, 1, 64, 64), torch.randint(0, 100, (32,))
    times = []
    for _ in range(6):
        start = time.perf_counter()
        loss = (unet(images, t) - images).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    print(f"{threads} thread(s): median U-Net training step {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
