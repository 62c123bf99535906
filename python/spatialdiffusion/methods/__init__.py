"""Deprecated package: DiffusionST's and SpaLSTF's modules moved to :mod:`spatialdiffusion.diffusionst` and
:mod:`spatialdiffusion.spalstf`. Each module left here warns when imported and returns the module that replaced it."""
