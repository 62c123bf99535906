"""Deprecated package: the networks moved into their method's package (:mod:`spatialdiffusion.diffusionst`:
``_gcn``, ``_unet``; :mod:`spatialdiffusion.spalstf`: ``_denoiser``). Each module left here warns when
imported and returns the module that replaced it."""
