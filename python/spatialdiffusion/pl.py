"""Plotting, grouped as scanpy's ``pl``: ``sdf.pl.domains(adata, key)`` draws spatial domains on the tissue.

:func:`domains` is :func:`spatialdiffusion.plotting.pl_domains`; :mod:`spatialdiffusion.plotting` also has the
array-level :func:`~spatialdiffusion.plotting.plot_domains`. Imported on first use (matplotlib is not loaded
before).
"""

from ._imports import lazy_exports

_EXPORTS = {"domains": "spatialdiffusion.plotting:pl_domains"}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
