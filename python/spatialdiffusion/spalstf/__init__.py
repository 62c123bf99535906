"""SpaLSTF: impute genes a spatial assay did not measure from a matched scRNA-seq reference.

- :func:`spalstf` and :func:`evaluate_spalstf` (AnnData) and their array-level cores
  :func:`spalstf_arrays` and :func:`evaluate_spalstf_arrays` (numpy in, dict out; what the R package
  calls) live in ``_model``;
- :class:`SpaLSTFConfig` and :func:`spalstf_config`: the settings and the ``paper``/``fast`` presets
  (``_config``);
- ``_data``: gene matching, normalisation, reference augmentation and cell order (numpy only);
- ``_denoiser``: the network (a denoiser conditioned on the measured genes through a bidirectional LSTM);
- ``_stages``: :class:`SpaLSTFModel`, which trains the denoiser, samples the imputed genes and saves
  and loads checkpoints;
- ``_evaluate``: the published k-fold protocol.

Names are imported on first use, so ``import spatialdiffusion`` does not load torch.
"""

from .._imports import lazy_exports

_EXPORTS = {
    "spalstf": "._model",
    "spalstf_arrays": "._model",
    "evaluate_spalstf": "._model",
    "evaluate_spalstf_arrays": "._model",
    "default_target_genes": "._model",
    "SpaLSTFConfig": "._config",
    "spalstf_config": "._config",
    "SpaLSTFModel": "._stages",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
