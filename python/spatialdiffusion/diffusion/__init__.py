"""Forward process (:class:`NoiseSchedule`) and reverse samplers shared by DiffusionST and SpaLSTF."""

from .samplers import DDIMSampler, DDPMSampler, DenoiseFn, Sampler, sample
from .schedules import NoiseSchedule

__all__ = ["NoiseSchedule", "DDPMSampler", "DDIMSampler", "Sampler", "DenoiseFn", "sample"]
