"""Wall time of one pass of DiffusionST's `fast` U-Net on the CPU: a generation pass and a training step.

Usage (from the repository root, with the project's .venv)::

    PYTHONPATH=python .venv/bin/python benchmarks/unet_pass_time.py --threads 1
    ATEN_CPU_CAPABILITY=avx2 PYTHONPATH=python .venv/bin/python benchmarks/unet_pass_time.py --threads 1

The `fast` U-Net (random weights: the time does not depend on them) runs the shapes of the pipeline, taken from the
preset: a generation pass on one batch of candidates (42 spots x 3 candidates = 126 images of 64 x 64, in the
pipeline's CPU layout, inference mode, the thread count of one generation worker) and a training step
(``batch_size`` = 32 images, forward and backward). Each is timed
over ``--repeats`` calls after three warm-up calls. The first line names the vector instructions torch's own
kernels use (``torch.backends.cpu.get_cpu_capability()``; ``ATEN_CPU_CAPABILITY`` lowers it).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from spatialdiffusion.diffusionst._config import DIFFUSIONST_PRESETS
from spatialdiffusion.diffusionst._stages import build_unet, generation_batch_spots, generation_layout

SIDE = 64


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
    net = build_unet(fast)
    training_images = fast.batch_size
    generation_images = generation_batch_spots(fast) * fast.n_candidates
    print(f"cpu_capability {torch.backends.cpu.get_cpu_capability()}, threads {args.threads}")

    images = torch.randn(training_images, 1, SIDE, SIDE)
    steps = torch.randint(0, fast.diffusion_timesteps, (training_images,))
    net.train()
    print(f"training step (forward and backward, {training_images} images): "
          f"{mean_ms(lambda: net(images, steps).square().mean().backward(), args.repeats // 2):.1f} ms")

    layout = generation_layout(torch.device("cpu"))
    net = net.eval().to(memory_format=layout)
    candidates = torch.randn(generation_images, 1, SIDE, SIDE).contiguous(memory_format=layout)
    at = torch.full((generation_images,), fast.start_timestep, dtype=torch.long)
    with torch.inference_mode():
        print(f"generation pass ({generation_images} images): {mean_ms(lambda: net(candidates, at), args.repeats):.1f} ms")


if __name__ == "__main__":
    main()
