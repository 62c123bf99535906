"""Deprecated: this module moved to :mod:`spatialdiffusion.diffusionst._unet`; importing it warns and gives the module that now holds its names."""

from .._imports import moved_module

moved_module(__name__, "spatialdiffusion.diffusionst._unet")
