"""Shared pytest fixtures for the engine's tests.

Fixtures
--------
shared_data
    ``pathlib.Path`` of the shared real-data folder (see its README): the environment variable
    ``SPATIALDIFFUSION_DATA`` when set, else ``<repo>/../shared/data``. Tests that use it are skipped,
    with a message saying where the data was expected, when the folder is absent; with
    ``SPATIALDIFFUSION_REQUIRE_DATA=true`` (set by ``make test``) they fail instead.
shared_file
    ``shared_file("osmfish/x.h5ad")``: that path under ``shared_data``, skipped or failed as above when
    it is missing.
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
from typing import Callable, Iterator

import anndata as ad
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "SPATIALDIFFUSION_DATA"
REQUIRE_ENV = "SPATIALDIFFUSION_REQUIRE_DATA"


def _shared_data_dir() -> Path:
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else REPO.parent / "shared" / "data"


def _missing(message: str) -> None:
    """Skip the test for missing data, or fail it when ``SPATIALDIFFUSION_REQUIRE_DATA=true``."""
    if os.environ.get(REQUIRE_ENV, "").lower() == "true":
        pytest.fail(f"{message} ({REQUIRE_ENV}=true: real-data tests may not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real-data folder; skips (or fails, see the module docstring) when it is absent."""
    folder = _shared_data_dir()
    if not folder.is_dir():
        _missing(f"shared test data not found at {folder}; set {DATA_ENV} to the folder described in its README")
    return folder


@pytest.fixture(scope="session")
def shared_file(shared_data: Path) -> Callable[[str], Path]:
    """Look up a file or folder under the shared data; skips (or fails) when it is missing."""

    def lookup(relative: str) -> Path:
        path = shared_data / relative
        if not path.exists():
            _missing(f"{path} is missing from the shared test data")
        return path

    return lookup


@pytest.fixture(scope="session")
def dlpfc_151673(shared_file: Callable[[str], Path]) -> ad.AnnData:
    """DLPFC slice 151673 (raw counts, 5000 genes, ground truth), read once per session; do not modify."""
    return ad.read_h5ad(shared_file("dlpfc/151673.h5ad"))


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test, restored afterwards."""
    from spatialdiffusion._utils import torch_threads

    with torch_threads(1):
        yield
