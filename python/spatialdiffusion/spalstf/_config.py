"""SpaLSTF settings: one dataclass, two named presets (``paper``, ``fast``) and ``auto``.

``paper`` is the published configuration (released code's values where the paper is silent), meant for
a GPU. ``fast`` is the CPU default: still SpaLSTF (XCA denoiser, bidirectional LSTM condition, masked
KL), narrower, fewer epochs at a higher learning rate decayed to 0 along a cosine, reference capture
efficiencies jittered per gene in training, LSTM over windows of 64 cells ordered by expression (it scored
a higher ARI than the released code's order on osmFISH), three denoisers and a few-step DDIM sampler whose
draws are averaged per cell; its settings were chosen by measurement on osmFISH (see
``benchmarks/RESULTS.md``).
Any field can be overridden by keyword: ``spalstf(..., preset="fast", epochs=50)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable

import torch

from .._settings import check_at_least, check_choice, coerce_field_types, resolve_preset, with_overrides
from .._utils import PRECISIONS

PRESETS = ("paper", "fast")
VARIANTS = ("spalstf", "stdiff")
CELL_ORDERS = ("spatial", "expression", "file")
SAMPLERS = ("ddpm", "ddim")
SCALE_GENES = ("observed", "all")
LR_DECAYS = ("none", "cosine")
X0_CLAMPS = ("symmetric", "data")
SAMPLING_SETTINGS = ("sampler", "sampler_steps", "ddim_eta", "x0_clamp", "n_samples", "sample_jitter", "precision")
"""Settings a run that loads a trained model takes from itself: those that only shape sampling, and the arithmetic precision."""


def check_sampling_settings(settings: Iterable[str]) -> None:
    """Raise a clear error when ``settings`` names anything but :data:`SAMPLING_SETTINGS` (the rest needs retraining)."""
    other = sorted(set(settings) - set(SAMPLING_SETTINGS))
    if other:
        raise ValueError(f"Only sampling settings {SAMPLING_SETTINGS} can change on a trained model; {other} need retraining.")


@dataclass(frozen=True)
class SpaLSTFConfig:
    """Every setting of a SpaLSTF (or stDiff) run.

    Attributes
    ----------
    variant
        ``"spalstf"`` (XCA blocks, LSTM condition, KL term) or ``"stdiff"`` (attention between cells,
        linear condition, no KL), the ablation reported in the paper.
    hidden, batch_size
        Transformer width and cells per minibatch; ``None`` applies the published rule
        (fewer than 500 genes: 512 and 2048; otherwise 1024 and 512).
    depth, num_heads, mlp_ratio
        DiT blocks, attention heads, MLP expansion.
    lstm_hidden, lstm_layers, lstm_bidirectional, lstm_window
        Condition LSTM; bidirectional as in the paper (``False`` = released code); ``lstm_window`` cells
        per sequence (``None`` = the whole minibatch is one sequence, as released).
    cell_order
        Meaning of the LSTM's cell sequence. ``"spatial"``: spatial cells along a Hilbert curve through
        the tissue (expression order if no coordinates), reference cells along the first principal
        component of the observed genes, each minibatch sorted that way. ``"expression"``: both by
        expression. ``"file"``: released code (shuffled reference, spatial cells in input order).
    epochs, lr, grad_clip
        AdamW (no weight decay) epochs, learning rate, gradient-norm clip.
    lr_decay
        ``"none"``: constant learning rate (the released code); ``"cosine"``: cosine decay from ``lr`` to 0
        over all optimiser steps.
    num_timesteps
        T of the cosine schedule, for training and sampling.
    kl_weight
        alpha of ``loss = MSE + alpha * KL``; ``None`` = released rule (2.8 below 120 genes, else 0.02).
    kl_masked
        KL over the unobserved genes only (paper Eq. 2) or over all genes (released code).
    augment
        ``True``: stack reference copies shifted by +10 (and +5 from 40 genes on) counts, as the released
        code. ``False``: no copies. ``None`` (``fast``): shifted copies only when the spatial cells have
        clearly fewer zero counts over the observed genes than the reference (an assay that detects more,
        such as smFISH against scRNA-seq), else as many unshifted copies, so that the optimiser steps are
        the same; the shifts used are recorded as ``augment_shifts``.
    capture_jitter
        Standard deviation of a log-normal factor drawn per observed gene and per minibatch that multiplies
        the reference's observed-gene counts before normalisation, a stand-in for the per-gene capture
        efficiencies that differ between the reference and the spatial assay. 0 (the method) draws nothing.
    sample_jitter
        The same at sampling time: each of the ``n_samples`` draws conditions on the spatial cells'
        observed counts multiplied by a fresh log-normal factor per gene with this standard deviation, and
        is mapped back to the unjittered cell's library size and maximum before the draws are averaged.
        A sampling setting: it can differ from the value the model was trained with. 0 (the method) draws
        nothing.
    target_ceiling
        Cap on target genes in model space, for training targets and samples alike: 3 is a
        log-expression twice the cell's observed maximum. It keeps cells with almost no observed counts
        from producing huge values.
    sampler, sampler_steps, ddim_eta
        ``"ddpm"``: ancestral sampling through all T steps (the method); ``"ddim"``: ``sampler_steps``
        evenly spaced steps with stochasticity ``ddim_eta``.
    x0_clamp
        Range the sampler clamps each predicted clean sample to. ``"data"`` (both presets):
        ``[-1, target_ceiling]``, the range of the training targets (-1 is zero expression; the released
        code clamps to ``[-1, 1]``, its targets never exceeding 1). ``"symmetric"``:
        ``[-target_ceiling, target_ceiling]``, which lets samples stand for negative expression (the
        package's behaviour before 2026-11-22).
    n_samples
        Independent samples averaged per cell and per model (the method draws 1).
    n_models
        Denoisers trained independently (member ``m`` seeded ``seed + 1000 * m``) whose samples are
        averaged; 1 is the method.
    scale_genes
        Genes whose counts set each cell's library size and maximum. ``"observed"``: the condition genes,
        the only choice when the target genes were not measured. ``"all"``: observed and target genes,
        as the released evaluation does; this leaks the held-out genes into every cell's scale, so only
        the k-fold evaluation accepts it, to reproduce the published figures.
    min_shared_genes
        Fewest shared genes accepted as a condition.
    precision
        Arithmetic of the denoiser's forward passes, in training and in sampling: ``"float32"`` (default) or
        ``"bf16"`` (bfloat16 autocast, for CUDA GPUs of the Ampere generation or newer; it also runs on the
        CPU, usually slower there). Weights, losses and the imputed values stay float32. Like the sampling
        settings, a loaded trained model runs at this run's value.
    """

    variant: str = "spalstf"
    hidden: int | None = None
    batch_size: int | None = None
    depth: int = 6
    num_heads: int = 16
    mlp_ratio: float = 4.0
    lstm_hidden: int = 128
    lstm_layers: int = 2
    lstm_bidirectional: bool = True
    lstm_window: int | None = None
    cell_order: str = "spatial"
    epochs: int = 1200
    lr: float = 1.6046744893538737e-4
    grad_clip: float = 1.0
    lr_decay: str = "none"
    num_timesteps: int = 1500
    kl_weight: float | None = None
    kl_masked: bool = True
    augment: bool | None = True
    capture_jitter: float = 0.0
    sample_jitter: float = 0.0
    target_ceiling: float = 3.0
    sampler: str = "ddpm"
    sampler_steps: int = 1500
    ddim_eta: float = 0.0
    x0_clamp: str = "data"  # fast, measured on the same networks: SPCC 0.318 vs 0.311, ARI at Leiden state 0 0.256 vs 0.225 (benchmarks/RESULTS.md)
    n_samples: int = 1
    n_models: int = 1
    scale_genes: str = "observed"
    min_shared_genes: int = 10
    precision: str = "float32"

    def __post_init__(self) -> None:
        coerce_field_types(self)
        for name, allowed in (("variant", VARIANTS), ("cell_order", CELL_ORDERS), ("sampler", SAMPLERS), ("scale_genes", SCALE_GENES), ("lr_decay", LR_DECAYS), ("x0_clamp", X0_CLAMPS), ("precision", PRECISIONS)):
            check_choice(self, name, allowed)
        check_at_least(self, ("num_timesteps",), 2)  # training draws t from 1 .. T - 1
        check_at_least(self, ("depth", "num_heads", "lstm_hidden", "lstm_layers", "epochs", "sampler_steps", "n_samples",
                              "n_models", "min_shared_genes", "hidden", "batch_size", "lstm_window"), 1)
        check_at_least(self, ("lr", "grad_clip", "mlp_ratio"), 0, strict=True)
        check_at_least(self, ("capture_jitter", "sample_jitter", "kl_weight", "ddim_eta"), 0)
        if self.ddim_eta > 1:
            raise ValueError(f"`ddim_eta` must lie in [0, 1] (0: deterministic DDIM, 1: DDPM's variance), got {self.ddim_eta}.")
        if self.target_ceiling <= 1:
            raise ValueError(f"`target_ceiling` must exceed 1 (the cell's observed maximum in model space), got {self.target_ceiling}.")

    def resolved(self, n_genes: int) -> "SpaLSTFConfig":
        """Fill the size-dependent fields (``hidden``, ``batch_size``, ``kl_weight``) for ``n_genes`` genes."""
        hidden = self.hidden if self.hidden is not None else (512 if n_genes < 500 else 1024)
        batch = self.batch_size if self.batch_size is not None else (2048 if n_genes < 500 else 512)
        kl = self.kl_weight if self.kl_weight is not None else (2.8 if n_genes < 120 else 0.02)
        if self.variant == "stdiff":
            kl = 0.0
        if hidden % self.num_heads:
            raise ValueError(f"`hidden` ({hidden}) must be divisible by `num_heads` ({self.num_heads}).")
        return replace(self, hidden=hidden, batch_size=batch, kl_weight=kl)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for provenance records and checkpoints."""
        return asdict(self)


_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "fast": dict(
        hidden=128,
        batch_size=1024,
        depth=4,
        num_heads=8,
        lstm_hidden=64,
        lstm_window=64,
        cell_order="expression",  # measured: ARI 0.239 vs 0.192 with "file" (benchmarks/RESULTS.md)
        epochs=30,
        lr=6e-3,
        lr_decay="cosine",  # measured: expected ARI 0.230 vs 0.218 at a constant 3e-3, higher on all 5 seeds (benchmarks/RESULTS.md)
        augment=None,  # measured, seeds 0-2: SPCC STARmap 0.090 vs 0.067 (higher on 3 of 3), Visium 0.127 vs 0.133 (within draw noise), osmFISH unchanged (benchmarks/RESULTS.md)
        capture_jitter=0.5,  # measured: SPCC 0.311 vs 0.292 (higher on all 5 seeds), expected ARI 0.243 vs 0.230 (benchmarks/RESULTS.md)
        sampler="ddim",
        sampler_steps=10,
        n_samples=8,
        n_models=3,  # measured: SPCC +0.019 over one model (5 seeds), same ARI over Leiden states (benchmarks/RESULTS.md)
    ),
}


def spalstf_config(preset: str = "auto", device: torch.device | None = None, **overrides: Any) -> tuple[str, SpaLSTFConfig]:
    """Resolve a preset name and build its :class:`SpaLSTFConfig` with keyword overrides on top.

    Parameters
    ----------
    preset
        ``"paper"``, ``"fast"`` or ``"auto"`` (``paper`` on CUDA, ``fast`` otherwise).
    device
        The device the run will use (only consulted for ``"auto"``).
    **overrides
        Any :class:`SpaLSTFConfig` field.

    Returns
    -------
    tuple[str, SpaLSTFConfig]
        The resolved preset name (``"paper"`` or ``"fast"``) and the settings.

    Raises
    ------
    ValueError
        For an unknown preset, or an override outside its field's range.
    TypeError
        For an override that is not a :class:`SpaLSTFConfig` field, or of the wrong type.
    """
    name = resolve_preset(preset, device, _PRESETS)
    return name, with_overrides(SpaLSTFConfig, _PRESETS[name], overrides, "SpaLSTF")
