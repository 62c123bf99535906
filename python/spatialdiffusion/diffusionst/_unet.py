"""DiffusionST's denoising network: a U-Net on 1-channel gene "images".

The shape of the paper's network: residual blocks with GroupNorm and a time-conditioned scale/shift,
linear attention at every resolution, full 4-head self-attention at the bottleneck, space-to-depth
downsampling and nearest-neighbour upsampling. ``base_channels=64, channel_mults=(1, 2, 4)`` is the
published size (about 9.9 M parameters); smaller widths make the CPU preset.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .._heads import block_diagonal, diagonal_blocks


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps: ``[sin(t f_k), cos(t f_k)]`` with geometric ``f_k``.

    ``f_k = 10000^(-k / max(half - 1, 1))`` for ``k = 0 .. half - 1`` with ``half = dim // 2``, so ``f_0 = 1``.

    Parameters
    ----------
    t
        1-D tensor of ``B`` timesteps (converted to float32).
    dim
        Embedding width; an odd ``dim`` gives ``dim - 1`` columns.

    Returns
    -------
    torch.Tensor
        float32 ``(B, 2 * (dim // 2))`` tensor on ``t``'s device: the ``half`` sines, then the ``half``
        cosines.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


CPU_SIMD_FLOATS = 16 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 8
"""float32 lanes of the vector instructions torch's CPU kernels run with (16 with AVX-512, 8 with AVX2 and others)."""


