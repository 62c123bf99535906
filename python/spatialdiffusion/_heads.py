"""Per-head channel maps held as block-diagonal matrices, for the attention layers of both networks.

An attention over channels (SpaLSTF's XCA, DiffusionST's linear attention) gives each of its ``heads`` a
``d x d`` map between that head's channels. Forming one ``c x c`` product over all channels
(``c = heads * d``) and keeping its diagonal blocks, then applying them as one block-diagonal ``c x c``
matrix, works on tensors where a layer wrote them, without copying them into a per-head layout.
"""

from __future__ import annotations

import torch


def diagonal_blocks(full: torch.Tensor, heads: int) -> torch.Tensor:
    """The ``heads`` diagonal ``d x d`` blocks of ``full`` (``(..., c, c)``), as ``(..., heads, d, d)``."""
    width = full.shape[-1] // heads
    blocks = torch.diagonal(full.unflatten(-1, (heads, width)).unflatten(-3, (heads, width)), dim1=-4, dim2=-2)
    return blocks.movedim(-1, -3)


def block_diagonal(blocks: torch.Tensor) -> torch.Tensor:
    """``(..., heads, d, d)`` blocks laid on the diagonal of a ``(..., heads * d, heads * d)`` matrix, zeros elsewhere."""
    return torch.diag_embed(blocks.movedim(-3, -1), dim1=-4, dim2=-2).flatten(-4, -3).flatten(-2, -1)
