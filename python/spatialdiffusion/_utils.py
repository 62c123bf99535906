"""Shared plumbing: seeding, device choice, arithmetic precision, progress bars, provenance and argument checks.

The argument checks here cover scalars (seed, integers, switches, keys); the checks of the data
(counts, coordinates, gene names) are in :mod:`spatialdiffusion.checks`.

Every stochastic step of the package draws from generators seeded here, so one ``seed`` argument
fixes a whole run; every result records :func:`package_versions` next to its parameters.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import random
import sys
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

T = TypeVar("T")

_VERSIONED = ("spatialdiffusion", "torch", "numpy", "scipy", "scikit-learn", "scanpy", "anndata", "rpy2")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) from ``seed``.

    Parameters
    ----------
    seed
        Non-negative integer seed.

    Returns
    -------
    numpy.random.Generator
        A NumPy generator seeded with ``seed`` for callers that prefer explicit generators.
    """
    seed = check_seed(seed, DERIVED_SEED_LIMIT)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def restores_global_rng(function: Callable[..., T]) -> Callable[..., T]:
    """Decorator: Python's, NumPy's and torch's global random states are what they were before the call.

    The methods seed the global generators (:func:`seed_everything`) so that every step, including those
    of libraries that draw from them, follows ``seed``. Decorating a method's entry point keeps that from
    leaving a trace in the caller's own random streams, as the R side does with R's.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng():
                return function(*args, **kwargs)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)

    return wrapper


USER_SEED_LIMIT = 2**31
"""A method's ``seed`` must lie below this: R's integer range, since mclust's draws are seeded with ``set.seed``."""
DERIVED_SEED_LIMIT = 2**63
"""Seeds derived from the user's (``seed + 1000 * member``) must lie below this: torch's range."""


def check_seed(seed: object, limit: int = USER_SEED_LIMIT) -> int:
    """Return ``seed`` as an int, or raise a clear error when it is not an integer in ``[0, limit)``.

    The methods' entry points check the user's seed against :data:`USER_SEED_LIMIT`; the seeding helpers
    below take seeds derived from it, which may exceed that, and check them against :data:`DERIVED_SEED_LIMIT`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) and not (
        isinstance(seed, float) and float(seed).is_integer()
    ):
        raise TypeError(f"`seed` must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    if not 0 <= seed < limit:
        bound = "2**31 (R's integer range)" if limit == USER_SEED_LIMIT else f"2**{limit.bit_length() - 1}"
        raise ValueError(f"`seed` must be a non-negative integer below {bound}, got {seed}.")
    return seed


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Pick the compute device: CUDA, then Apple MPS, then CPU when ``device='auto'``.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"mps"``.

    Returns
    -------
    torch.device
        The device to use.

    Raises
    ------
    ValueError
        If the device string is not one of those or the requested accelerator is not available.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"`device` must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}.")
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"`device`={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda' or 'mps'.") from err
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"`device`={device!r} is not supported; use 'auto', 'cpu', 'cuda' (or 'cuda:N') or 'mps'.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device`='cuda' was requested but CUDA is not available; use device='auto' or 'cpu'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("`device`='mps' was requested but MPS is not available; use device='auto' or 'cpu'.")
    return dev


PRECISIONS = ("float32", "bf16")
"""Values of the methods' ``precision`` setting: float32 throughout, or the networks' forward passes in bfloat16."""


def check_precision(precision: str, device: torch.device) -> None:
    """Raise a clear error when the networks cannot run at ``precision`` on ``device``.

    ``"bf16"`` runs under bfloat16 autocast on CUDA (compute capability 8.0, Ampere, or newer) and on
    the CPU; ``"float32"`` runs anywhere.

    Raises
    ------
    ValueError
        For a ``precision`` outside :data:`PRECISIONS`, or ``"bf16"`` on a device without bfloat16 autocast.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "float32":
        return
    if device.type not in ("cuda", "cpu"):
        raise ValueError(f"`precision`='bf16' runs on CUDA or the CPU, not on {device.type!r}; use precision='float32'.")
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        major, minor = torch.cuda.get_device_capability(device)
        raise ValueError(f"`precision`='bf16' needs a GPU of compute capability 8.0 (Ampere) or newer; this one has "
                         f"{major}.{minor}. Use precision='float32'.")


