"""Noise schedules and the closed-form forward process shared by DiffusionST and SpaLSTF.

A :class:`NoiseSchedule` owns the betas and every quantity derived from them; it knows nothing of
networks or sampling loops (see :mod:`spatialdiffusion.diffusion.samplers`).
"""

from __future__ import annotations

import math

import torch


def _gather(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Pick ``values[t]`` per sample and reshape for broadcasting against an ``ndim``-d batch."""
    out = values.to(t.device)[t]
    return out.reshape(t.shape[0], *([1] * (ndim - 1)))


class NoiseSchedule:
    """A discrete DDPM noise schedule of ``T`` steps (timesteps ``0 .. T-1``).

    Parameters
    ----------
    betas
        1-D tensor of per-step noise variances in ``(0, 1)``.

    Attributes
    ----------
    betas, alphas, alphas_cumprod, alphas_cumprod_prev, posterior_variance
        float64 tensors of length ``T``; ``alphas_cumprod_prev[0] = 1``.
    """

    def __init__(self, betas: torch.Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        if betas.numel() < 1 or bool((betas <= 0).any()) or bool((betas >= 1).any()):
            raise ValueError("`betas` must be a non-empty sequence of values strictly between 0 and 1.")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.posterior_variance = (betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)).clamp(min=1e-20)

    @classmethod
    def linear(cls, num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> "NoiseSchedule":
        """Linearly spaced betas (Ho et al. 2020), as DiffusionST uses."""
        if num_timesteps < 1:
            raise ValueError(f"`num_timesteps` must be at least 1, got {num_timesteps}.")
        return cls(torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64))

    @classmethod
    def cosine(cls, num_timesteps: int, offset: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        """The cosine schedule of Nichol & Dhariwal (2021), as SpaLSTF uses.

        ``beta_i = min(1 - f((i+1)/T) / f(i/T), max_beta)`` with ``f(s) = cos^2(((s + offset)/(1 + offset)) pi/2)``.
        """
        if num_timesteps < 1:
            raise ValueError(f"`num_timesteps` must be at least 1, got {num_timesteps}.")
        steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
        f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
        return cls((1 - f[1:] / f[:-1]).clamp(max=max_beta))

    @property
    def num_timesteps(self) -> int:
        """Number of diffusion steps ``T``."""
        return int(self.betas.numel())

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Sample the forward process in closed form: ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        Parameters
        ----------
        x0
            Clean data, batch first.
        noise
            Standard-normal noise of the same shape.
        t
            Long tensor of timesteps, one per batch element.
        """
        abar = _gather(self.alphas_cumprod, t, x0.ndim).to(x0.dtype)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, noise_pred: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Invert the forward process given predicted noise: ``(x_t - sqrt(1-abar_t) eps) / sqrt(abar_t)``."""
        abar = _gather(self.alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
        return (x_t - (1 - abar).sqrt() * noise_pred) / abar.sqrt()

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean of ``q(x_{t-1} | x_t, x0)``."""
        ndim = x_t.ndim
        beta = _gather(self.betas, t, ndim)
        abar = _gather(self.alphas_cumprod, t, ndim)
        abar_prev = _gather(self.alphas_cumprod_prev, t, ndim)
        alpha = _gather(self.alphas, t, ndim)
        coef_x0 = beta * abar_prev.sqrt() / (1 - abar)
        coef_xt = (1 - abar_prev) * alpha.sqrt() / (1 - abar)
        return (coef_x0.to(x_t.dtype) * x0 + coef_xt.to(x_t.dtype) * x_t)

    def posterior_log_variance(self, t: torch.Tensor, ndim: int) -> torch.Tensor:
        """Log of the variance of ``q(x_{t-1} | x_t, x0)`` (clipped away from zero)."""
        return _gather(self.posterior_variance, t, ndim).log()
