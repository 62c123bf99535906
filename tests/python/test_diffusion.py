"""Formulas of the shared diffusion machinery: schedules, forward process, posterior, samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spatialdiffusion.diffusion import DDIMSampler, DDPMSampler, NoiseSchedule, sample
from spatialdiffusion.diffusion.samplers import clamp_x0


def test_cosine_schedule_matches_published_values():
    sched = NoiseSchedule.cosine(1500)
    assert sched.num_timesteps == 1500
    assert float(sched.betas[0]) == pytest.approx(2.7e-5, rel=0.05)
    assert float(sched.betas[749]) == pytest.approx(2.1e-3, rel=0.05)
    assert float(sched.betas[1498]) == pytest.approx(0.75, rel=0.02)
    assert float(sched.betas[1499]) == pytest.approx(0.999)
    assert float(sched.alphas_cumprod[749]) == pytest.approx(0.494, abs=2e-3)
    assert float(sched.alphas_cumprod[1499]) < 1e-8


def test_cosine_schedule_hand_computed_first_beta():
    f = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    sched = NoiseSchedule.cosine(10)
    assert float(sched.betas[3]) == pytest.approx(1 - f(4 / 10) / f(3 / 10))


def test_linear_schedule_betas_and_cumulative_products():
    sched = NoiseSchedule.linear(1000)
    np.testing.assert_allclose(sched.betas.numpy(), np.linspace(1e-4, 0.02, 1000), rtol=1e-6)
    # alpha-bar_t = prod_{s <= t} (1 - beta_s), computed here in float64 by NumPy
    np.testing.assert_allclose(sched.alphas_cumprod.numpy(), np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)), rtol=1e-5)


def test_ddpm_step_adds_the_posterior_noise():
    sched = NoiseSchedule.linear(50)
    x = torch.zeros(20000, 1)
    out = DDPMSampler(sched).step(torch.zeros_like(x), 10, 9, x, torch.Generator().manual_seed(0))
    # x_t = 0 with zero predicted noise gives x0 = 0 and posterior mean 0: what is left is the noise
    assert float(out.std()) == pytest.approx(float(sched.posterior_variance[10]) ** 0.5, rel=0.03)
    again = DDPMSampler(sched).step(torch.zeros_like(x), 10, 9, x, torch.Generator().manual_seed(1))
    assert not torch.equal(out, again)


def test_add_noise_and_predict_x0_are_inverse():
    sched = NoiseSchedule.cosine(100)
    x0 = torch.randn(5, 7)
    eps = torch.randn(5, 7)
    t = torch.tensor([0, 10, 50, 90, 99])
    xt = sched.add_noise(x0, eps, t)
    abar = sched.alphas_cumprod[t].float()[:, None]
    assert torch.allclose(xt, abar.sqrt() * x0 + (1 - abar).sqrt() * eps, atol=1e-6)
    assert torch.allclose(sched.predict_x0(xt[:4], eps[:4], t[:4]), x0[:4], atol=1e-4)


def test_posterior_mean_and_variance_formulas():
    sched = NoiseSchedule.cosine(50)
    x0 = torch.randn(3, 4, dtype=torch.float64)
    xt = torch.randn(3, 4, dtype=torch.float64)
    t = torch.tensor([1, 20, 49])
    mean = sched.posterior_mean(x0, xt, t)
    for i, ti in enumerate(t.tolist()):
        b, a = float(sched.betas[ti]), float(sched.alphas[ti])
        ab, abp = float(sched.alphas_cumprod[ti]), float(sched.alphas_cumprod[ti - 1])
        expect = b * math.sqrt(abp) / (1 - ab) * x0[i] + (1 - abp) * math.sqrt(a) / (1 - ab) * xt[i]
        assert torch.allclose(mean[i], expect)
        var = b * (1 - abp) / (1 - ab)
        assert float(sched.posterior_log_variance(t[i : i + 1], 2).exp()) == pytest.approx(var)
    # at t = 0 the posterior mean is x0 itself (abar_prev = 1)
    assert torch.allclose(sched.posterior_mean(x0, xt, torch.zeros(3, dtype=torch.long)), x0)


def test_ddim_timesteps_and_exact_recovery_with_true_noise():
    sched = NoiseSchedule.cosine(200)
    sampler = DDIMSampler(sched, num_steps=10)
    steps = sampler.timesteps()
    assert steps[0] == 199 and steps[-1] == 0 and len(steps) == 10
    assert all(a > b for a, b in zip(steps, steps[1:]))
    x0 = torch.rand(4, 6) * 2 - 1
    eps = torch.randn(4, 6)
    xt = sched.add_noise(x0, eps, torch.full((4,), 150))
    gen = torch.Generator().manual_seed(0)
    # with the exact noise, a deterministic DDIM step lands on the forward-process point at t_next
    out = sampler.step(eps, 150, 100, xt, gen)
    assert torch.allclose(out, sched.add_noise(x0, eps, torch.full((4,), 100)), atol=1e-5)


@pytest.mark.parametrize("num_steps", [1, 2, 5])
@pytest.mark.parametrize("start", [None, 10])
def test_ddim_starts_at_the_start_timestep_and_recovers_x0_with_an_oracle(num_steps, start):
    sched = NoiseSchedule.linear(100, 1e-4, 0.02)
    sampler = DDIMSampler(sched, num_steps=num_steps)
    steps = sampler.timesteps(start)
    first = 99 if start is None else start
    assert steps[0] == first and len(steps) == num_steps  # the first network call sees the noised start
    x0 = torch.rand(4, 6) * 2 - 1
    noisy = sched.add_noise(x0, torch.randn(4, 6, generator=torch.Generator().manual_seed(2)), torch.full((4,), first))

    def oracle(x, t):  # the noise that turns x0 into x at t
        abar = sched.alphas_cumprod[t].reshape(-1, 1)
        return ((x - abar.sqrt() * x0) / (1 - abar).sqrt()).float()

    out = sample(oracle, sampler, noisy, generator=torch.Generator().manual_seed(0), start_t=start)
    assert torch.allclose(out, x0, atol=1e-4)
    assert not torch.allclose(noisy, x0, atol=1e-2)  # the start really was noised


def test_sample_puts_known_values_back_every_step():
    sched = NoiseSchedule.cosine(30)
    known = torch.linspace(-1, 1, 12).reshape(3, 4)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0])
    seen = []

    def model(x, t):
        seen.append(x.clone())
        return torch.zeros_like(x)

    for sampler in (DDPMSampler(sched, clip=1.0), DDIMSampler(sched, num_steps=5, clip=1.0)):
        seen.clear()
        gen = torch.Generator().manual_seed(1)
        out = sample(model, sampler, torch.randn(3, 4, generator=gen), generator=gen, known=known, known_mask=mask)
        assert torch.equal(out[:, mask == 1], known[:, mask == 1])
        assert all(torch.equal(x[:, mask == 1], known[:, mask == 1]) for x in seen)
        assert not torch.equal(out[:, mask == 0], known[:, mask == 0])


def test_clamp_x0_takes_a_half_width_a_range_or_nothing():
    x0 = torch.tensor([-5.0, -2.0, -0.5, 2.0, 5.0])
    assert clamp_x0(x0, 3.0).tolist() == [-3.0, -2.0, -0.5, 2.0, 3.0]
    assert clamp_x0(x0, (-1.0, 3.0)).tolist() == [-1.0, -1.0, -0.5, 2.0, 3.0]
    assert clamp_x0(x0, None) is x0
    # a network that predicts a far-off x0 lands inside the range: DDIM's last step returns the clamped x0
    sched = NoiseSchedule.cosine(30)
    gen = torch.Generator().manual_seed(0)
    out = sample(lambda x, t: -10 * torch.ones_like(x), DDIMSampler(sched, 5, clip=(-1.0, 3.0)), torch.randn(4, 3, generator=gen), generator=gen)
    assert float(out.min()) >= -1.0 and float(out.max()) <= 3.0


def test_ddpm_sampling_is_seeded():
    sched = NoiseSchedule.cosine(20)
    model = lambda x, t: 0.1 * x  # noqa: E731
    runs = []
    for _ in range(2):
        gen = torch.Generator().manual_seed(7)
        runs.append(sample(model, DDPMSampler(sched), torch.randn(2, 3, generator=gen), generator=gen))
    assert torch.equal(runs[0], runs[1])
    assert np.isfinite(runs[0].numpy()).all()
