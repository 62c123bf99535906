"""Wall time of one pass of DiffusionST's `fast` U-Net on the CPU: a generation pass and a training step.

Usage (from the repository root, with the project's .venv)::

    PYTHONPATH=python .venv/bin/python benchmarks/unet_pass_time.py --threads 1
    ATEN_CPU_CAPABILITY=avx2 PYTHONPATH=python .venv/bin/python benchmarks/unet_pass_time.py --threads 1

The `fast` U-Net (random weights: the time does not depend on them) runs the shapes of the pipeline: a generation
pass on one batch of candidates (42 spots x 3 candidates = 126 images of 64 x 64, channels-last, inference mode,
the thread count of one generation worker) and a training step (32 images, forward and backward). Each is timed
over ``--repeats`` calls after three warm-up calls. The first line names the vector instructions torch's own
kernels use (``torch.backends.cpu.get_cpu_capability()``; ``ATEN_CPU_CAPABILITY`` lowers it).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from spatialdiffusion.diffusionst._config import DIFFUSIONST_PRESETS, unet_groups
from spatialdiffusion.diffusionst._unet import UNet

GENERATION_IMAGES, TRAINING_IMAGES, SIDE = 126, 32, 64


def mean_ms(call: Callable[[], object], repeats: int) -> float:
    """Mean wall milliseconds of ``call`` over ``repeats`` calls, after three warm-up calls."""
    for _ in range(3):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fast = DIFFUSIONST_PRESETS["fast"]
    net = UNet(fast.unet_channels, fast.unet_mults, groups=unet_groups(fast.unet_channels), heads=4,
               head_dim=min(32, fast.unet_channels), patch_size=fast.unet_patch_size)
    print(f"cpu_capability {torch.backends.cpu.get_cpu_capability()}, threads {args.threads}")

    images = torch.randn(TRAINING_IMAGES, 1, SIDE, SIDE)
    steps = torch.randint(0, fast.diffusion_timesteps, (TRAINING_IMAGES,))
    net.train()
    print(f"training step (forward and backward, {TRAINING_IMAGES} images): "
          f"{mean_ms(lambda: net(images, steps).square().mean().backward(), args.repeats // 2):.1f} ms")

    net = net.eval().to(memory_format=torch.channels_last)
    candidates = torch.randn(GENERATION_IMAGES, 1, SIDE, SIDE).contiguous(memory_format=torch.channels_last)
    at = torch.full((GENERATION_IMAGES,), fast.start_timestep, dtype=torch.long)
    with torch.inference_mode():
        print(f"generation pass ({GENERATION_IMAGES} images): {mean_ms(lambda: net(candidates, at), args.repeats):.1f} ms")


if __name__ == "__main__":
    main()
