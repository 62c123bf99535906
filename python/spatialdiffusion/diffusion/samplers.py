"""Reverse-process samplers shared by both methods.

Each sampler exposes ``timesteps(start)`` (the descending timesteps it visits) and ``step`` (one
update from ``x_t`` to the next, earlier timestep). :func:`sample` runs the loop, optionally from a
partially noised start (DiffusionST's spot-conditioned generation) and optionally putting known
values back after every step (SpaLSTF's observed genes).
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import torch

from .._utils import progress, randn
from .schedules import NoiseSchedule

DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A network call ``eps_hat = fn(x_t, t)`` with ``t`` a long tensor of shape ``(batch,)``."""

Clip = float | tuple[float, float] | None
"""Range the predicted ``x0`` is clamped to: ``c`` means ``[-c, c]``, a pair ``(low, high)``, ``None`` no clamp."""


def clamp_x0(x0: torch.Tensor, clip: Clip) -> torch.Tensor:
    """``x0`` clamped to the range ``clip`` describes (see :data:`Clip`)."""
    if clip is None:
        return x0
    low, high = clip if isinstance(clip, tuple) else (-clip, clip)
    return x0.clamp(low, high)


class Sampler(Protocol):
    """What :func:`sample` needs from a sampler."""

    schedule: NoiseSchedule

    def timesteps(self, start: int | None = None) -> list[int]:
        """Descending timesteps visited when starting from ``start`` (default ``T - 1``)."""

    def step(self, noise_pred: torch.Tensor, t: int, t_next: int, x_t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Move from ``x_t`` at ``t`` to ``x`` at ``t_next`` (``-1`` means the final clean sample)."""


class DDPMSampler:
    """Ancestral DDPM sampling through every timestep.

    Parameters
    ----------
    schedule
        The noise schedule the network was trained with.
    clip
        Range the predicted ``x0`` is clamped to before forming the posterior mean: ``c`` for ``[-c, c]``,
        a ``(low, high)`` pair, or ``None`` for no clamp.
    """

    def __init__(self, schedule: NoiseSchedule, clip: Clip = None) -> None:
        self.schedule = schedule
        self.clip = clip

    def timesteps(self, start: int | None = None) -> list[int]:
        start = self.schedule.num_timesteps - 1 if start is None else int(start)
        return list(range(start, -1, -1))

    def step(self, noise_pred: torch.Tensor, t: int, t_next: int, x_t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        x0 = clamp_x0(self.schedule.predict_x0(x_t, noise_pred, tt), self.clip)
        mean = self.schedule.posterior_mean(x0, x_t, tt)
        if t == 0:
            return mean
        std = (0.5 * self.schedule.posterior_log_variance(tt, x_t.ndim)).exp().to(x_t.dtype)
        return mean + std * randn(tuple(x_t.shape), generator, x_t.device, x_t.dtype)


class DDIMSampler:
    """Deterministic (``eta=0``) or stochastic DDIM sampling over a subset of timesteps (Song et al. 2021).

    Parameters
    ----------
    schedule
        The noise schedule the network was trained with.
    num_steps
        How many network evaluations a full chain uses (timesteps evenly spaced over ``0 .. T-1``).
    eta
        0 gives the deterministic DDIM update; 1 matches DDPM's variance.
    clip
        Range the predicted ``x0`` is clamped to, as for :class:`DDPMSampler`.
    """

    def __init__(self, schedule: NoiseSchedule, num_steps: int, eta: float = 0.0, clip: Clip = None) -> None:
        if num_steps < 1:
            raise ValueError(f"`num_steps` must be at least 1, got {num_steps}.")
        self.schedule = schedule
        self.num_steps = int(num_steps)
        self.eta = float(eta)
        self.clip = clip

    def timesteps(self, start: int | None = None) -> list[int]:
        start = self.schedule.num_timesteps - 1 if start is None else int(start)
        steps = np.unique(np.round(np.linspace(start, 0, min(self.num_steps, start + 1))).astype(int))  # always holds `start`
        return [int(s) for s in steps[::-1]]

    def step(self, noise_pred: torch.Tensor, t: int, t_next: int, x_t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        sched = self.schedule
        tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        x0 = sched.predict_x0(x_t, noise_pred, tt)
        if self.clip is not None:
            x0 = clamp_x0(x0, self.clip)
            noise_pred = (x_t - sched.alphas_cumprod[t].sqrt().item() * x0) / (1 - sched.alphas_cumprod[t]).sqrt().item()
        if t_next < 0:
            return x0
        abar_t = float(sched.alphas_cumprod[t])
        abar_next = float(sched.alphas_cumprod[t_next])
        sigma = self.eta * np.sqrt((1 - abar_next) / (1 - abar_t) * (1 - abar_t / abar_next))
        direction = np.sqrt(max(1 - abar_next - sigma**2, 0.0)) * noise_pred
        out = np.sqrt(abar_next) * x0 + direction
        if sigma > 0:
            out = out + sigma * randn(tuple(x_t.shape), generator, x_t.device, x_t.dtype)
        return out


def sample(
    model: DenoiseFn,
    sampler: Sampler,
    x_start: torch.Tensor,
    *,
    generator: torch.Generator,
    start_t: int | None = None,
    known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    verbose: bool = False,
    desc: str = "sampling",
) -> torch.Tensor:
    """Run the reverse process from ``x_start`` (which is ``x`` at ``start_t``) down to a clean sample.

    Parameters
    ----------
    model
        Noise predictor ``eps_hat = model(x_t, t)``.
    sampler
        A :class:`DDPMSampler` or :class:`DDIMSampler`.
    x_start
        The state at ``start_t``: pure noise for generation from scratch, or a noised copy of the data
        (``schedule.add_noise(x0, eps, t)``) for data-anchored generation.
    generator
        Source of the per-step noise.
    start_t
        Timestep of ``x_start`` (default ``T - 1``).
    known, known_mask
        If given, after every step ``x = x * (1 - known_mask) + known * known_mask``: entries where the
        mask is 1 are clamped to their known clean values (inpainting). Both broadcast against ``x``.
    verbose
        Show a progress bar.
    desc
        Progress-bar label.

    Returns
    -------
    torch.Tensor
        The generated clean sample, same shape as ``x_start``.
    """
    if (known is None) != (known_mask is None):
        raise ValueError("`known` and `known_mask` must be given together.")
    steps = sampler.timesteps(start_t)
    x = x_start
    if known is not None:
        x = x * (1 - known_mask) + known * known_mask
    for i in progress(range(len(steps)), desc=desc, verbose=verbose):
        t = steps[i]
        t_next = steps[i + 1] if i + 1 < len(steps) else -1
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        with torch.no_grad():
            eps = model(x, tt)
        x = sampler.step(eps, t, t_next, x, generator)
        if known is not None:
            x = x * (1 - known_mask) + known * known_mask
    return x
