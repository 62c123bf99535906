"""The trainable SpaLSTF model: fit on the reference, impute spatial cells, save and load.

:class:`SpaLSTFModel` owns a :class:`~spatialdiffusion.spalstf._denoiser.SpaLSTFDenoiser` (the torch
module), the cosine :class:`~spatialdiffusion.diffusion.NoiseSchedule` and the gene plan. It works on
count matrices whose columns are already in model order (observed genes, then target genes).
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .._utils import StageTimer, mixed_precision, package_versions, progress, randn, torch_generator
from ..diffusion import DDIMSampler, DDPMSampler, NoiseSchedule, Sampler, sample
from ._config import SpaLSTFConfig, check_sampling_settings
from ._data import augment, augment_shifts, expression_order, normalize, rescale, spatial_order, to_lognorm
from ._denoiser import SpaLSTFDenoiser


def gaussian_moment_kl(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """KL(N(mean(pred), std(pred)) || N(mean(target), std(target))) of two scalar Gaussians.

    The moments are taken over all entries given (unbiased std, plus ``eps``), as the released code.
    """
    mu_p, sd_p = pred.mean(), pred.std() + eps
    mu_q, sd_q = target.mean(), target.std() + eps
    return torch.log(sd_q / sd_p) + (sd_p**2 + (mu_p - mu_q) ** 2) / (2 * sd_q**2) - 0.5


def diffusion_loss(
    eps_hat: torch.Tensor, eps: torch.Tensor, unobserved: torch.Tensor, kl_weight: float, kl_masked: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """SpaLSTF's training loss: mean squared noise error on the unobserved genes plus ``kl_weight * KL``.

    Parameters
    ----------
    eps_hat, eps
        Predicted and true noise, cells x genes.
    unobserved
        Boolean gene mask (True = unobserved, i.e. imputed).
    kl_weight
        alpha; 0 drops the KL term (stDiff).
    kl_masked
        KL over the unobserved genes (paper Eq. 2) or over every gene (released code).

    Returns
    -------
    loss, kl
    """
    mse = (eps_hat[:, unobserved] - eps[:, unobserved]).pow(2).mean()
    if kl_weight == 0:
        return mse, torch.zeros((), device=mse.device)
    kl = gaussian_moment_kl(eps_hat[:, unobserved], eps[:, unobserved]) if kl_masked else gaussian_moment_kl(eps_hat, eps)
    return mse + kl_weight * kl, kl


def _lr_decay(opt: torch.optim.Optimizer, kind: str, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule ``kind`` (``"none"`` or ``"cosine"`` to 0 over ``total_steps``) for ``opt``."""
    if kind == "none":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=0.0)


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