def softmax_per_head(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Softmax over each of ``heads`` equal, consecutive groups of ``x``'s last dimension.

    torch's CPU softmax over a last dimension narrower than :data:`CPU_SIMD_FLOATS` takes a path several times
    slower than ``exp`` and a sum (the ``fast`` U-Net's heads have 8 features, against 16 float32 lanes with
    AVX-512), so on the CPU such narrow groups are normalised from those, after subtracting each group's
    maximum; elsewhere torch's softmax is used.

    Parameters
    ----------
    x
        Tensor whose last dimension is ``heads * d``.
    heads
        Number of groups.

    Returns
    -------
    torch.Tensor
        ``x``'s shape, each group of ``d`` values positive and summing to 1.
    """
    grouped = x.unflatten(-1, (heads, -1))
    if x.device.type != "cpu" or grouped.shape[-1] >= CPU_SIMD_FLOATS:
        return grouped.softmax(dim=-1).flatten(-2)
    # column h of `member` marks head h's features: products with it spread per-head values over the features
    # and sum features per head, without a broadcast over a narrow last dimension (itself slow)
    member = torch.eye(heads, dtype=x.dtype, device=x.device).repeat_interleave(grouped.shape[-1], dim=0)
    exp = (x - grouped.amax(dim=-1).detach() @ member.T).exp()
    return exp / (exp @ member @ member.T)


class StandardizedConv2d(nn.Conv2d):
    """3x3 convolution with weight standardisation (zero mean, unit variance per output channel)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
        return F.conv2d(x, (w - mean) / (var + 1e-5).sqrt(), self.bias, self.stride, self.padding)


class ResidualBlock(nn.Module):
    """Two conv-norm-SiLU layers; the time embedding scales and shifts the first."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, groups: int) -> None:
        super().__init__()
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * out_ch))
        self.conv1 = StandardizedConv2d(in_ch, out_ch, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, out_ch)
        self.conv2 = StandardizedConv2d(out_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.time(t_emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(self.conv1(x)) * (scale + 1) + shift)
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.skip(x)


class LinearAttention(nn.Module):
    """Linear-complexity attention over pixels (softmax over features for q, over positions for k).

    Per head, with ``n`` pixels: ``out = context^T q`` where ``context = k v^T`` (``d x d``), ``q`` is
    softmax-normalised over its ``d`` features and ``k`` over the pixels; the heads' outputs go through a
    1x1 convolution and a GroupNorm and are added to the input.

    The values enter only through ``context``, which equals ``k (x_hat W_v^T)`` with ``x_hat`` the normalised
    input, so ``k x_hat`` (``d x channels`` per head) is formed instead of ``v``; the heads' block-diagonal
    ``context`` and the output convolution are folded into one ``inner x channels`` matrix applied to ``q``.
    Pixels are handled as rows of a ``pixels x channels`` matrix, which is the channels-last layout itself, and
    no per-pixel tensor wider than ``inner`` is made: the attention is widest (``3 * inner`` against
    ``channels``) at full resolution.
    """

    def __init__(self, channels: int, heads: int = 4, head_dim: int = 32) -> None:
        super().__init__()
        self.heads, self.scale = heads, head_dim**-0.5
        inner = heads * head_dim
        self.norm = nn.GroupNorm(1, channels)
        self.qkv = nn.Conv2d(channels, 3 * inner, 1, bias=False)
        self.out = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.GroupNorm(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, channels, hgt, wid = x.shape
        w_q, w_k, w_v = self.qkv.weight.flatten(1).chunk(3, dim=0)  # each inner x channels
        pixels = self.norm(x).permute(0, 2, 3, 1).reshape(b, hgt * wid, channels)  # (b, n, channels): a view when channels-last
        q = softmax_per_head(F.linear(pixels, w_q), self.heads)  # (b, n, inner)
        k = F.linear(pixels, w_k).softmax(dim=1)  # over the pixels
        context = block_diagonal(diagonal_blocks(k.transpose(1, 2) @ pixels @ w_v.T, self.heads))  # (b, inner, inner)
        conv = self.out[0]
        mixed = torch.baddbmm(conv.bias, q, self.scale * context @ conv.weight.flatten(1).T)  # (b, n, channels)
        return x + self.out[1](mixed.unflatten(1, (hgt, wid)).permute(0, 3, 1, 2))


class FullAttention(nn.Module):
    """Multi-head softmax self-attention over pixels (the bottleneck's 4-head attention)."""

    def __init__(self, channels: int, heads: int = 4, head_dim: int = 32) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.norm = nn.GroupNorm(1, channels)
        self.qkv = nn.Conv2d(channels, 3 * inner, 1, bias=False)
        self.out = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, hgt, wid = x.shape
        q, k, v = (u.reshape(b, self.heads, -1, hgt * wid).transpose(-1, -2) for u in self.qkv(self.norm(x)).chunk(3, dim=1))
        out = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(b, -1, hgt, wid)
        return x + self.out(out)


class Downsample(nn.Module):
    """Halve the resolution by space-to-depth, then a 1x1 convolution."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4 * in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pixel_unshuffle(x, 2))


class Upsample(nn.Module):
    """Double the resolution (nearest neighbour), then a 3x3 convolution."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution of the U-Net: two residual blocks, linear attention, then a resampling layer."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, groups: int, heads: int, head_dim: int, resample: nn.Module, skip_ch: int = 0) -> None:
        super().__init__()
        self.block1 = ResidualBlock(in_ch + skip_ch, in_ch, time_dim, groups)
        self.block2 = ResidualBlock(in_ch + skip_ch, in_ch, time_dim, groups)
        self.attn = LinearAttention(in_ch, heads, head_dim)
        self.resample = resample


class UNet(nn.Module):
    """Noise-prediction U-Net for ``(batch, 1, S, S)`` images, ``S`` divisible by ``patch_size * 2**(len(channel_mults)-1)``.

    Parameters
    ----------
    base_channels
        Width at full resolution (64 in the paper).
    channel_mults
        Width multipliers per resolution ((1, 2, 4) in the paper).
    groups
        GroupNorm groups in residual blocks (4 in the paper).
    heads, head_dim
        Attention heads and their width (4 x 32 in the paper).
    patch_size
        1 (the paper) works on pixels; 2 folds each 2x2 patch into 4 channels first (space-to-depth) and
        unfolds the output, so every layer runs at a quarter of the pixels - the CPU preset's choice.
    """

    def __init__(self, base_channels: int = 64, channel_mults: tuple[int, ...] = (1, 2, 4), groups: int = 4, heads: int = 4, head_dim: int = 32, patch_size: int = 1) -> None:
        super().__init__()
        if patch_size not in (1, 2):
            raise ValueError(f"`patch_size` must be 1 or 2, got {patch_size}.")
        self.patch_size = patch_size
        in_ch = patch_size * patch_size
        dims = [base_channels] + [base_channels * m for m in channel_mults]
        pairs = list(zip(dims[:-1], dims[1:]))
        time_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim))
        self.base_channels = base_channels
        self.init_conv = nn.Conv2d(in_ch, base_channels, 1)
        last = len(pairs) - 1
        self.down = nn.ModuleList(
            _Level(din, dout, time_dim, groups, heads, head_dim, Downsample(din, dout) if i < last else nn.Conv2d(din, dout, 3, padding=1))
            for i, (din, dout) in enumerate(pairs)
        )
        mid = dims[-1]
        self.mid1 = ResidualBlock(mid, mid, time_dim, groups)
        self.mid_attn = FullAttention(mid, heads, head_dim)
        self.mid2 = ResidualBlock(mid, mid, time_dim, groups)
        self.up = nn.ModuleList(
            _Level(dout, din, time_dim, groups, heads, head_dim, Upsample(dout, din) if i < last else nn.Conv2d(dout, din, 3, padding=1), skip_ch=din)
            for i, (din, dout) in enumerate(reversed(pairs))
        )
        self.final_block = ResidualBlock(2 * base_channels, base_channels, time_dim, groups)
        self.final_conv = nn.Conv2d(base_channels, in_ch, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise in ``x`` at timesteps ``t`` (long tensor of shape ``(batch,)``)."""
        t_emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        if self.patch_size > 1:
            x = F.pixel_unshuffle(x, self.patch_size)
        x = self.init_conv(x)
        residual = x
        skips = []
        for level in self.down:
            x = level.block1(x, t_emb)
            skips.append(x)
            x = level.attn(level.block2(x, t_emb))
            skips.append(x)
            x = level.resample(x)
        x = self.mid2(self.mid_attn(self.mid1(x, t_emb)), t_emb)
        for level in self.up:
            x = level.block1(torch.cat([x, skips.pop()], dim=1), t_emb)
            x = level.attn(level.block2(torch.cat([x, skips.pop()], dim=1), t_emb))
            x = level.resample(x)
        x = self.final_conv(self.final_block(torch.cat([x, residual], dim=1), t_emb))
        return F.pixel_shuffle(x, self.patch_size) if self.patch_size > 1 else x
