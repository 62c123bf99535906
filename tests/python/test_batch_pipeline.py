"""Batches two at a time on the CPU: order, where the batches are drawn, torch's thread count, errors."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest
import torch

from spatialdiffusion._batch_pipeline import IN_FLIGHT, map_batches
from spatialdiffusion._utils import torch_threads


@pytest.fixture
def four_torch_threads() -> Iterator[None]:
    with torch_threads(4):
        yield


def _batches(record: list[str]) -> Iterator[int]:
    for i in range(7):
        record.append(threading.current_thread().name)
        yield i


@pytest.mark.usefixtures("four_torch_threads")
def test_cpu_batches_run_in_workers_on_a_share_of_the_threads_and_come_back_in_order() -> None:
    drawn_in: list[str] = []
    seen: list[tuple[str, int]] = []

    def work(i: int) -> int:
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return i * i

    assert list(map_batches(work, _batches(drawn_in), torch.device("cpu"))) == [i * i for i in range(7)]
    assert set(drawn_in) == {threading.current_thread().name}  # the batches (and their random draws) in the caller
    assert {threads for _, threads in seen} == {4 // IN_FLIGHT}
    assert threading.current_thread().name not in {name for name, _ in seen}
    assert torch.get_num_threads() == 4


@pytest.mark.usefixtures("four_torch_threads")
def test_a_failing_batch_raises_in_the_caller_and_restores_the_thread_count() -> None:
    def work(i: int) -> int:
        if i == 3:
            raise RuntimeError("batch 3 failed")
        return i

    results = []
    with pytest.raises(RuntimeError, match="batch 3 failed"):
        for result in map_batches(work, range(7), torch.device("cpu")):
            results.append(result)
    assert results == [0, 1, 2]
    assert torch.get_num_threads() == 4


@pytest.mark.parametrize("device, threads", [("cuda", 4), ("cpu", 1)])
def test_other_devices_and_a_single_thread_run_in_the_calling_thread(device: str, threads: int) -> None:
    with torch_threads(threads):
        names = list(map_batches(lambda i: threading.current_thread().name, range(3), torch.device(device)))
    assert names == [threading.current_thread().name] * 3
