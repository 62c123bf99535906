"""Shared pytest fixtures for the engine's tests.

Fixtures
--------
shared_data
    ``pathlib.Path`` of the shared real-data folder (see its README): the environment variable
    ``SPATIALDIFFUSION_DATA`` when set, else ``<repo>/../shared/data``. Tests that use it are skipped,
    with a message saying where the data was expected, when the folder is absent.
one_torch_thread
    Runs a test with one torch thread and restores the count afterwards: on a shared 2-core machine,
    spinning OpenMP threads make tiny models far slower.
dlpfc_151673
    The DLPFC 151673 AnnData (``dlpfc/151673.h5ad``: 3639 spots x 5000 genes, raw counts,
    ``obs['layer_guess_reordered']``), read once per test session. Treat it as read-only; call
    ``.copy()`` before modifying it.

Data shipped with the package (``inst/extdata``) needs no fixture: use
``spatialdiffusion.io.load_example(name)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import anndata as ad
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "SPATIALDIFFUSION_DATA"


def _shared_data_dir() -> Path:
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real-data folder; skips the test when it is absent."""
    folder = _shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"shared test data not found at {folder}; set {DATA_ENV} to the folder described in its README")
    return folder


@pytest.fixture(scope="session")
def dlpfc_151673(shared_data: Path) -> ad.AnnData:
    """DLPFC slice 151673 (raw counts, 5000 genes, ground truth), read once per session; do not modify."""
    file = shared_data / "dlpfc" / "151673.h5ad"
    if not file.is_file():
        pytest.skip(f"{file} is missing from the shared test data")
    return ad.read_h5ad(file)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
