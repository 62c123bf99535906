"""Tools, grouped as scanpy's ``tl``: each method's AnnData function (``sdf.tl.diffusionst(adata, n_clusters=7)``).

The same functions as ``sdf.diffusionst``, ``sdf.spalstf`` and ``sdf.evaluate_spalstf``; imported on first use.
"""

from ._imports import lazy_exports

_EXPORTS = {"diffusionst": "spatialdiffusion.diffusionst", "spalstf": "spatialdiffusion.spalstf",
            "evaluate_spalstf": "spatialdiffusion.spalstf"}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
