"""SpaLSTF `fast` sampling on the CPU: one batch at a time on all threads, or two batches at once on half each.

Usage (from the repository root, with the project's .venv)::

    OMP_NUM_THREADS=2 PYTHONPATH=python .venv/bin/python benchmarks/spalstf_sampling_threads.py --cells 8192 --repeats 3

DiffusionST's generation runs two batches at a time on the CPU
(:func:`spatialdiffusion._batch_pipeline.map_batches`) because its 8-16-channel U-Net cannot keep two threads busy
within one operation. This measures whether SpaLSTF's denoiser (width 128, 1,024-cell batches of 8 draws) gains
the same way. A `fast` model for the Visium task's shape (200 observed and 100 target genes, one denoiser, one
epoch: the timing does not depend on the weights) is trained on Poisson counts, then ``--cells`` cells are sampled
(:meth:`SpaLSTFModel.sample_model_space`) either in one call on ``--threads`` torch threads, or as two halves in
two worker threads with ``threads // 2`` torch threads each. The two arms alternate, ``--repeats`` times, after
one warm-up call; each line gives the arm and its wall time.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from spatialdiffusion._utils import torch_threads
from spatialdiffusion.spalstf._config import spalstf_config
from spatialdiffusion.spalstf._stages import SpaLSTFModel

OBSERVED, TARGETS = 200, 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, config = spalstf_config("fast", epochs=1, n_models=1, augment=False)
    rng = np.random.default_rng(0)
    reference = rng.poisson(2.0, (3000, OBSERVED + TARGETS)).astype(np.float32)
    model = SpaLSTFModel(config, [f"o{i}" for i in range(OBSERVED)], [f"t{i}" for i in range(TARGETS)], torch.device("cpu"))
    model.fit(reference, verbose=False)
    cells = rng.poisson(2.0, (args.cells, OBSERVED)).astype(np.float32)
    halves = np.array_split(cells, 2)

    def sample(counts: np.ndarray) -> np.ndarray:
        return model.sample_model_space(counts, verbose=False)[0]

    def one_at_a_time() -> None:
        sample(cells)

    def two_at_once() -> None:
        with torch_threads(max(1, args.threads // 2)), ThreadPoolExecutor(2) as pool:
            list(pool.map(sample, halves))

    sample(halves[0])
    print("arm,repeat,wall_s")
    for repeat in range(args.repeats):
        for name, arm in (("one_batch_all_threads", one_at_a_time), ("two_batches_half_threads", two_at_once)):
            start = time.perf_counter()
            arm()
            print(f"{name},{repeat},{time.perf_counter() - start:.2f}", flush=True)


if __name__ == "__main__":
    main()
