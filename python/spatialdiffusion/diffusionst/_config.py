"""Named hyper-parameter sets ("presets") for DiffusionST.

``paper`` reproduces the published sizes and is meant for a GPU; ``fast`` keeps every stage of the
method (GCN-ZINB denoising, diffusion enhancement, PCA + mclust, refinement) at CPU-friendly sizes and
is the default without CUDA. Any field can be overridden by keyword.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .._settings import check_at_least, check_choice, coerce_field_types, resolve_preset, with_overrides
from .._utils import PRECISIONS
from ..cluster.mclust import MCLUST_STARTS
from ._preprocess import MIN_GENES


def unet_groups(channels: int) -> int:
    """GroupNorm groups in the residual blocks of a U-Net with ``channels`` base channels (the paper's 4, fewer when narrow)."""
    return min(4, channels // 2)


@dataclass(frozen=True)
class DiffusionSTConfig:
    """Every tunable number of the DiffusionST pipeline.

    Attributes
    ----------
    n_top_genes
        Highly variable genes selected with seurat_v3 (4096 = a 64x64 image).
    library_genes
        Which genes' per-spot total is the library size when no whole-transcriptome totals are given:
        ``"all"`` (every gene of the input: the reference, exact when the input is the whole transcriptome)
        or ``"stable"`` (the expressed genes of lowest variance-to-mean ratio, rescaled; see
        :func:`~spatialdiffusion.diffusionst.stable_gene_library`), for an input that holds only the most
        variable genes, whose total depends on the spot's domain.
    library_share
        The share of a spot's whole-transcriptome counts that the input's genes carry (1: the input is the
        whole transcriptome). Library sizes computed from the input's genes are divided by it, so that the
        normalisation to 1e4 counts per spot is made on the whole-transcriptome scale, as DiffusionST's is.
        On DLPFC 151673 the shared file's 5000 genes carry a median 0.289 of spatialLIBD's ``sum_umi``.
        Ignored when library sizes are supplied.
    n_neighbors
        Spatial k-NN graph degree before symmetrising (4).
    latent_dim
        GCN latent width (64; at most the number of spots and of genes).
    gcn_epochs, gcn_lr
        Full-batch Adam epochs and learning rate of the GCN autoencoder (500, 1e-3).
    gcn_init
        ``"xavier"``: random initialisation (the reference; needs hundreds of epochs); ``"pca"``: start the
        rank-``latent_dim`` linear autoencoder at the least-squares PCA solution (``W1 = c V``, ``W2 = V^T``
        with ``V`` the top right singular vectors of X and ``c`` the best scale), so a few dozen epochs
        suffice - the CPU preset's choice.
    mse_weight, zinb_weight
        Loss = ``mse_weight * MSE(X, h) + zinb_weight * ZINB`` (10 and 0.5).
    zinb_target
        ``"scaled"``: the ZINB models the scaled log-normalised features (the released code);
        ``"counts"``: it models the raw counts with a library-size factor (the paper's intent).
    zinb_heads_from
        ``"reconstruction"`` (released code) or ``"latent"`` (cheaper).
    zinb_spots
        Spots drawn at random each epoch on which the ZINB term is evaluated (0 = all spots, as the
        reference). A subset gives an unbiased estimate of the same mean loss at a fraction of the cost;
        the MSE term always uses every spot.
    diffusion
        ``"ddpm"``: one U-Net learns all spots' images, then each spot is regenerated from a partially
        noised copy of itself (the paper); ``"none"``: skip enhancement (an ablation, not DiffusionST).
    image_scaling
        How the spot images are mapped for the diffusion model (and back afterwards): ``"range"`` maps the
        matrix's overall [minimum, maximum] onto [-1, 1]; ``"gene"`` maps each gene's [mean - SD, mean + SD]
        over the spots onto [-1, 1], so that every pixel varies across spots on the unit scale the noise
        schedule is made for. The released code feeds the images unscaled.
    unet_channels, unet_mults, unet_patch_size
        U-Net width, per-level multipliers and input patch size ((64, (1, 2, 4), 1) in the paper).
    diffusion_timesteps, beta_start, beta_end
        Linear noise schedule.
    train_epochs, batch_size, diffusion_lr
        U-Net training: passes over all spots, minibatch size, Adam learning rate.
    max_train_steps
        Cap on the U-Net's Adam steps (``train_epochs * ceil(N / batch_size)`` without it). The U-Net learns
        the distribution of the spots' gene images, which a larger section samples more densely rather than
        widens, so the steps need not grow without bound with the number of spots. The caps (4000 in
        ``paper``, 500 in ``fast``) lie above the steps any DLPFC slice (at most 4,789 spots) takes, so a
        single Visium section trains exactly as without a cap.
    start_timestep
        Timestep of the partially noised spot image from which candidates are generated.
    sampling_steps
        DDIM steps from ``start_timestep`` to a clean image.
    n_candidates, n_keep
        Pseudo-images generated per spot, and how many of the closest (MSE) are averaged (8 and 2, the paper's;
        3 and 2 in ``fast``: generation is most of its time, linear in the candidates, and 3 scored as 8 did on
        both DLPFC benchmark slices - see benchmarks/RESULTS.md).
    n_pcs
        Principal components handed to the clustering (20, the reference's; 10 in ``fast``, which raised the
        ARI expected over mclust's draws on both DLPFC benchmark slices - see benchmarks/RESULTS.md).
    cluster_method
        ``"auto"`` (mclust, falling back to a Gaussian mixture), ``"mclust"`` or ``"gmm"``.
    mclust_start
        Spots of the hierarchical clustering that starts mclust's EM: ``"subset"`` (mclust's default and
        the released code's: a random 2000 when there are more, drawn from ``seed``) or ``"all"`` (every
        spot: no random draw; time and memory grow with the square of the number of spots).
    refine_neighbors
        Neighbourhood of the majority-vote refinement (50; 0 disables it).
    precision
        Arithmetic of the GCN's and the U-Net's forward passes, in training and in generation: ``"float32"``
        (default) or ``"bf16"`` (bfloat16 autocast, for CUDA GPUs of the Ampere generation or newer; it also
        runs on the CPU, usually slower there). Weights, losses, the sparse graph products and every
        returned matrix stay float32.
    """

    n_top_genes: int = 4096
    library_genes: str = "all"
    library_share: float = 1.0
    n_neighbors: int = 4
    latent_dim: int = 64
    gcn_epochs: int = 500
    gcn_lr: float = 1e-3
    gcn_init: str = "xavier"
    mse_weight: float = 10.0
    zinb_weight: float = 0.5
    zinb_target: str = "scaled"
    zinb_heads_from: str = "reconstruction"
    zinb_spots: int = 0
    diffusion: str = "ddpm"
    image_scaling: str = "range"
    unet_channels: int = 64
    unet_mults: tuple[int, ...] = (1, 2, 4)
    unet_patch_size: int = 1
    diffusion_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    train_epochs: int = 50
    batch_size: int = 64
    max_train_steps: int = 4000
    diffusion_lr: float = 1e-4
    start_timestep: int = 100
    sampling_steps: int = 20
    n_candidates: int = 8
    n_keep: int = 2
    n_pcs: int = 20
    cluster_method: str = "auto"
    mclust_start: str = "subset"
    refine_neighbors: int = 50
    precision: str = "float32"

    def __post_init__(self) -> None:
        coerce_field_types(self)
        for name, values in (("zinb_target", ("scaled", "counts")), ("gcn_init", ("xavier", "pca")),
                             ("zinb_heads_from", ("reconstruction", "latent")), ("diffusion", ("ddpm", "none")),
                             ("image_scaling", ("range", "gene")), ("library_genes", ("all", "stable")),
                             ("cluster_method", ("auto", "mclust", "gmm")), ("mclust_start", MCLUST_STARTS),
                             ("precision", PRECISIONS)):
            check_choice(self, name, values)
        check_at_least(self, ("n_top_genes",), MIN_GENES)  # fewer genes cannot be laid out as an image
        check_at_least(self, ("n_neighbors", "latent_dim", "gcn_epochs", "unet_channels", "diffusion_timesteps",
                              "batch_size", "max_train_steps", "sampling_steps", "n_candidates", "n_keep", "n_pcs"), 1)
        check_at_least(self, ("refine_neighbors", "train_epochs", "zinb_spots", "mse_weight", "zinb_weight"), 0)
        check_at_least(self, ("gcn_lr", "diffusion_lr", "beta_start", "library_share"), 0, strict=True)
        if self.library_share > 1:
            raise ValueError("`library_share` is the input genes' share of the whole transcriptome, in (0, 1]; "
                             f"got {self.library_share}.")
        if min(self.unet_mults) < 1:
            raise ValueError(f"`unet_mults` must hold positive integers, got {self.unet_mults}.")
        if self.unet_channels % 2 or self.unet_channels % unet_groups(self.unet_channels):
            raise ValueError(f"`unet_channels` must be 2, 4, 6 or a multiple of 4 (the U-Net normalises its channels in "
                             f"min(4, unet_channels // 2) groups), got {self.unet_channels}.")
        if self.unet_patch_size not in (1, 2):
            raise ValueError(f"`unet_patch_size` must be 1 or 2, got {self.unet_patch_size}.")
        if not self.beta_start < self.beta_end < 1:
            raise ValueError(f"The noise schedule needs 0 < `beta_start` < `beta_end` < 1, got {self.beta_start} and {self.beta_end}.")
        if self.mse_weight == 0 and self.zinb_weight == 0:
            raise ValueError("`mse_weight` and `zinb_weight` cannot both be 0: the GCN would have nothing to learn.")
        if self.n_keep > self.n_candidates:
            raise ValueError(f"`n_keep` ({self.n_keep}) cannot exceed `n_candidates` ({self.n_candidates}).")
        if not 0 <= self.start_timestep < self.diffusion_timesteps:
            raise ValueError(f"`start_timestep` must lie in [0, {self.diffusion_timesteps - 1}], got {self.start_timestep}.")

    def to_dict(self) -> dict:
        """Plain-dict form for provenance records."""
        out = dataclasses.asdict(self)
        out["unet_mults"] = list(self.unet_mults)
        return out


DIFFUSIONST_PRESETS: dict[str, DiffusionSTConfig] = {
    "paper": DiffusionSTConfig(),
    "fast": DiffusionSTConfig(
        gcn_epochs=30,
        gcn_init="pca",
        zinb_heads_from="latent",
        zinb_spots=512,
        image_scaling="gene",
        unet_channels=8,
        unet_mults=(1, 2, 2),
        unet_patch_size=2,
        diffusion_timesteps=100,
        train_epochs=3,
        batch_size=32,
        max_train_steps=500,
        diffusion_lr=1e-3,
        start_timestep=30,
        sampling_steps=3,
        n_candidates=3,
        n_keep=2,
        n_pcs=10,
    ),
}


def diffusionst_config(preset: str, device: torch.device, **overrides: object) -> tuple[str, DiffusionSTConfig]:
    """Resolve a preset name (``"auto"``: ``paper`` on CUDA, else ``fast``) and apply keyword overrides.

    Raises
    ------
    ValueError
        For an unknown preset, or an override outside its field's range.
    TypeError
        For an override that is not a :class:`DiffusionSTConfig` field, or of the wrong type.
    """
    name = resolve_preset(preset, device, DIFFUSIONST_PRESETS)
    return name, with_overrides(DiffusionSTConfig, dataclasses.asdict(DIFFUSIONST_PRESETS[name]), overrides, "DiffusionST")
