"""DiffusionST stage 1: a graph-convolutional autoencoder trained with a ZINB likelihood ("DenoiseST").

``z = A (X W1)`` and ``h = A (z W2)`` with ``A`` the propagation matrix of the spatial graph; three heads
map either the reconstruction ``h`` (the released code) or the latent ``z`` to the mean, dispersion and
dropout probability of a zero-inflated negative binomial. ``h`` is the denoised matrix handed on.

``h`` is computed as ``(A z) W2``, the same product in the order that keeps the graph step on the narrow
latent, and the reconstruction loss takes it, and its gradients, block by block of spots
(:func:`reconstruction_sse`), so that training holds no ``N x G`` matrix beyond the input.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.extmath import randomized_svd
from torch import nn
from torch.nn import functional as F

from .._utils import single_threaded_numpy

ZINB_EPS = 1e-10


def zinb_nll(x: torch.Tensor, mean: torch.Tensor, dispersion: torch.Tensor, dropout: torch.Tensor, eps: float = ZINB_EPS) -> torch.Tensor:
    """Element-wise negative log-likelihood of a zero-inflated negative binomial.

    With ``theta`` the dispersion (inverse over-dispersion, NB variance ``mu + mu^2/theta``) and ``pi``
    the dropout probability: ``-log(pi + (1-pi) NB(0))`` for zeros and ``-log(1-pi) - log NB(x)``
    otherwise. ``x`` may be non-integer (the released code applies it to scaled data).

    Parameters
    ----------
    x
        Observed values (non-negative); entries ``<= 1e-8`` take the zero branch.
    mean
        NB mean ``mu``, positive, same shape as ``x`` (or broadcastable to it).
    dispersion
        NB dispersion ``theta``, positive, same shape as ``x`` (or broadcastable to it).
    dropout
        Zero-inflation probability ``pi`` in ``[0, 1]``, same shape as ``x`` (or broadcastable to it).
    eps
        Small constant added inside the logarithms and log-gamma terms for numerical stability.

    Returns
    -------
    torch.Tensor
        The NLL, same shape as ``x``.
    """
    theta = dispersion
    log_theta_mu = torch.log(theta + mean + eps)
    nb_log = (
        torch.lgamma(x + theta + eps)
        - torch.lgamma(theta + eps)
        - torch.lgamma(x + 1.0)
        + theta * (torch.log(theta + eps) - log_theta_mu)
        + x * (torch.log(mean + eps) - log_theta_mu)
    )
    nonzero_case = -torch.log(1.0 - dropout + eps) - nb_log
    nb_zero = torch.exp(theta * (torch.log(theta + eps) - log_theta_mu))
    zero_case = -torch.log(dropout + (1.0 - dropout) * nb_zero + eps)
    return torch.where(x <= 1e-8, zero_case, nonzero_case)


def propagate(propagation: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``propagation @ dense`` in float32, also inside bfloat16 autocast (torch has no bfloat16 sparse product on the CPU).

    The product is cheap (a few non-zeros per spot); the dense products around it carry the cost.
    """
    outside_autocast = torch.autocast(dense.device.type, enabled=False) if dense.device.type in ("cuda", "cpu") else nullcontext()
    with outside_autocast:
        return propagation @ dense.float()


RECONSTRUCTION_BLOCK_ROWS = 512
"""Spots per block of the reconstruction loss and of the final reconstruction: a ``512 x G`` block at a time.

8 MiB per float32 block of 4096 genes. Blocks of 32 MiB and more lie above glibc's largest threshold for
serving memory from the heap, so each one is mapped fresh and page-faulted in, which made the loss of 2048-spot
blocks more than twice as slow on the CPU.
"""


class _BlockedSquaredError(torch.autograd.Function):
    """``sum((propagated @ decoder_weight - target) ** 2)`` with its gradients formed in the same pass over the blocks.

    The squared error is quadratic, so its gradients follow from each block's residual ``r = P_b W2 - X_b``:
    ``2 r W2^T`` for the block's rows of ``P`` and ``2 P_b^T r`` summed into ``W2``'s. Taking them while ``r``
    is at hand stores only ``N x latent`` and ``latent x G`` numbers for the backward pass and reads each block
    of ``target`` once, where automatic differentiation would recompute or keep every ``r``.
    """

    @staticmethod
    def forward(ctx: Any, propagated: torch.Tensor, decoder_weight: torch.Tensor, target: torch.Tensor, block_rows: int) -> torch.Tensor:
        total = propagated.new_zeros((), dtype=torch.float32)
        grad_propagated = torch.empty(propagated.shape, dtype=torch.float32, device=propagated.device)
        grad_weight = torch.zeros(decoder_weight.shape, dtype=torch.float32, device=decoder_weight.device)
        for block, block_target, block_grad in zip(propagated.split(block_rows), target.split(block_rows), grad_propagated.split(block_rows)):
            residual = torch.addmm(block_target, block, decoder_weight, beta=-1).float()  # P_b W2 - X_b
            total += torch.dot(residual.flatten(), residual.flatten())  # dot, unlike matmul, stays float32 under autocast
            block_grad.copy_(residual @ decoder_weight.T)
            grad_weight += block.T @ residual
        ctx.save_for_backward(grad_propagated, grad_weight)
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        grad_propagated, grad_weight = ctx.saved_tensors
        return 2 * grad_total * grad_propagated, 2 * grad_total * grad_weight, None, None