TrainingBatch = Callable[[np.ndarray, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]
"""Model-space minibatch and its condition for the given cell indices (the generator feeds any jitter)."""

CHECKPOINT_FORMAT = "spatialdiffusion.spalstf/2"
"""Checkpoint format tag: one state dict per ensemble member (``/1`` held a single network and still loads)."""
_SINGLE_MODEL_FORMAT = "spatialdiffusion.spalstf/1"


def member_seed(seed: int, member: int) -> int:
    """Seed of ensemble member ``member``: ``seed`` itself for the first, so one model is the method's run."""
    return seed + 1000 * member


class SpaLSTFModel:
    """SpaLSTF for one gene plan: ``observed`` genes condition, ``target`` genes are imputed.

    With ``config.n_models > 1`` it holds that many independently trained denoisers (``nets``) and
    averages their samples.

    Parameters
    ----------
    config
        Settings; size-dependent fields are resolved for ``len(observed) + len(target)`` genes.
    observed, target
        Gene names in model order.
    device
        Torch device for training and sampling.
    """

    def __init__(self, config: SpaLSTFConfig, observed: list[str], target: list[str], device: torch.device) -> None:
        self.observed = list(observed)
        self.target = list(target)
        self.config = config.resolved(len(self.observed) + len(self.target))
        self.device = device
        self.nets: list[SpaLSTFDenoiser] = []  # built by fit() or load()
        self.schedule = NoiseSchedule.cosine(self.config.num_timesteps)
        self.history: list[dict[str, float]] = []
        self.held_out: np.ndarray | None = None
        self.augment_shifts: tuple[float, ...] | None = None  # the reference copies' count shifts; set by fit()
        self.timer = StageTimer()
        self.trained = False

    def _build_net(self) -> SpaLSTFDenoiser:
        cfg = self.config
        stdiff = cfg.variant == "stdiff"
        return SpaLSTFDenoiser(
            n_genes=len(self.observed) + len(self.target),
            hidden=cfg.hidden,
            depth=cfg.depth,
            num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio,
            attention="cell" if stdiff else "xca",
            condition="linear" if stdiff else "lstm",
            lstm_hidden=cfg.lstm_hidden,
            lstm_layers=cfg.lstm_layers,
            lstm_bidirectional=cfg.lstm_bidirectional,
            lstm_window=cfg.lstm_window,
        ).to(self.device)

    @property
    def n_observed(self) -> int:
        """Number of conditioning genes."""
        return len(self.observed)

    @property
    def final_loss(self) -> float | None:
        """Training loss of the last epoch, averaged over the ensemble members (None before training)."""
        last = {entry.get("model", 0): entry["loss"] for entry in self.history}
        return float(np.mean(list(last.values()))) if last else None

    def _mask(self) -> torch.Tensor:
        mask = torch.zeros(self.n_observed + len(self.target), device=self.device)
        mask[: self.n_observed] = 1.0
        return mask

    @property
    def _n_scale_genes(self) -> int:
        """Leading columns (model order) that set each cell's library size and maximum."""
        return self.n_observed + (len(self.target) if self.config.scale_genes == "all" else 0)

    def _condition(self, x: np.ndarray) -> np.ndarray:
        cond = x.copy()
        cond[:, self.n_observed :] = -1.0
        return cond

    def _training_space(self, counts: np.ndarray) -> np.ndarray:
        """Reference counts (model order) to model space, target genes capped at ``target_ceiling``."""
        x, _ = normalize(counts, self._n_scale_genes)
        x[:, self.n_observed :] = np.clip(x[:, self.n_observed :], -1.0, self.config.target_ceiling)
        return x

    def _batch_source(self, counts: np.ndarray, x0_np: np.ndarray) -> TrainingBatch:
        """Minibatches of ``counts`` (``x0_np`` is their model space): fixed, or jittered anew per batch."""
        if self.config.capture_jitter > 0:
            return lambda idx, rng: self._jittered_batch(counts[idx], rng)
        x0 = torch.from_numpy(x0_np).to(self.device)
        cond = torch.from_numpy(self._condition(x0_np)).to(self.device)

        def fixed(idx: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            idx_t = torch.from_numpy(idx).to(self.device)
            return x0[idx_t], cond[idx_t]

        return fixed

    def _capture_factors(self, sd: float, rng: np.random.Generator, n_draws: int) -> np.ndarray:
        """``n_draws x n_observed`` log-normal capture factors (SD ``sd`` on the log scale), a row per draw."""
        return np.exp(sd * rng.standard_normal((n_draws, self.n_observed))).astype(np.float32)

    def _with_capture_factors(self, counts: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Copy of ``counts`` whose observed genes are multiplied by ``factors`` (one per observed gene)."""
        counts = counts.copy()
        counts[:, : self.n_observed] *= factors
        return counts

    def _jittered_batch(self, counts: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Model-space batch and condition after one draw of per-gene capture factors on the observed genes."""
        x = self._training_space(self._with_capture_factors(counts, self._capture_factors(self.config.capture_jitter, rng, 1)[0]))
        return torch.from_numpy(x).to(self.device), torch.from_numpy(self._condition(x)).to(self.device)

    def fit(
        self, ref_counts: np.ndarray, *, seed: int = 0, verbose: bool = True, held_out: np.ndarray | None = None,
        spatial_counts: np.ndarray | None = None,
    ) -> "SpaLSTFModel":
        """Train on reference counts (cells x genes in model order).

        Parameters
        ----------
        ref_counts
            Raw counts of the observed then target genes for every reference cell.
        held_out
            Indices of reference cells left out of training (kept with the model, for validation).
        seed
            Seeds the network initialisation, minibatch order, timesteps and noise (ensemble member ``m``
            uses ``seed + 1000 * m``).
        verbose
            Show a progress bar over epochs.
        spatial_counts
            Raw counts of the observed genes of the spatial cells; read only with ``augment=None``, which
            decides from them whether the reference copies are shifted (:func:`augment_shifts`).
        """
        cfg = self.config
        self.held_out = None if held_out is None else np.asarray(held_out, dtype=np.int64)
        if self.held_out is not None:
            ref_counts = np.delete(ref_counts, self.held_out, axis=0)
        with self.timer("preprocess"):
            self.augment_shifts = augment_shifts(cfg.augment, ref_counts.shape[1], ref_counts[:, : self.n_observed], spatial_counts)
            counts = augment(ref_counts, self.augment_shifts) if len(self.augment_shifts) > 1 else ref_counts
            x0_np = self._training_space(counts)
            rank = None
            if cfg.cell_order != "file":
                rank = np.empty(len(x0_np), dtype=np.int64)
                rank[expression_order(x0_np[:, : self.n_observed])] = np.arange(len(x0_np))
        batch_of = self._batch_source(counts, x0_np)
        self.history = []
        self.nets = []
        with self.timer("train"):
            for member in range(cfg.n_models):
                desc = "SpaLSTF training" if cfg.n_models == 1 else f"SpaLSTF training, model {member + 1}/{cfg.n_models}"
                self.nets.append(self._train_member(batch_of, len(counts), rank, member_seed(seed, member), member, desc, verbose))
        self.trained = True
        return self

    def _train_member(
        self, batch_of: TrainingBatch, n_cells: int, rank: np.ndarray | None, seed: int, member: int, desc: str, verbose: bool
    ) -> SpaLSTFDenoiser:
        """Train one freshly initialised denoiser (seeded by ``seed``); its epochs are appended to ``history``.

        ``batch_of`` serves minibatches of the ``n_cells`` reference cells (see :meth:`_batch_source`).
        """
        cfg = self.config
        torch.manual_seed(seed)
        net = self._build_net()
        rng = np.random.default_rng(seed)
        gen = torch_generator(seed, self.device)
        mask = self._mask()
        unobserved = mask == 0
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
        batches = _chunks(n_cells, cfg.batch_size)
        decay = _lr_decay(opt, cfg.lr_decay, cfg.epochs * len(batches))
        net.train()
        for _ in progress(range(cfg.epochs), desc=desc, verbose=verbose):
            perm = rng.permutation(n_cells)
            total, total_kl, n_batches = 0.0, 0.0, 0
            for part in batches:
                idx = perm[part]
                if rank is not None:
                    idx = idx[np.argsort(rank[idx])]
                xb, cb = batch_of(idx, rng)
                t = torch.randint(1, cfg.num_timesteps, (len(idx),), generator=gen, device=gen.device).to(self.device)
                eps = randn(tuple(xb.shape), gen, self.device)
                x_in = self.schedule.add_noise(xb, eps, t) * (1 - mask) + xb * mask
                with mixed_precision(cfg.precision, self.device):
                    eps_hat = net(x_in, t, cb)
                loss, kl = diffusion_loss(eps_hat.float(), eps, unobserved, cfg.kl_weight, cfg.kl_masked)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                opt.step()
                if decay is not None:
                    decay.step()
                total, total_kl, n_batches = total + loss.item(), total_kl + kl.item(), n_batches + 1
            self.history.append({"model": member, "loss": total / n_batches, "kl": total_kl / n_batches})
        return net

    def _order(self, x_obs: np.ndarray, coords: np.ndarray | None) -> np.ndarray:
        order = self.config.cell_order
        if order == "file":
            return np.arange(len(x_obs))
        if order == "spatial" and coords is not None:
            return spatial_order(coords)
        return expression_order(x_obs)

    def sample_model_space(
        self,
        st_counts: np.ndarray,
        coords: np.ndarray | None = None,
        *,
        seed: int = 0,
        verbose: bool = True,
        target_counts: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Impute the target genes of spatial cells, in model space.

        Parameters
        ----------
        st_counts
            Raw counts of the observed genes (cells x ``len(observed)``), in model order.
        coords
            Cell coordinates (cells x 2), used when ``cell_order="spatial"``.
        seed
            Seeds the sampling noise.
        verbose
            Show a progress bar over sampling steps.
        target_counts
            Measured counts of the target genes (cells x ``len(target)``). Required with
            ``scale_genes="all"``, where they enter each cell's library size and maximum and nothing
            else (the condition still hides them); refused otherwise.

        Returns
        -------
        x
            Target genes in model space (cells x ``len(target)``), averaged over ``n_samples`` draws of
            each of the ``n_models`` denoisers (member ``m``'s noise, and its capture factors with
            ``sample_jitter``, seeded ``seed + 1000 * m``).
        scale
            Per-cell ``(library, max)`` of the scale genes, for :func:`~spatialdiffusion.spalstf._data.to_lognorm`.
        """
        if not self.trained:
            raise RuntimeError("The model is not trained: call `fit()` or load a checkpoint first.")
        cfg = self.config
        n_genes = self.n_observed + len(self.target)
        padded = np.zeros((len(st_counts), n_genes), dtype=np.float32)
        padded[:, : self.n_observed] = st_counts
        if cfg.scale_genes == "all":
            if target_counts is None:
                raise ValueError(
                    "This model scales cells over observed and target genes (`scale_genes='all'`), so sampling "
                    "needs the measured `target_counts`; train with `scale_genes='observed'` to impute unmeasured genes."
                )
            padded[:, self.n_observed :] = target_counts
        elif target_counts is not None:
            raise ValueError("`target_counts` is only used by models trained with `scale_genes='all'`; leave it out.")
        x_np, scale = normalize(padded, self._n_scale_genes)
        order = self._order(x_np[:, : self.n_observed], coords)
        inverse = np.argsort(order)
        clip = (-1.0, cfg.target_ceiling) if cfg.x0_clamp == "data" else cfg.target_ceiling
        if cfg.sampler == "ddpm":
            sampler = DDPMSampler(self.schedule, clip=clip)
        else:
            sampler = DDIMSampler(self.schedule, num_steps=cfg.sampler_steps, eta=cfg.ddim_eta, clip=clip)
        total = torch.zeros(len(order), n_genes, device=self.device)
        ordered_counts, ordered_scale = padded[order], scale[order]
        with self.timer("sample"):
            for member, net in enumerate(self.nets):
                net.eval()
                gen = torch_generator(member_seed(seed, member), self.device)
                factors = None
                if cfg.sample_jitter > 0:
                    factors = self._capture_factors(cfg.sample_jitter, np.random.default_rng(member_seed(seed, member)), cfg.n_samples)
                total += self._draws(net, sampler, ordered_counts, ordered_scale, factors, gen, verbose)
        x = (total / (cfg.n_samples * cfg.n_models)).cpu().numpy()[inverse]
        return x[:, self.n_observed :], scale

    def _draws(
        self,
        net: SpaLSTFDenoiser,
        sampler: Sampler,
        counts: np.ndarray,
        scale: np.ndarray,
        factors: np.ndarray | None,
        gen: torch.Generator,
        verbose: bool,
    ) -> torch.Tensor:
        """The sum of ``n_samples`` draws of every cell from pure noise, each conditioned on (and keeping) its observed genes.

        Cell batch by cell batch (``batch_size`` cells in sampling order, the minibatches the network attends
        over), all draws of a batch run through the sampler together from starting noise
        ``cells x draws x genes`` drawn from ``gen`` (the sampler holds them draws first); the condition is
        embedded once per batch and, without capture factors, its modulation computed once per step for all
        draws. Memory beyond the result holds one batch.

        Parameters
        ----------
        net, sampler
            The denoiser and the reverse process.
        counts
            Padded counts of the cells (observed genes, then targets) in sampling order.
        scale
            The cells' per-cell ``(lib, max)`` (:func:`~spatialdiffusion.spalstf._data.normalize`): the scale
            of the returned sum.
        factors
            ``None``, or ``n_samples x n_observed`` capture factors (``sample_jitter``): draw ``d`` is
            conditioned on the counts with their observed genes times row ``d``, made on those counts' scale
            and re-expressed on ``scale``.
        gen
            Source of the starting noise (and of any per-step noise of the sampler).
        verbose
            Show a progress bar over cell batches.
        """
        cfg = self.config
        mask = self._mask()
        total = torch.zeros(counts.shape, device=self.device)
        for part in progress(_chunks(len(counts), cfg.batch_size), desc="SpaLSTF sampling", verbose=verbose):
            variants = [counts[part]] if factors is None else [self._with_capture_factors(counts[part], f) for f in factors]
            normalised = [normalize(v, self._n_scale_genes) for v in variants]
            conds = torch.from_numpy(np.stack([self._condition(x) for x, _ in normalised])).to(self.device)  # variants x cells x genes
            with torch.no_grad(), mixed_precision(cfg.precision, self.device):
                embedded = torch.stack([net.cond(cond) for cond in conds])

            def denoise(x_t: torch.Tensor, t: torch.Tensor, embedded: torch.Tensor = embedded) -> torch.Tensor:
                with mixed_precision(cfg.precision, self.device):  # x_t: draws x cells x genes, all at timestep t[0]
                    return net.denoise_embedded(x_t, t[:1], embedded).float()

            # the starting noise is drawn cells x draws x genes and laid out draws first for the network
            x_start = randn((part.stop - part.start, cfg.n_samples, counts.shape[1]), gen, self.device).transpose(0, 1).contiguous()
            draws = sample(denoise, sampler, x_start, generator=gen, known=conds, known_mask=mask)
            if factors is not None:
                on_own_scale = [rescale(draw.cpu().numpy(), draw_scale, scale[part]) for draw, (_, draw_scale) in zip(draws, normalised)]
                draws = torch.from_numpy(np.stack(on_own_scale)).to(self.device)
            total[part] = draws.sum(dim=0)
        return total

    def with_sampling(self, **settings: Any) -> "SpaLSTFModel":
        """The same trained model with other sampling settings (a shallow copy sharing the networks).

        Parameters
        ----------
        **settings
            Values for fields of ``SAMPLING_SETTINGS`` (``sampler``, ``n_samples``, ``sample_jitter``, ...);
            anything else needs retraining and is refused.
        """
        check_sampling_settings(settings)
        variant = copy.copy(self)
        variant.config = replace(self.config, **settings)
        return variant

    def impute(self, st_counts: np.ndarray, coords: np.ndarray | None = None, *, seed: int = 0, verbose: bool = True) -> np.ndarray:
        """Imputed target genes as log-normalised expression, ``log1p(1e4 * count / observed library)``.

        Same arguments as :meth:`sample_model_space` but ``target_counts`` (a model trained with
        ``scale_genes="all"`` cannot impute unmeasured genes); returns float32 cells x ``len(target)``.
        """
        x, scale = self.sample_model_space(st_counts, coords, seed=seed, verbose=verbose)
        return to_lognorm(x, scale).astype(np.float32)

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the trained model (plain types and tensors only)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "observed": self.observed,
            "target": self.target,
            "history": self.history,
            "held_out": None if self.held_out is None else self.held_out.tolist(),
            "augment_shifts": None if self.augment_shifts is None else list(self.augment_shifts),
            "versions": package_versions(),
            "state_dicts": [{k: v.detach().cpu() for k, v in net.state_dict().items()} for net in self.nets],
        }

    def save(self, path: str | Path) -> None:
        """Write the trained model to ``path`` (a torch file)."""
        if not self.trained:
            raise RuntimeError("Only a trained model can be saved: call `fit()` first.")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.state(), path)

    @classmethod
    def load(cls, path: str | Path, device: torch.device) -> "SpaLSTFModel":
        """Rebuild a model written by :meth:`save` on ``device``."""
        not_a_checkpoint = f"{path} is not a SpaLSTF checkpoint written by spatialdiffusion; delete it or pass another `checkpoint` path."
        try:
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            raise ValueError(not_a_checkpoint) from err
        if not isinstance(state, dict) or state.get("format") not in (CHECKPOINT_FORMAT, _SINGLE_MODEL_FORMAT):
            raise ValueError(not_a_checkpoint)
        model = cls(SpaLSTFConfig(**state["config"]), state["observed"], state["target"], device)
        state_dicts = state["state_dicts"] if state["format"] == CHECKPOINT_FORMAT else [state["state_dict"]]
        if len(state_dicts) != model.config.n_models:
            raise ValueError(f"{path} holds {len(state_dicts)} networks but its config says n_models={model.config.n_models}; "
                             "the file is damaged: retrain and save it again.")
        model.nets = [model._build_net() for _ in state_dicts]
        for net, weights in zip(model.nets, state_dicts):
            net.load_state_dict(weights)
        model.history = list(state["history"])
        held_out = state.get("held_out")
        model.held_out = None if held_out is None else np.asarray(held_out, dtype=np.int64)
        shifts = state.get("augment_shifts")  # None in checkpoints written before it was recorded
        model.augment_shifts = None if shifts is None else tuple(float(v) for v in shifts)
        model.trained = True
        return model
