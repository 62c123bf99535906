"""The three numerical stages of DiffusionST, each array-level and testable on its own.

1. :func:`denoise_gcn` - GCN autoencoder with a ZINB likelihood, returns the reconstruction ``h``.
2. :func:`enhance_diffusion` - one U-Net learns the distribution of all spots' images; every spot is
   regenerated from a partially noised copy of itself, and the ``n_keep`` candidates closest to it are
   averaged.
3. :func:`embed` - PCA of the enhanced matrix (the embedding that is clustered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.decomposition import PCA

from .._batch_pipeline import map_batches
from .._utils import mixed_precision, progress, randn, seeded_torch, single_threaded_numpy, torch_generator
from ..diffusion import DDIMSampler, NoiseSchedule, sample
from ..graph import to_torch_sparse
from ._config import DiffusionSTConfig, unet_groups
from ._gcn import RECONSTRUCTION_BLOCK_ROWS, GCNZINBAutoencoder, reconstruction_sse, zinb_nll
from ._preprocess import from_images, image_side, to_images
from ._unet import UNet


def gcn_latent_dim(config: DiffusionSTConfig, n_spots: int, n_genes: int) -> int:
    """The GCN's latent size: ``config.latent_dim``, capped at the rank of its PCA start (``min(N, G)``)."""
    return min(config.latent_dim, n_spots, n_genes)


def denoise_gcn(
    features: np.ndarray,
    propagation: sp.csr_matrix,
    config: DiffusionSTConfig,
    *,
    counts: sp.csr_matrix | None,
    seed: int,
    device: torch.device,
    verbose: bool,
) -> tuple[np.ndarray, list[float]]:
    """Train the GCN-ZINB autoencoder full-batch and return its reconstruction ``h`` and the loss curve.

    Parameters
    ----------
    features
        ``N x G`` scaled log-normalised expression (the GCN input and the MSE target).
    propagation
        ``N x N`` sparse propagation matrix.
    config
        Pipeline settings (epochs, learning rate, loss weights, ZINB target and heads, precision).
    counts
        ``N x G`` raw counts of the same genes, needed when ``config.zinb_target == "counts"``.
    seed
        Seed of the spot subsets drawn for the ZINB term (``config.zinb_spots``).
    device
        Torch device.
    verbose
        Show a progress bar.

    Returns
    -------
    reconstruction, losses
        ``N x G`` float32 ``h`` of the last training forward pass with a finite loss (as the reference;
        recomputed from that pass's weights once training ends, block by block of spots: training itself
        holds no ``N x G`` matrix beyond ``features`` and ``counts``), per-epoch losses.

    Raises
    ------
    ValueError
        If ``config.zinb_target == "counts"`` and ``counts`` is ``None``.
    FloatingPointError
        If the loss is not finite at the first epoch (training stops at the first non-finite loss and
        keeps the last finite reconstruction otherwise).
    """
    x = torch.from_numpy(features).to(device)
    prop = to_torch_sparse(propagation, device)
    if config.zinb_target == "counts":
        if counts is None:
            raise ValueError("zinb_target='counts' needs the raw counts of the selected genes.")
        dense_counts = np.asarray(counts.todense(), dtype=np.float32)
        library = dense_counts.sum(axis=1, keepdims=True)
        size_factor = torch.from_numpy(library / max(float(np.median(library)), 1.0)).clamp(min=1e-3).to(device)
        zinb_x = torch.from_numpy(dense_counts).to(device)
    else:
        size_factor = torch.ones((x.shape[0], 1), device=device)
        zinb_x = x
    n_spots = x.shape[0]
    n_zinb = n_spots if config.zinb_spots == 0 else min(config.zinb_spots, n_spots)
    generator = torch_generator(seed, device)
    with seeded_torch(seed):
        model = GCNZINBAutoencoder(x.shape[1], gcn_latent_dim(config, *x.shape), config.zinb_heads_from)
    if config.gcn_init == "pca":
        model.initialise_from_pca(features, propagation, seed)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.gcn_lr)
    losses: list[float] = []
    weights = None  # the weights of the last forward pass with a finite loss
    for _ in progress(range(config.gcn_epochs), desc="DiffusionST: GCN-ZINB", verbose=verbose):
        model.train()
        rows = None if n_zinb == n_spots else torch.randperm(n_spots, generator=generator, device=generator.device)[:n_zinb].to(device)
        with mixed_precision(config.precision, device):
            out = model(x, prop, zinb_rows=rows)
            squared_error = reconstruction_sse(out["propagated"], model.decoder_weight, x)
        heads = {key: out[key].float() for key in ("mean", "dispersion", "dropout")}
        target = zinb_x if rows is None else zinb_x[rows]
        scale = size_factor if rows is None else size_factor[rows]
        loss = config.mse_weight * squared_error / x.numel() + config.zinb_weight * zinb_nll(
            target, heads["mean"] * scale, heads["dispersion"], heads["dropout"]
        ).mean()
        if not torch.isfinite(loss):
            break  # keep the last finite reconstruction, as the reference implementation does
        weights = [p.detach().clone() for p in model.parameters()]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        del out, heads, loss
    if weights is None:
        raise FloatingPointError("GCN training produced a non-finite loss at the first epoch; check the input counts.")
    reconstruction = np.empty(tuple(x.shape), dtype=np.float32)
    with torch.inference_mode():  # that pass again, without the ZINB heads: the same operations, the same values
        for p, w in zip(model.parameters(), weights):
            p.copy_(w)
        with mixed_precision(config.precision, device):
            propagated = model(x, prop, zinb_rows=torch.empty(0, dtype=torch.long, device=device))["propagated"]
            for lo in range(0, n_spots, RECONSTRUCTION_BLOCK_ROWS):
                rows_of = slice(lo, lo + RECONSTRUCTION_BLOCK_ROWS)
                reconstruction[rows_of] = model.reconstruct(propagated[rows_of]).float().cpu().numpy()
    return reconstruction, losses