def mixed_precision(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The context a network's forward pass (and the loss computed inside it) runs in.

    ``"bf16"``: :class:`torch.autocast` to bfloat16 on ``device``, so matrix products and convolutions run
    in bfloat16 while torch keeps reductions, normalisations and the weights in float32; callers cast the
    network's outputs back to float32 before using them. ``"float32"``: a context that does nothing.

    Raises
    ------
    ValueError
        See :func:`check_precision`.
    """
    check_precision(precision, device)
    if precision == "float32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class PeakGPUMemory:
    """The most GPU memory torch held for tensors during a run, on CUDA devices.

    Created at the start of a run, it resets CUDA's peak counter; :meth:`record` reads it. On other
    devices it calls no CUDA function and records nothing.

    Parameters
    ----------
    device
        The run's device.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def record(self) -> dict[str, float]:
        """``{"peak_gpu_memory_mib": MiB}`` (``torch.cuda.max_memory_allocated``) on CUDA, else ``{}``."""
        if self.device.type != "cuda":
            return {}
        return {"peak_gpu_memory_mib": round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)}


@contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run a block (typically a network's construction) with torch's global RNG seeded by ``seed``.

    The caller's RNG state is restored afterwards, so weight initialisation is reproducible on its own
    without disturbing anything else.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_seed(seed, DERIVED_SEED_LIMIT))
        yield


@contextmanager
def single_threaded_numpy() -> Iterator[None]:
    """Run a block's NumPy/SciPy/scikit-learn linear algebra on one thread.

    A multi-threaded BLAS splits sums differently at each thread count, so results differ in the last
    bits. Where those bits decide a discrete outcome (an order of cells along a component, a kNN graph
    and the Leiden partition built on it), the outcome would depend on how many threads the machine
    gives BLAS. Blocks that take such decisions run here, so they depend on the seed alone.
    """
    with threadpool_limits(limits=1):
        yield


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with torch's intra-op thread count set to ``threads``; the count is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed`` (CPU generator for MPS)."""
    gen_device = device if device.type == "cuda" else torch.device("cpu")
    gen = torch.Generator(device=gen_device)
    gen.manual_seed(check_seed(seed, DERIVED_SEED_LIMIT))
    return gen


def randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal noise drawn from ``generator`` and placed on ``device``.

    Drawing on the generator's device and moving afterwards keeps CPU and MPS runs identical for a seed.
    """
    out = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return out.to(device)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on (``"not installed"`` if absent)."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def inform(message: str, *, verbose: bool) -> None:
    """Write ``message`` to standard error (above any progress bar) unless ``verbose`` is false."""
    if verbose:
        tqdm.write(message, file=sys.stderr)


def progress(iterable: Iterable[T], *, desc: str, verbose: bool, total: int | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar labelled ``desc`` unless ``verbose`` is false."""
    return iter(tqdm(iterable, desc=desc, total=total, disable=not verbose, leave=False, dynamic_ncols=True))


class StageTimer:
    """Collects wall-clock seconds per named pipeline stage.

    Examples
    --------
    >>> timer = StageTimer()
    >>> with timer("graph"):
    ...     pass
    >>> sorted(timer.seconds)
    ['graph']
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        """Sum of all stage times in seconds."""
        return float(sum(self.seconds.values()))


def check_positive_int(value: object, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Validate an integer argument, naming it in the error message."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"`{name}` must be at least {minimum}{upper}, got {value}.")
    return value


def check_flag(value: object, name: str) -> bool:
    """Validate a switch (``verbose``, ``copy``, ...): ``True`` or ``False``, NumPy booleans included.

    A string such as ``"no"`` would otherwise count as true.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


def check_key(value: object, name: str) -> str:
    """Validate a key that results are stored under (``key_added``): a non-empty string."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"`{name}` must be a non-empty string, got {value!r}.")
    return value
