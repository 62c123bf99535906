"""SpaLSTF's conditional noise predictor (and the stDiff variant): mathematics only, no I/O.

The network predicts the diffusion noise of a minibatch of cells, ``eps_hat = net(x_t, t, cond)``:

- ``t`` is embedded sinusoidally and passed through a small MLP;
- the condition (the observed genes, unobserved ones set to -1) goes through
  ``Linear -> LSTM over the sequence of cells -> Linear`` (SpaLSTF) or a single ``Linear`` (stDiff);
- their sum modulates ``depth`` DiT blocks with adaLN-Zero;
- each block mixes information with cross-covariance attention (XCA: a channel x channel map computed
  from statistics over the cells of the minibatch, SpaLSTF) or with ordinary multi-head attention whose
  tokens are the cells of the minibatch (stDiff).

The cells of a minibatch form a sequence: the caller decides its order (spatial or expression-space
order, see :mod:`spatialdiffusion.spalstf._data`), the network only reads it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._heads import block_diagonal, diagonal_blocks

ATTENTIONS = ("xca", "cell")
CONDITIONS = ("lstm", "linear")


class TimestepEmbedding(nn.Module):
    """Sinusoidal timestep features (``[cos, sin]``, 256 of them) followed by ``Linear -> SiLU -> Linear``."""

    def __init__(self, hidden: int, n_freq: int = 256) -> None:
        super().__init__()
        self.n_freq = n_freq
        self.mlp = nn.Sequential(nn.Linear(n_freq, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.n_freq // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1))


class CrossCovarianceAttention(nn.Module):
    """XCA: attention between hidden channels, with queries/keys L2-normalised over the cells.

    For each head the ``d x d`` map ``softmax(tau * q_hat k_hat^T)`` (``d = hidden / heads``) mixes the
    value channels; ``q_hat``/``k_hat`` are unit vectors along the cell axis, ``tau`` a learnt temperature.

    The per-head maps are the diagonal blocks of one ``hidden x hidden`` Gram matrix of queries and keys over
    the cells, divided by the norms (unit vectors without forming them); the block-diagonal map and the output
    projection are folded into one ``hidden x hidden`` matrix applied to the values. The minibatch-sized
    tensors are thus read where the ``qkv`` layer wrote them, never copied into a per-head layout.
    """

    def __init__(self, hidden: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix the channels of ``x`` (``(..., cells, hidden)``; leading axes are independent minibatches)."""
        hidden = x.shape[-1]
        heads, width = self.num_heads, hidden // self.num_heads
        q, k, v = self.qkv(x).split(hidden, dim=-1)  # each (..., n, c)
        gram = q.transpose(-2, -1) @ k  # (..., c, c): all channel pairs, of which the heads use the diagonal blocks
        q_norm = _unit_norm(q).unflatten(-1, (heads, width))  # (..., h, d)
        k_norm = _unit_norm(k).unflatten(-1, (heads, width))
        cosine = diagonal_blocks(gram, heads) / (q_norm[..., :, None] * k_norm[..., None, :])  # (..., h, d, d)
        attn = torch.softmax(cosine * self.temperature, dim=-1)
        return v @ (block_diagonal(attn).transpose(-2, -1) @ self.proj.weight.T) + self.proj.bias


