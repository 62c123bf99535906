"""Deprecated: this module moved to :mod:`spatialdiffusion.diffusionst`; importing it warns and gives the module that now holds its names."""

from .._imports import moved_module

moved_module(__name__, "spatialdiffusion.diffusionst._model", "spatialdiffusion.diffusionst")
