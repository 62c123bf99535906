"""Deprecated: the input checks moved to :mod:`spatialdiffusion.checks` and DiffusionST's preprocessing to
:mod:`spatialdiffusion.diffusionst` (``_preprocess``); importing this module warns."""

from ._imports import warn_moved

warn_moved(__name__, "spatialdiffusion.checks` (check_counts, check_coords) and `spatialdiffusion.diffusionst._preprocess")

from .checks import check_coords, check_counts  # noqa: E402
from .diffusionst._preprocess import (MIN_GENES, check_library_size, from_images, image_side, normalize_log_scale,  # noqa: E402
                                      select_hvg, stable_gene_library, to_images)

__all__ = ["MIN_GENES", "check_counts", "check_coords", "check_library_size", "stable_gene_library", "select_hvg",
           "normalize_log_scale", "image_side", "to_images", "from_images"]