def reconstruction_sse(
    propagated: torch.Tensor, decoder_weight: torch.Tensor, target: torch.Tensor, block_rows: int = RECONSTRUCTION_BLOCK_ROWS
) -> torch.Tensor:
    """``sum((propagated @ decoder_weight - target) ** 2)``, differentiable, ``block_rows`` spots at a time.

    The gradients are taken block by block in the same pass, so memory beyond ``target`` is one
    ``block_rows x G`` block and the ``N x latent`` and ``latent x G`` gradients, whatever the number of spots.

    Parameters
    ----------
    propagated
        ``N x latent`` rows of ``A z``.
    decoder_weight
        ``latent x G`` decoder weight ``W2``.
    target
        ``N x G`` values the reconstruction ``(A z) W2`` is compared with; a constant (no gradient flows to it).
    block_rows
        Spots per block.

    Returns
    -------
    torch.Tensor
        The float32 scalar sum of squared errors.
    """
    return _BlockedSquaredError.apply(propagated, decoder_weight, target, block_rows)


class GCNZINBAutoencoder(nn.Module):
    """Two linear graph convolutions with ZINB heads.

    Parameters
    ----------
    n_genes
        Input and output width (selected genes).
    latent_dim
        Width of ``z`` (64 in DiffusionST).
    heads_from
        ``"reconstruction"`` (heads read ``h``: three ``n_genes x n_genes`` layers, the released code) or
        ``"latent"`` (heads read ``z``: three ``latent_dim x n_genes`` layers, 64x cheaper).
    """

    def __init__(self, n_genes: int, latent_dim: int = 64, heads_from: str = "reconstruction") -> None:
        super().__init__()
        if heads_from not in ("reconstruction", "latent"):
            raise ValueError(f"`zinb_heads_from` must be 'reconstruction' or 'latent', got {heads_from!r}.")
        self.heads_from = heads_from
        self.encoder_weight = nn.Parameter(torch.empty(n_genes, latent_dim))
        self.decoder_weight = nn.Parameter(torch.empty(latent_dim, n_genes))
        nn.init.xavier_uniform_(self.encoder_weight)
        nn.init.xavier_uniform_(self.decoder_weight)
        head_in = n_genes if heads_from == "reconstruction" else latent_dim
        self.mean_head = nn.Linear(head_in, n_genes)
        self.dispersion_head = nn.Linear(head_in, n_genes)
        self.dropout_head = nn.Linear(head_in, n_genes)

    @torch.no_grad()
    def initialise_from_pca(self, x: np.ndarray, propagation: sp.csr_matrix, seed: int) -> None:
        """Start at the PCA solution of the linear path: ``W1 = c V``, ``W2 = V^T``.

        ``V`` holds the top ``latent_dim`` right singular vectors of ``x`` (randomised SVD, seeded) and
        ``c`` is the least-squares scale of ``h = A^2 x V V^T`` onto ``x`` (the propagation amplifies):
        ``<h, x> / <h, h>``. With ``B = A^2 x V`` and ``V``'s columns orthonormal, ``<h, x> = <B, x V>`` and
        ``<h, h> = <B, B>``, so ``c`` comes from ``N x latent_dim`` matrices and no ``N x G`` one is formed.
        Computed on one BLAS thread, so that the starting point does not depend on the machine's thread count.
        """
        latent_dim = self.encoder_weight.shape[1]
        with single_threaded_numpy():
            _, _, vt = randomized_svd(x, latent_dim, random_state=seed)
            v = np.ascontiguousarray(vt.T, dtype=np.float32)
            projected = x @ v
            propagated = propagation @ (propagation @ projected)
            scale = float((propagated * projected).sum() / max(float((propagated * propagated).sum()), 1e-12))
        self.encoder_weight.copy_(torch.from_numpy(v * scale))
        self.decoder_weight.copy_(torch.from_numpy(v.T.copy()))

    def forward(self, x: torch.Tensor, propagation: torch.Tensor, zinb_rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Encode, decode and parameterise the ZINB.

        Parameters
        ----------
        x
            ``N x n_genes`` features.
        propagation
            ``N x N`` (sparse) propagation matrix.
        zinb_rows
            Spots for which the ZINB parameters are computed (default: all).

        Returns
        -------
        dict
            ``latent`` (z) and ``propagated`` (``A z``; the reconstruction is ``h = reconstruct(A z)``) for
            all spots; ``mean``, ``dispersion``, ``dropout`` for ``zinb_rows``.
        """
        z = propagate(propagation, x @ self.encoder_weight)
        propagated = propagate(propagation, z)
        if self.heads_from == "reconstruction":
            src = self.reconstruct(propagated if zinb_rows is None else propagated[zinb_rows])
        else:
            src = z if zinb_rows is None else z[zinb_rows]
        return {
            "latent": z,
            "propagated": propagated,
            "mean": torch.exp(self.mean_head(src)).clamp(1e-5, 1e6),
            "dispersion": F.softplus(self.dispersion_head(src)).clamp(1e-4, 1e4),
            "dropout": torch.sigmoid(self.dropout_head(src)),
        }

    def reconstruct(self, propagated: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``h = (A z) W2`` of the spots whose rows of ``A z`` are given."""
        return propagated @ self.decoder_weight
