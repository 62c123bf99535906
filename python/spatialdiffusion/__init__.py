"""SpatialDiffusion: diffusion models for spatial transcriptomics.

Public API (imported lazily, so ``import spatialdiffusion`` and the CLI's ``--help`` stay fast):

- :func:`diffusionst` / :func:`diffusionst_arrays` - spatial domains with DiffusionST;
- :func:`spalstf` / :func:`evaluate_spalstf` (and their ``*_arrays`` cores) - gene imputation with SpaLSTF;
- :mod:`~spatialdiffusion.io`, :mod:`~spatialdiffusion.metrics`, :mod:`~spatialdiffusion.plotting`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("spatialdiffusion")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "diffusionst": "spatialdiffusion.methods.diffusionst",
    "diffusionst_arrays": "spatialdiffusion.methods.diffusionst",
    "spalstf": "spatialdiffusion.methods.spalstf",
    "spalstf_arrays": "spatialdiffusion.methods.spalstf",
    "evaluate_spalstf": "spatialdiffusion.methods.spalstf",
    "evaluate_spalstf_arrays": "spatialdiffusion.methods.spalstf",
}
_SUBMODULES = ("io", "metrics", "plotting", "cluster", "diffusion", "graph", "preprocess", "presets", "models", "methods")

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"spatialdiffusion.{name}")
    raise AttributeError(f"module 'spatialdiffusion' has no attribute {name!r}")