def _unit_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norms of ``x`` (``(..., n, c)``) over its cells, floored as :func:`torch.nn.functional.normalize` floors them."""
    return x.square().sum(dim=-2).sqrt().clamp_min(1e-12)  # several times faster than linalg.vector_norm over a strided axis


class CellAttention(nn.Module):
    """stDiff's attention: ordinary multi-head self-attention whose tokens are the cells of the minibatch."""

    def __init__(self, hidden: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend between the cells of ``x`` (``(..., cells, hidden)``; leading axes are independent minibatches)."""
        *lead, n, c = x.shape
        qkv = self.qkv(x).reshape(*lead, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.movedim(-3, 0).transpose(-3, -2).unbind(0)  # each (..., h, n, d)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(-3, -2).reshape(*lead, n, c))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(shift, x, 1 + scale)


class AdaLNBlock(nn.Module):
    """A DiT block with adaLN-Zero modulation: attention then MLP, each gated by the condition."""

    def __init__(self, hidden: int, num_heads: int, mlp_ratio: float, attention: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = CrossCovarianceAttention(hidden, num_heads) if attention == "xca" else CellAttention(hidden, num_heads)
        inner = int(hidden * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        x = torch.addcmul(x, g1, self.attn(_modulate(self.norm1(x), sh1, sc1)))
        return torch.addcmul(x, g2, self.mlp(_modulate(self.norm2(x), sh2, sc2)))


class ConditionEncoder(nn.Module):
    """Embed the observed-gene condition of each cell, optionally through an LSTM over the cell sequence.

    Parameters
    ----------
    n_genes, hidden
        Input and output widths.
    kind
        ``"lstm"``: ``Linear -> LSTM -> Linear`` (SpaLSTF); ``"linear"``: a single ``Linear`` (stDiff).
    lstm_hidden, lstm_layers, bidirectional
        LSTM size; the paper's model is bidirectional, the released code's unidirectional.
    window
        Cells per LSTM sequence: the ordered minibatch is cut into consecutive windows of this many cells
        that run as a batch of sequences; ``None`` runs the whole minibatch as one sequence (released code).
    """

    def __init__(
        self,
        n_genes: int,
        hidden: int,
        kind: str = "lstm",
        lstm_hidden: int = 128,
        lstm_layers: int = 2,
        bidirectional: bool = True,
        window: int | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.window = window
        self.embed = nn.Linear(n_genes, hidden)
        if kind == "lstm":
            self.lstm = nn.LSTM(hidden, lstm_hidden, num_layers=lstm_layers, batch_first=True, bidirectional=bidirectional)
            self.out = nn.Linear(lstm_hidden * (2 if bidirectional else 1), hidden)

    def _run_lstm(self, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        size = n if self.window is None else min(self.window, n)
        n_full = (n // size) * size
        parts = [self.lstm(h[:n_full].reshape(n // size, size, -1))[0].reshape(n_full, -1)]
        if n_full < n:
            parts.append(self.lstm(h[n_full:].unsqueeze(0))[0].squeeze(0))
        return torch.cat(parts, dim=0)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        h = self.embed(cond)
        if self.kind == "linear":
            return h
        return self.out(self._run_lstm(h))


class SpaLSTFDenoiser(nn.Module):
    """Noise predictor of SpaLSTF (``attention="xca", condition="lstm"``) or stDiff (``"cell", "linear"``).

    Parameters
    ----------
    n_genes
        Genes per cell (observed and unobserved together).
    hidden, depth, num_heads, mlp_ratio
        Transformer width, number of blocks, attention heads (must divide ``hidden``) and MLP expansion.
    attention
        ``"xca"`` (cross-covariance attention) or ``"cell"`` (attention between cells, stDiff).
    condition
        ``"lstm"`` or ``"linear"``, see :class:`ConditionEncoder`.
    lstm_hidden, lstm_layers, lstm_bidirectional, lstm_window
        Passed to :class:`ConditionEncoder`.

    Notes
    -----
    Initialisation follows DiT/adaLN-Zero: Xavier-uniform linear (and LSTM) weights with zero biases,
    N(0, 0.02) time-MLP weights, and zeroed modulation and output layers, so an untrained network outputs
    exactly zero and every block starts as the identity.
    """

    def __init__(
        self,
        n_genes: int,
        hidden: int = 512,
        depth: int = 6,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        attention: str = "xca",
        condition: str = "lstm",
        lstm_hidden: int = 128,
        lstm_layers: int = 2,
        lstm_bidirectional: bool = True,
        lstm_window: int | None = None,
    ) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"`attention` must be one of {ATTENTIONS}, got {attention!r}.")
        if condition not in CONDITIONS:
            raise ValueError(f"`condition` must be one of {CONDITIONS}, got {condition!r}.")
        if hidden % num_heads:
            raise ValueError(f"`hidden` ({hidden}) must be divisible by `num_heads` ({num_heads}).")
        self.time = TimestepEmbedding(hidden)
        self.cond = ConditionEncoder(n_genes, hidden, condition, lstm_hidden, lstm_layers, lstm_bidirectional, lstm_window)
        self.inp = nn.Linear(n_genes, hidden)
        self.blocks = nn.ModuleList(AdaLNBlock(hidden, num_heads, mlp_ratio, attention) for _ in range(depth))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.head = nn.Linear(hidden, n_genes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LSTM):
                for name, param in module.named_parameters():
                    (nn.init.xavier_uniform_ if name.startswith("weight") else nn.init.zeros_)(param)
        for layer in (self.time.mlp[0], self.time.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.ada[1].weight)
            nn.init.zeros_(block.ada[1].bias)
        for layer in (self.final_ada[1], self.head):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Predict the noise in ``x_t`` (cells x genes) at timesteps ``t`` given the condition ``cond``."""
        return self.denoise_embedded(x_t, t, self.cond(cond))

    def denoise_embedded(self, x_t: torch.Tensor, t: torch.Tensor, cond_embedding: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with the condition already embedded (``self.cond(cond)``, cells x hidden).

        The embedding depends on the condition alone, so sampling, which calls the network at every step
        of every draw on the same cells, computes it once per cell batch. ``x_t`` may also be
        ``draws x cells x genes``: several draws of the same cells at the same timesteps ``t``, each attended
        over on its own, with the condition's modulation computed once for all of them. ``t`` holds one
        timestep per cell, or a single one shared by all cells (embedded once).
        """
        c = self.time(t) + cond_embedding
        x = self.inp(x_t)
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        return self.head(_modulate(self.final_norm(x), shift, scale))
