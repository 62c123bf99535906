"""DiffusionST: denoise and diffusion-enhance spot-level spatial transcriptomics, then cluster spatial domains.

- :func:`diffusionst` (AnnData, scanpy-style) and :func:`diffusionst_arrays` (numpy in, dict out; what the
  R package calls) live in ``_model``;
- :class:`DiffusionSTConfig`, :data:`DIFFUSIONST_PRESETS` and :func:`diffusionst_config`: the settings and
  the ``paper``/``fast`` presets (``_config``);
- the preprocessing (``_preprocess``): :func:`stable_gene_library`, :func:`select_hvg`,
  :func:`normalize_log_scale` and the gene-image layout;
- the networks, with no I/O: ``_gcn`` (graph autoencoder with ZINB heads) and ``_unet`` (the U-Net);
- ``_stages``: the three numerical stages (GCN denoising, diffusion enhancement, PCA embedding).

Names are imported on first use, so ``import spatialdiffusion`` does not load torch.
"""

from .._imports import lazy_exports

_EXPORTS = {
    "diffusionst": "._model",
    "diffusionst_arrays": "._model",
    "AUTO_ENHANCED_MAX_SPOTS": "._model",
    "DiffusionSTConfig": "._config",
    "DIFFUSIONST_PRESETS": "._config",
    "diffusionst_config": "._config",
    "MIN_GENES": "._preprocess",
    "check_library_size": "._preprocess",
    "normalize_log_scale": "._preprocess",
    "select_hvg": "._preprocess",
    "stable_gene_library": "._preprocess",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