def unet_downsampling(config: DiffusionSTConfig) -> int:
    """Total down-sampling factor of the configured U-Net (image sides must be a multiple of it).

    Parameters
    ----------
    config
        Pipeline settings; only ``unet_patch_size`` and ``unet_mults`` are read.

    Returns
    -------
    int
        ``unet_patch_size * 2 ** (len(unet_mults) - 1)``: 4 for the published network.
    """
    return config.unet_patch_size * 2 ** (len(config.unet_mults) - 1)


def build_unet(config: DiffusionSTConfig) -> UNet:
    """The configured U-Net, with fresh weights from torch's global random state, on the CPU.

    ``unet_channels`` wide at full resolution, ``unet_mults`` per resolution, ``unet_patch_size``; 4 attention
    heads of ``min(32, unet_channels)`` features and :func:`~spatialdiffusion.diffusionst._config.unet_groups`
    GroupNorm groups.
    """
    return UNet(config.unet_channels, config.unet_mults, groups=unet_groups(config.unet_channels), heads=4,
                head_dim=min(32, config.unet_channels), patch_size=config.unet_patch_size)


def generation_batch_spots(config: DiffusionSTConfig) -> int:
    """Spots per generation batch: ``4 * batch_size // n_candidates`` (at least 1), about four training batches of images."""
    return max(1, config.batch_size * 4 // config.n_candidates)


@dataclass(frozen=True)
class ImageScale:
    """Affine map of an ``N x G`` matrix onto the diffusion model's [-1, 1] scale, and back.

    ``forward`` computes ``(matrix - low) / width * 2 - 1`` and ``inverse`` undoes it; ``low`` and
    ``width`` are scalars (one interval for the whole matrix) or arrays over the genes.
    """

    low: float | np.ndarray
    width: float | np.ndarray

    @classmethod
    def fit(cls, matrix: np.ndarray, how: str) -> ImageScale:
        """The map for ``matrix`` under ``image_scaling=how``.

        ``how="range"``: the matrix's overall [min, max] maps onto [-1, 1]; ``"gene"``: each column's
        [mean - SD, mean + SD] does, i.e. each gene is standardised over the spots (a constant gene gets
        SD 1, so it maps to 0).
        """
        if how == "gene":
            mean, sd = matrix.mean(axis=0), matrix.std(axis=0)
            sd = np.where(sd > 0, sd, 1).astype(matrix.dtype)
            return cls(mean - sd, 2 * sd)
        low, high = float(matrix.min()), float(matrix.max())
        return cls(low, max(high - low, 1e-8))

    def forward(self, matrix: np.ndarray) -> np.ndarray:
        """``matrix`` on the [-1, 1] scale."""
        return (matrix - self.low) / self.width * 2 - 1

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """``scaled`` back on the original scale."""
        return (scaled + 1) / 2 * self.width + self.low


def generation_layout(device: torch.device) -> torch.memory_format:
    """Memory layout of the U-Net and its images while candidates are generated.

    Channels-last on the CPU, where it makes the convolutions of the narrow ``fast`` U-Net about 20% faster
    on 2 cores (the values agree up to the last bits of float32); the default layout on other devices.
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def enhance_diffusion(
    matrix: np.ndarray,
    config: DiffusionSTConfig,
    *,
    seed: int,
    device: torch.device,
    verbose: bool,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Diffusion enhancement of every spot (the paper's stage 2).

    Each spot's ``G`` values are laid out on a square image (:func:`~spatialdiffusion.diffusionst.image_side`),
    mapped affinely to the [-1, 1] scale (``image_scaling``). One U-Net is trained on all spots to predict
    the noise of the forward process. Then, for every spot, ``n_candidates`` pseudo-images are generated by
    noising the spot to ``start_timestep`` and running DDIM back to a clean image; the ``n_keep`` candidates
    with the lowest MSE to the spot are averaged and replace it. Training and generation are batched over
    spots, and images are made batch by batch, so memory beyond ``matrix`` and the result does not grow
    with ``N``. On the CPU, two generation batches run at once, each on half of torch's threads
    (:func:`~spatialdiffusion._batch_pipeline.map_batches`); their starting noise is drawn in batch order, and
    DDIM with ``eta = 0`` draws nothing more, so the random stream is that of one batch at a time.

    Parameters
    ----------
    matrix
        ``N x G`` float32 matrix to enhance (the GCN reconstruction in the pipeline), ``G >= 16``. An affine
        map (``config.image_scaling``) takes it to the diffusion model's scale and back.
    config
        Pipeline settings: the U-Net (``unet_channels``, ``unet_mults``, ``unet_patch_size``), the linear
        noise schedule (``diffusion_timesteps``, ``beta_start``, ``beta_end``), training
        (``min(train_epochs * ceil(N / batch_size), max_train_steps)`` Adam steps at ``diffusion_lr``, each on
        ``min(batch_size, N)`` spots drawn with replacement) and generation (``start_timestep``,
        ``sampling_steps``, ``n_candidates``, ``n_keep``) and the arithmetic of the U-Net's forward passes
        (``precision``).
    seed
        Seed of the U-Net's initial weights and of every random draw (training spots, timesteps, noise).
    device
        Torch device for training and generation.
    verbose
        Show progress bars.
    out
        ``N x G`` float32 array the enhanced matrix is written into (default: a new one). It may be
        ``matrix`` itself: each batch of spots is read before it is overwritten, which saves one ``N x G``
        copy.

    Returns
    -------
    enhanced, stats
        ``N x G`` float32 enhanced matrix (original scale; ``out`` when given) and summary numbers as floats:
        ``unet_parameters`` (the U-Net's parameter count), ``unet_train_steps`` (Adam steps taken),
        ``final_train_loss`` (mean noise-prediction MSE over the gene pixels in the last
        ``ceil(N / batch_size)`` steps; NaN without training steps) and ``mean_kept_candidate_mse`` (mean
        MSE, on the [-1, 1] scale, of the kept candidates to their spot).

    Raises
    ------
    ValueError
        If ``G`` is below :data:`~spatialdiffusion.diffusionst.MIN_GENES` (16), or ``out`` is not a float32
        array of ``matrix``'s shape.
    """
    n, g = matrix.shape
    if out is None:
        out = np.empty((n, g), dtype=np.float32)
    elif out.shape != (n, g) or out.dtype != np.float32:
        raise ValueError(f"`out` must be a float32 array of shape {(n, g)}, got {out.dtype} {out.shape}.")
    side = image_side(g, unet_downsampling(config))
    image_scale = ImageScale.fit(matrix, config.image_scaling)

    def images_of(rows: np.ndarray | slice) -> torch.Tensor:
        """The spots ``rows`` of ``matrix`` as [-1, 1] images on ``device``."""
        return torch.from_numpy(to_images(image_scale.forward(matrix[rows]), side)).to(device)

    pad_mask = torch.from_numpy(to_images(np.ones((1, g), dtype=np.float32), side)).to(device)
    generator = torch_generator(seed, device)
    schedule = NoiseSchedule.linear(config.diffusion_timesteps, config.beta_start, config.beta_end)
    with seeded_torch(seed):
        unet = build_unet(config).to(device)
    optimizer = torch.optim.Adam(unet.parameters(), lr=config.diffusion_lr)

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with mixed_precision(config.precision, device):
            return unet(x_t, t).float()

    steps_per_epoch = -(-n // config.batch_size)
    train_steps = min(config.train_epochs * steps_per_epoch, config.max_train_steps)
    last_losses: list[float] = []
    unet.train()
    for _ in progress(range(train_steps), desc="DiffusionST: U-Net training", verbose=verbose):
        idx = torch.randint(0, n, (min(config.batch_size, n),), generator=generator, device=generator.device).cpu()
        x0 = images_of(idx.numpy())
        t = torch.randint(0, config.diffusion_timesteps, (x0.shape[0],), generator=generator, device=generator.device).to(device)
        noise = randn(tuple(x0.shape), generator, device)
        x_t = schedule.add_noise(x0, noise, t)
        loss = ((denoise(x_t, t) - noise) ** 2 * pad_mask).sum() / (pad_mask.sum() * x0.shape[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        last_losses.append(loss.item())
    unet.eval()
    layout = generation_layout(device)
    unet = unet.to(memory_format=layout)
    sampler = DDIMSampler(schedule, config.sampling_steps)
    start = torch.full((1,), config.start_timestep, dtype=torch.long)
    batch = generation_batch_spots(config)

    def noised_batches() -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Each batch's first spot, images and noised candidate starts; the noise drawn in the order of the batches."""
        for lo in progress(range(0, n, batch), desc="DiffusionST: pseudo-images", verbose=verbose):
            x0 = images_of(slice(lo, lo + batch))
            reps = x0.repeat_interleave(config.n_candidates, dim=0).contiguous(memory_format=layout)
            yield lo, x0, schedule.add_noise(reps, randn(tuple(reps.shape), generator, device), start.expand(reps.shape[0]).to(device))

    def enhance_batch(inputs: tuple[int, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Generate a batch's candidates, write the mean of the closest ``n_keep`` into ``out``; their MSEs."""
        lo, x0, noisy = inputs
        with torch.inference_mode():
            # deterministic DDIM (eta = 0): the worker threads draw nothing from the shared generator
            candidates = sample(denoise, sampler, noisy, generator=generator, start_t=config.start_timestep) * pad_mask
            candidates = candidates.reshape(x0.shape[0], config.n_candidates, *x0.shape[1:])
            mse = ((candidates - x0[:, None]) ** 2).flatten(2).sum(-1) / pad_mask.sum()
            best = mse.topk(config.n_keep, dim=1, largest=False).indices
            chosen = torch.take_along_dim(candidates, best[:, :, None, None, None], dim=1)
            out[lo : lo + x0.shape[0]] = image_scale.inverse(from_images(chosen.mean(dim=1).cpu().numpy(), g))
            return torch.take_along_dim(mse, best, dim=1).mean(dim=1).cpu()

    with torch.inference_mode():
        kept_mse = list(map_batches(enhance_batch, noised_batches(), device))
    stats = {
        "unet_parameters": float(sum(p.numel() for p in unet.parameters())),
        "unet_train_steps": float(train_steps),
        "final_train_loss": float(np.mean(last_losses[-steps_per_epoch:])) if last_losses else float("nan"),
        "mean_kept_candidate_mse": float(torch.cat(kept_mse).mean()),
    }
    return out, stats


def embed(matrix: np.ndarray, n_pcs: int, seed: int) -> np.ndarray:
    """PCA (centred, unscaled) to ``n_pcs`` components: the embedding that is clustered.

    Computed on one BLAS thread, so that the embedding, and the mclust partition that amplifies its last
    bits, do not depend on the machine's thread count.

    Parameters
    ----------
    matrix
        ``N x G`` matrix (the enhanced expression in the pipeline).
    n_pcs
        Number of components requested; capped at ``min(N - 1, G)``.
    seed
        ``random_state`` of scikit-learn's :class:`~sklearn.decomposition.PCA` (used by its randomised
        solver).

    Returns
    -------
    numpy.ndarray
        float32 ``N x min(n_pcs, N - 1, G)`` principal-component scores.
    """
    n_pcs = min(n_pcs, matrix.shape[0] - 1, matrix.shape[1])
    with single_threaded_numpy():
        return PCA(n_components=n_pcs, random_state=seed).fit_transform(matrix).astype(np.float32)
