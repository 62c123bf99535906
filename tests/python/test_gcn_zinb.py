"""The ZINB likelihood and the GCN autoencoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from spatialdiffusion.diffusionst._gcn import GCNZINBAutoencoder, reconstruction_sse, zinb_nll


@pytest.mark.parametrize("pi", [0.0, 0.3])
def test_zinb_matches_scipy_negative_binomial(pi: float) -> None:
    x = torch.tensor([0.0, 1.0, 3.0, 10.0, 50.0], dtype=torch.float64)
    mu = torch.tensor([0.5, 2.0, 3.0, 8.0, 40.0], dtype=torch.float64)
    theta = torch.tensor([1.0, 0.5, 5.0, 2.0, 10.0], dtype=torch.float64)
    nll = zinb_nll(x, mu, theta, torch.full_like(x, pi)).numpy()
    n, p = theta.numpy(), (theta / (theta + mu)).numpy()
    pmf = stats.nbinom.pmf(x.numpy(), n, p)
    expected = np.where(x.numpy() == 0, -np.log(pi + (1 - pi) * pmf), -np.log(1 - pi) - np.log(pmf))
    np.testing.assert_allclose(nll, expected, rtol=1e-6, atol=1e-8)


def test_zinb_gradients_are_finite_for_extreme_parameters() -> None:
    x = torch.tensor([0.0, 5.0, 100.0])
    mu = torch.tensor([1e-5, 1e6, 2.0], requires_grad=True)
    theta = torch.tensor([1e-4, 1e4, 1.0], requires_grad=True)
    zinb_nll(x, mu, theta, torch.tensor([0.01, 0.5, 0.99])).sum().backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(theta.grad).all()


@pytest.mark.parametrize("heads_from", ["reconstruction", "latent"])
def test_gcn_forward_is_two_linear_propagations(heads_from: str) -> None:
    torch.manual_seed(0)
    model = GCNZINBAutoencoder(20, latent_dim=4, heads_from=heads_from)
    x = torch.rand(6, 20)
    prop = torch.eye(6) + 0.1 * torch.ones(6, 6)
    out = model(x, prop)
    expected_h = prop @ (prop @ (x @ model.encoder_weight) @ model.decoder_weight)
    torch.testing.assert_close(model.reconstruct(out["propagated"]), expected_h)
    assert out["mean"].shape == (6, 20) and (out["dropout"] > 0).all() and (out["dropout"] < 1).all()
    assert model.mean_head.in_features == (20 if heads_from == "reconstruction" else 4)


def test_blocked_reconstruction_loss_matches_the_whole_matrix() -> None:
    """Value and gradients of the block-wise squared error equal those of the full product, blocks of any size,
    also when the loss is scaled before the backward pass (as the training loss weights it)."""
    gen = torch.Generator().manual_seed(0)
    propagated = torch.randn(37, 5, generator=gen, requires_grad=True)
    weight = torch.randn(5, 11, generator=gen, requires_grad=True)
    target = torch.randn(37, 11, generator=gen)
    full = ((propagated @ weight - target) ** 2).sum()
    for block_rows in (1, 8, 37, 100):
        blocked = reconstruction_sse(propagated, weight, target, block_rows)
        torch.testing.assert_close(blocked, full)
        for factor in (1.0, -0.3):
            expected = torch.autograd.grad(factor * full, (propagated, weight), retain_graph=True)
            for got, want in zip(torch.autograd.grad(factor * blocked, (propagated, weight), retain_graph=True), expected):
                torch.testing.assert_close(got, want)


def test_gcn_rejects_unknown_head_source() -> None:
    with pytest.raises(ValueError, match="zinb_heads_from"):
        GCNZINBAutoencoder(10, heads_from="hidden")


def test_pca_initialisation_starts_near_the_least_squares_solution() -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 4)) @ rng.normal(size=(4, 30))).astype(np.float32)
    prop = sp.identity(50, format="csr", dtype=np.float32)
    model = GCNZINBAutoencoder(30, latent_dim=4, heads_from="latent")
    def reconstruction() -> np.ndarray:
        return model.reconstruct(model(torch.from_numpy(x), torch.eye(50))["propagated"]).detach().numpy()

    random_err = float(((reconstruction() - x) ** 2).mean())
    model.initialise_from_pca(x, prop, seed=0)
    out = reconstruction()
    # x has rank 4, so a rank-4 PCA start reconstructs it (almost) exactly
    assert float(((out - x) ** 2).mean()) < 1e-6 * max(random_err, 1.0) + 1e-6


def test_pca_start_scale_is_the_least_squares_scale_of_the_propagated_reconstruction() -> None:
    """``c`` = <h, x> / <h, h> with ``h = A^2 x V V^T``, computed here the direct way with the N x G ``h``."""
    from spatialdiffusion.graph import propagation_matrix, spatial_adjacency

    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 1.0, size=(60, 25)).astype(np.float32)
    prop = propagation_matrix(spatial_adjacency(rng.uniform(0, 10, size=(60, 2)), 4))  # the pipeline's graph step
    model = GCNZINBAutoencoder(25, latent_dim=5, heads_from="latent")
    model.initialise_from_pca(x, prop, seed=0)
    v = model.decoder_weight.detach().numpy().T.astype(np.float64)  # V (G x latent), orthonormal columns
    h = prop @ (prop @ (x @ v)) @ v.T
    expected = float((h * x).sum() / (h * h).sum())
    np.testing.assert_allclose(model.encoder_weight.detach().numpy(), expected * v, rtol=1e-4, atol=1e-6)
