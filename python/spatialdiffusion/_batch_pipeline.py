"""Inference over batches, two batches at a time on the CPU.

A narrow network (the ``fast`` presets' U-Net has 8 to 16 channels) gives each torch operation too little work to
split well across threads: every operation of a pass waits for all threads to finish. Two batches in flight, each on
half of torch's threads, keep the cores busy between operations instead.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import torch

from ._utils import torch_threads

Batch = TypeVar("Batch")
Result = TypeVar("Result")

IN_FLIGHT = 2
"""Batches worked on at once on the CPU (when torch has at least two threads)."""


def map_batches(work: Callable[[Batch], Result], batches: Iterable[Batch], device: torch.device) -> Iterator[Result]:
    """``work(batch)`` for each of ``batches``, in order; on the CPU :data:`IN_FLIGHT` batches at a time.

    ``batches`` is consumed by the calling thread, at most :data:`IN_FLIGHT` batches ahead of the results handed
    back, so whatever it draws from a random generator is drawn in the order of a plain loop. On the CPU with
    ``t >= 2`` torch threads, ``work`` runs in :data:`IN_FLIGHT` worker threads with ``t // IN_FLIGHT`` torch
    threads each (torch's thread count is restored afterwards); elsewhere it runs in the calling thread. A result
    may differ from the plain loop's in the last bits of float32, as results do between thread counts.

    Parameters
    ----------
    work
        Called once per batch. It may run in a worker thread, where the caller's thread-local torch modes
        (:func:`torch.inference_mode`, autocast) do not apply: it enters those it needs itself.
    batches
        The inputs, produced lazily.
    device
        Where ``work`` computes.

    Yields
    ------
    Result
        ``work``'s results, in the order of ``batches``. An exception raised by ``work`` is raised here.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < IN_FLIGHT:
        yield from map(work, batches)
        return
    with torch_threads(threads // IN_FLIGHT), ThreadPoolExecutor(IN_FLIGHT) as pool:
        pending: deque[Future[Result]] = deque()
        for batch in batches:
            pending.append(pool.submit(work, batch))
            if len(pending) > IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
