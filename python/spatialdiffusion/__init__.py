"""SpatialDiffusion: diffusion models for spatial transcriptomics.

Public API (imported on first use, so ``import spatialdiffusion`` and the CLI's ``--help`` stay fast):

- :func:`diffusionst` / :func:`diffusionst_arrays`: spatial domains with DiffusionST
  (:mod:`spatialdiffusion.diffusionst` holds them with their settings, networks and stages);
- :func:`spalstf` / :func:`evaluate_spalstf` and their ``*_arrays`` cores: gene imputation with SpaLSTF
  (:mod:`spatialdiffusion.spalstf`);
- :mod:`~spatialdiffusion.tl` and :mod:`~spatialdiffusion.pl`: the AnnData functions grouped as in scanpy
  (``sdf.tl.diffusionst(adata)``, ``sdf.pl.domains(adata, key)``);
- shared by both methods: :mod:`~spatialdiffusion.io`, :mod:`~spatialdiffusion.checks`,
  :mod:`~spatialdiffusion.graph`, :mod:`~spatialdiffusion.diffusion`, :mod:`~spatialdiffusion.cluster`,
  :mod:`~spatialdiffusion.metrics`, :mod:`~spatialdiffusion.plotting`.

``sdf.diffusionst`` and ``sdf.spalstf`` are the functions, not the subpackages of the same name: import
from the subpackages with ``from spatialdiffusion.diffusionst import DiffusionSTConfig``.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

from ._imports import lazy_exports

try:
    __version__ = version("spatialdiffusion")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_FUNCTIONS = {
    "diffusionst": ".diffusionst",
    "diffusionst_arrays": ".diffusionst",
    "AUTO_ENHANCED_MAX_SPOTS": ".diffusionst",
    "spalstf": ".spalstf",
    "spalstf_arrays": ".spalstf",
    "evaluate_spalstf": ".spalstf",
    "evaluate_spalstf_arrays": ".spalstf",
    "DiffusionSTConfig": ".diffusionst",
    "SpaLSTFConfig": ".spalstf",
}
_SUBMODULES = ("io", "checks", "graph", "diffusion", "cluster", "metrics", "plotting", "tl", "pl")

# The method subpackages are imported now (their __init__ is light): importing a subpackage binds its name
# here, and that must happen before the names are freed for the functions, or a later first import of,
# say, spatialdiffusion.diffusionst._stages would replace the function sdf.diffusionst by the subpackage.
for _package in ("diffusionst", "spalstf"):
    importlib.import_module(f".{_package}", __name__)
    del globals()[_package]
del _package

__all__ = ["__version__", *_FUNCTIONS, *_SUBMODULES]
__getattr__, __dir__ = lazy_exports(__name__, _FUNCTIONS, _SUBMODULES)
del importlib, lazy_exports, version, PackageNotFoundError  # keep dir(spatialdiffusion) to the API
