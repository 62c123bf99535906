"""SpaLSTF: impute genes a spatial assay did not measure from a matched scRNA-seq reference.

Two layers:

- array level (numpy in, numpy out; what the R package calls): :func:`spalstf_arrays`,
  :func:`evaluate_spalstf_arrays`;
- AnnData level (scanpy conventions): :func:`spalstf`, :func:`evaluate_spalstf`.

The model trains on the reference, where every gene is measured: the genes shared with the spatial data
are the condition, the genes to impute are noised and denoised. It then samples the imputed genes for
every spatial cell with its measured genes as the condition (and put back at every step).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import torch

from .._utils import (PeakGPUMemory, check_flag, check_key, check_positive_int, check_precision, check_seed, inform, package_versions,
                      resolve_device, restores_global_rng, seed_everything)
from ..io import check_key_added, coordinates_of, counts_of
from ..checks import check_coords, check_gene_list, check_unique_genes
from ._config import SAMPLING_SETTINGS, SpaLSTFConfig, spalstf_config
from ._data import as_counts, check_shared, model_to_unit, plan_genes, shared_genes
from ._evaluate import cross_validate
from ._stages import SpaLSTFModel
from ._validation import (BLEND_NEIGHBOURS, MAX_BLEND_DISTANCE_RATIO, ReferenceNeighbours, check_reference_blend,
                          check_validation_fraction, reference_distance_ratio, split_reference, validate)


class _Inputs(NamedTuple):
    """SpaLSTF's inputs after :func:`_checked_inputs`: dense float32 counts, gene names and coordinates."""

    st: np.ndarray
    st_genes: list[str]
    ref: np.ndarray
    ref_genes: list[str]
    coords: np.ndarray | None


_ARRAY_LABELS = {"st_counts": "st_counts", "st_genes": "st_genes", "ref_counts": "ref_counts", "ref_genes": "ref_genes",
                 "st_coords": "st_coords"}


def _checked_inputs(
    st_counts: object, st_genes: Sequence[str], ref_counts: object, ref_genes: Sequence[str], st_coords: object,
    labels: dict[str, str] = _ARRAY_LABELS,
) -> _Inputs:
    """Check the inputs once, naming each as the caller knows it (``labels``, keyed by argument name).

    Raises
    ------
    TypeError, ValueError
        Naming the input that is malformed and what it should be.
    """
    st = as_counts(st_counts, labels["st_counts"])
    ref = as_counts(ref_counts, labels["ref_counts"])
    st_genes, ref_genes = check_gene_list(st_genes, labels["st_genes"]), check_gene_list(ref_genes, labels["ref_genes"])
    for which, genes in (("st_genes", st_genes), ("ref_genes", ref_genes)):
        check_unique_genes(genes, labels[which], ignore_case=True)  # genes are matched by name: a repeat is ambiguous
    for which, mat, genes in (("st", st, st_genes), ("ref", ref, ref_genes)):
        if mat.shape[1] != len(genes):
            raise ValueError(f"`{labels[which + '_genes']}` has {len(genes)} names but `{labels[which + '_counts']}` has "
                             f"{mat.shape[1]} columns (genes).")
    coords = None if st_coords is None else check_coords(st_coords, st.shape[0], labels["st_coords"])
    return _Inputs(st, st_genes, ref, ref_genes, coords)


def default_target_genes(ref_counts: np.ndarray, ref_genes: Sequence[str], st_genes: Sequence[str], n_top_genes: int = 2000) -> list[str]:
    """The reference's highly variable genes (scanpy ``seurat`` flavour) that the spatial data lacks.

    Raises
    ------
    ValueError
        If the spatial data measures every reference gene.
    """
    import anndata as ad
    import scanpy as sc

    st_upper = {str(g).upper() for g in st_genes}
    missing = np.array([str(g).upper() not in st_upper for g in ref_genes])
    if not missing.any():
        raise ValueError(
            "The spatial data measures every reference gene, so there is nothing to impute by default; "
            "pass `genes=` to impute measured genes anyway, or use `evaluate_spalstf()` for the cross-validation."
        )
    # scanpy kept: its seurat flavour's binning and ties pick the default genes; a rewrite could pick others
    adata = ad.AnnData(ref_counts[:, missing].astype(np.float32))
    adata.var_names = [str(g) for g, m in zip(ref_genes, missing) if m]
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=min(n_top_genes, adata.n_vars), flavor="seurat", subset=False)
    return list(adata.var_names[adata.var["highly_variable"].to_numpy()])


def _run_record(cfg: SpaLSTFConfig, device: torch.device, seed: int, **extra: Any) -> dict[str, Any]:
    return {"method": "SpaLSTF", "preset_config": cfg.to_dict(), "device": str(device), "seed": seed, **extra}


def _warn_training_settings_ignored(checkpoint: str, trained: SpaLSTFConfig, requested: SpaLSTFConfig) -> None:
    """Warn when this run asks for training settings other than those the loaded ``checkpoint`` was trained with."""
    was, asked = trained.to_dict(), requested.to_dict()
    differing = [name for name in was if name not in SAMPLING_SETTINGS and was[name] != asked[name]]
    if differing:
        shown = ", ".join(f"{name}={was[name]!r} (asked {asked[name]!r})" for name in differing[:5])
        more = f" and {len(differing) - 5} more" if len(differing) > 5 else ""
        warnings.warn(
            f"Checkpoint {checkpoint} was trained with other settings: {shown}{more}. The trained model is used as "
            "it is; only the sampling settings of this run apply. Delete the checkpoint to retrain with these settings.",
            UserWarning,
            stacklevel=4,
        )


def _check_checkpoint_path(checkpoint: object) -> str | None:
    """Refuse, before any training, a checkpoint path that can be neither read nor written."""
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"`checkpoint` must be a file path, got {type(checkpoint).__name__}.")
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(f"`checkpoint`={str(checkpoint)!r} is a folder; pass a file path such as {str(path / 'spalstf.pt')!r}.")
    if not path.exists():
        folder = next(p for p in path.absolute().parents if p.exists())  # the folder save() would create below
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ValueError(f"`checkpoint`={str(checkpoint)!r} cannot be written: {folder} is not a writable folder.")
    return str(checkpoint)


def _train_or_load(
    cfg: SpaLSTFConfig, observed: list[str], target: list[str], ref_model: np.ndarray, device: torch.device,
    seed: int, verbose: bool, checkpoint: str | None, held_out: np.ndarray | None, st_observed: np.ndarray,
) -> tuple[SpaLSTFModel, bool]:
    """Train a model on ``ref_model`` less its ``held_out`` cells, or load ``checkpoint`` when it exists.

    ``st_observed`` (the spatial cells' observed-gene counts) is read by training only, for ``augment=None``.
    """
    if checkpoint is not None and Path(checkpoint).exists():
        model = SpaLSTFModel.load(checkpoint, device)
        if model.observed != observed or model.target != target:
            raise ValueError(
                f"Checkpoint {checkpoint} was trained for other genes (observed {len(model.observed)}, target "
                f"{model.target[:5]}...); delete it or pass another `checkpoint` path to retrain."
            )
        _warn_training_settings_ignored(checkpoint, model.config, cfg.resolved(len(observed) + len(target)))
        if model.held_out is not None and model.held_out.max() >= len(ref_model):
            warnings.warn(f"Checkpoint {checkpoint} held out reference cells this reference does not have; the imputed "
                          "genes get no validation scores. Pass the reference it was trained on.", UserWarning, stacklevel=4)
            model.held_out = None
        return model.with_sampling(**{name: getattr(cfg, name) for name in SAMPLING_SETTINGS}), True
    model = SpaLSTFModel(cfg, observed, target, device).fit(ref_model, seed=seed, verbose=verbose, held_out=held_out,
                                                            spatial_counts=st_observed)
    if checkpoint is not None:
        model.save(checkpoint)
    return model, False


def spalstf_arrays(
    st_counts: np.ndarray,
    st_genes: Sequence[str],
    ref_counts: np.ndarray,
    ref_genes: Sequence[str],
    *,
    st_coords: np.ndarray | None = None,
    genes: Sequence[str] | None = None,
    preset: str = "auto",
    device: str = "auto",
    seed: int = 0,
    verbose: bool = True,
    checkpoint: str | None = None,
    n_top_genes: int = 2000,
    validation_fraction: float = 0.1,
    reference_blend: str = "auto",
    **overrides: Any,
) -> dict:
    """Impute reference genes for every spatial cell (array-level core of :func:`spalstf`).

    Parameters
    ----------
    st_counts, ref_counts
        Raw integer counts, cells x genes (dense or scipy sparse).
    st_genes, ref_genes
        Their gene names; matched case-insensitively.
    st_coords
        Spatial coordinates (cells x 2); they order the cells for the LSTM (``cell_order="spatial"``).
    genes
        Reference genes to impute. Default: the reference's ``n_top_genes`` highly variable genes that the
        spatial data lacks. A gene the spatial data measures is imputed as if unmeasured.
    preset
        ``"fast"`` (CPU), ``"paper"`` (published sizes; GPU) or ``"auto"`` (``paper`` on CUDA, else ``fast``).
    device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ...
    seed
        Seeds network initialisation, minibatches, training noise and sampling: an integer in ``[0, 2**31)``.
    verbose
        Progress bars.
    checkpoint
        Path of a trained model: loaded if it exists (no training), else written after training. A loaded
        model keeps the settings it was trained with (a warning names any this run asks to change) and
        samples with this run's sampling settings (``sampler``, ``sampler_steps``, ``ddim_eta``,
        ``x0_clamp``, ``n_samples``, ``sample_jitter``) and ``precision``.
    n_top_genes
        Size of the default gene list.
    validation_fraction
        Share of the reference cells (at most 2000) left out of training, on which every imputed gene is
        scored (``validation``): a number in ``[0, 0.5]``; 0 trains on every cell and scores nothing, as
        does a reference too small to give 30 held-out and 30 training cells (``params['validation_cells']``
        is then 0). The
        scores see the model's error on the reference's own platform, not the shift between the reference
        and the spatial assay.
    reference_blend
        ``"none"`` (the method): the model's imputation. ``"validated"``: per gene,
        ``w * model + (1 - w) * mean of the 50 nearest reference cells``, with ``w`` in ``{0, 0.1, ..., 1}``
        chosen on the held-out reference cells (reported as ``model_weight``). ``"auto"``: ``"validated"``
        when the held-out cells can stand for the spatial cells, i.e. when the spatial cells lie at most
        1.5 times as far from their nearest reference cells as the held-out reference cells do
        (``params['reference_distance_ratio']``; about 1 for data from the reference's own platform, far
        above for smFISH against scRNA-seq), else ``"none"``; ``params['blended']`` says which.
    **overrides
        Any :class:`~spatialdiffusion.spalstf.SpaLSTFConfig` field (``epochs``, ``sampler``, ...).

    Returns
    -------
    dict
        ``imputed`` (float32, spatial cells x genes, ``log1p(1e4 * count / observed-gene library)``; blended
        with the reference neighbours when ``params['blended']``),
        ``genes`` (reference spelling), ``validation`` (equal-length lists ``gene, validation_spcc,
        neighbour_validation_spcc, model_weight``: the Spearman correlation of the imputation with the
        measured values on the held-out reference cells, the same for the reference-neighbour average, and
        the model's blend weight; ``None`` without held-out cells), ``params`` (on CUDA with
        ``peak_gpu_memory_mib``, the most memory torch held for tensors during the run), ``timings``
        (seconds), ``versions``.
    """
    inputs = _checked_inputs(st_counts, st_genes, ref_counts, ref_genes, st_coords)
    return _impute(inputs, genes=genes, preset=preset, device=device, seed=seed, verbose=verbose, checkpoint=checkpoint,
                   n_top_genes=n_top_genes, validation_fraction=validation_fraction, reference_blend=reference_blend,
                   overrides=overrides)


@restores_global_rng
def _impute(
    inputs: _Inputs, *, genes: Sequence[str] | None, preset: str, device: str, seed: int, verbose: bool, checkpoint: str | None,
    n_top_genes: int, validation_fraction: float, reference_blend: str, overrides: dict[str, Any],
) -> dict:
    """The body of :func:`spalstf_arrays` and :func:`spalstf`, on inputs checked by :func:`_checked_inputs`."""
    start = time.perf_counter()
    st, st_genes, ref, ref_genes, coords = inputs
    dev = resolve_device(device)
    preset_name, cfg = spalstf_config(preset, dev, **overrides)
    check_precision(cfg.precision, dev)
    n_top_genes = check_positive_int(n_top_genes, "n_top_genes")
    checkpoint = _check_checkpoint_path(checkpoint)
    if cfg.scale_genes != "observed":
        raise ValueError(
            "`scale_genes` must be 'observed' when imputing: the target genes are not measured, so they cannot "
            "enter the cells' scale ('all' only reproduces the released k-fold evaluation, `evaluate_spalstf`)."
        )
    seed = check_seed(seed)
    verbose = check_flag(verbose, "verbose")
    validation_fraction = check_validation_fraction(validation_fraction)
    reference_blend = check_reference_blend(reference_blend, validation_fraction)
    seed_everything(seed)
    peak_gpu_memory = PeakGPUMemory(dev)
    target = check_gene_list(genes, "genes") if genes is not None else default_target_genes(ref, ref_genes, st_genes, n_top_genes)
    plan = plan_genes(st_genes, ref_genes, target, min_shared=cfg.min_shared_genes)
    ref_model = np.hstack([ref[:, plan.ref_observed], ref[:, plan.ref_target]])
    held_out = split_reference(len(ref_model), validation_fraction, seed)
    st_observed = st[:, plan.st_observed]
    model, loaded = _train_or_load(cfg, plan.observed, plan.target, ref_model, dev, seed, verbose, checkpoint, held_out,
                                   st_observed)
    imputed = model.impute(st_observed, coords, seed=seed, verbose=verbose)
    validation, distance_ratio, blended = None, None, False
    if model.held_out is not None:
        validation_start = time.perf_counter()
        held_counts = ref_model[model.held_out]
        neighbours = ReferenceNeighbours(np.delete(ref_model, model.held_out, axis=0), model.n_observed, BLEND_NEIGHBOURS)
        if reference_blend == "auto":
            distance_ratio = reference_distance_ratio(neighbours, st_observed, held_counts[:, :model.n_observed], seed)
        blended = reference_blend == "validated" or (distance_ratio is not None and distance_ratio <= MAX_BLEND_DISTANCE_RATIO)
        validation = validate(lambda obs: model.impute(obs, None, seed=seed, verbose=False), held_counts, neighbours,
                              plan.target, blend="validated" if blended else "none")
        if blended:
            if reference_blend == "auto":
                inform(f"SpaLSTF: the spatial cells lie as close to the reference as its held-out cells (distance ratio "
                       f"{distance_ratio:.2f}), so each gene is blended with the mean of its {BLEND_NEIGHBOURS} nearest "
                       "reference cells at the weight validated on them (`model_weight`); reference_blend='none' keeps "
                       "the model's output alone.", verbose=verbose)
            weight = validation.model_weight
            imputed = (weight * imputed + (1 - weight) * neighbours.average(st_observed)).astype(np.float32)
        validation_seconds = time.perf_counter() - validation_start
    timings = {**model.timer.seconds, **({"validation": validation_seconds} if validation else {}),
               "total": time.perf_counter() - start}
    params = _run_record(
        model.config, dev, seed, preset=preset_name, observed_genes=plan.observed, checkpoint=checkpoint,
        loaded_checkpoint=loaded, final_loss=model.final_loss,
        augment_shifts=None if model.augment_shifts is None else list(model.augment_shifts), validation_fraction=validation_fraction,
        validation_cells=0 if model.held_out is None else len(model.held_out),  # 0 also when the reference is too small
        reference_blend=reference_blend, blended=blended,
        reference_distance_ratio=None if distance_ratio is None else round(distance_ratio, 4), **peak_gpu_memory.record(),
    )
    return {"imputed": imputed, "genes": plan.target, "validation": validation.to_dict() if validation else None,
            "params": params, "timings": timings, "versions": package_versions()}


def evaluate_spalstf_arrays(
    st_counts: np.ndarray,
    st_genes: Sequence[str],
    ref_counts: np.ndarray,
    ref_genes: Sequence[str],
    *,
    st_coords: np.ndarray | None = None,
    n_folds: int = 5,
    preset: str = "auto",
    device: str = "auto",
    seed: int = 0,
    verbose: bool = True,
    **overrides: Any,
) -> dict:
    """The published k-fold evaluation over shared genes (array-level core of :func:`evaluate_spalstf`).

    Each fold trains a new model on the reference with the fold's genes held out and imputes them for the
    spatial cells.

    Parameters
    ----------
    st_counts, st_genes, ref_counts, ref_genes, st_coords
        As in :func:`spalstf_arrays`; the genes the two share are evaluated.
    n_folds
        Folds over the shared genes (``KFold(shuffle=True, random_state=seed)``): at least 2, at most the
        number of shared genes, and few enough that every fold leaves ``min_shared_genes`` to condition on.
    preset, device, seed, verbose, **overrides
        As in :func:`spalstf_arrays`.

    Returns
    -------
    dict
        ``per_gene`` (dict of equal-length lists: gene, fold, spcc, ssim, rmse, js), ``summary`` (medians of
        spcc, ssim, rmse, js over genes; ari, ami, nmi, homo of Leiden on the imputed vs. the true matrix),
        ``imputed`` (float32 spatial cells x shared genes, CV-imputed ``log1p(CP10k) / cell max``, both
        over the fold's observed genes, or over all shared genes with ``scale_genes="all"``),
        ``genes``, ``params``, ``timings``, ``versions``.
    """
    inputs = _checked_inputs(st_counts, st_genes, ref_counts, ref_genes, st_coords)
    return _evaluate(inputs, n_folds=n_folds, preset=preset, device=device, seed=seed, verbose=verbose, overrides=overrides)


@restores_global_rng
def _evaluate(inputs: _Inputs, *, n_folds: int, preset: str, device: str, seed: int, verbose: bool, overrides: dict[str, Any]) -> dict:
    """The body of :func:`evaluate_spalstf_arrays` and :func:`evaluate_spalstf`, on inputs checked by :func:`_checked_inputs`."""
    start = time.perf_counter()
    st, st_genes, ref, ref_genes, coords = inputs
    dev = resolve_device(device)
    preset_name, cfg = spalstf_config(preset, dev, **overrides)
    check_precision(cfg.precision, dev)
    seed = check_seed(seed)
    verbose = check_flag(verbose, "verbose")
    seed_everything(seed)
    peak_gpu_memory = PeakGPUMemory(dev)
    names, st_idx, ref_idx = shared_genes(st_genes, ref_genes)
    check_shared(len(names), cfg.min_shared_genes)
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2, maximum=len(names))
    left = len(names) - math.ceil(len(names) / n_folds)
    if left < cfg.min_shared_genes:
        raise ValueError(
            f"With `n_folds`={n_folds} a fold hides up to {len(names) - left} of the {len(names)} shared genes, leaving {left} "
            f"to condition on; at least `min_shared_genes`={cfg.min_shared_genes} are needed. Use more folds or lower `min_shared_genes`."
        )
    st_shared = st[:, st_idx]
    column = {name: j for j, name in enumerate(names)}
    configs: list[SpaLSTFConfig] = []
    shifts: list[list[float]] = []

    def impute(st_obs: np.ndarray, ref_model: np.ndarray, observed: list[str], target: list[str], fold: int) -> np.ndarray:
        model = SpaLSTFModel(cfg, observed, target, dev).fit(ref_model, seed=seed, verbose=verbose, spatial_counts=st_obs)
        configs.append(model.config)
        shifts.append(list(model.augment_shifts))
        held_out = st_shared[:, [column[g] for g in target]] if cfg.scale_genes == "all" else None
        x, _ = model.sample_model_space(st_obs, coords, seed=seed, verbose=verbose, target_counts=held_out)
        return model_to_unit(x)

    result = cross_validate(st_shared, ref[:, ref_idx], names, impute, n_folds=n_folds, seed=seed, verbose=verbose)
    per_gene = {k: v.tolist() for k, v in result["per_gene"].items()}
    timings = {**result["timings"], "total": time.perf_counter() - start}
    params = _run_record(configs[0], dev, seed, preset=preset_name, n_folds=n_folds, augment_shifts=shifts,
                         **peak_gpu_memory.record())
    return {
        "per_gene": per_gene, "summary": result["summary"], "imputed": result["imputed"], "genes": names,
        "params": params, "timings": timings, "versions": package_versions(),
    }


def _adata_inputs(adata_st: ad.AnnData, layer: str | None, adata_ref: ad.AnnData, ref_layer: str | None, spatial_key: str) -> _Inputs:
    """The inputs held by an AnnData pair, checked under the names the caller knows."""
    st, st_label = counts_of(adata_st, layer, "adata_st")
    ref, ref_label = counts_of(adata_ref, ref_layer, "adata_ref")
    coords, coords_label = coordinates_of(adata_st, spatial_key, "adata_st", required=False)
    labels = {"st_counts": st_label, "st_genes": "adata_st.var_names", "ref_counts": ref_label, "ref_genes": "adata_ref.var_names",
              "st_coords": coords_label}
    return _checked_inputs(st, list(adata_st.var_names), ref, list(adata_ref.var_names), coords, labels)


def _h5ad_safe(value: Any) -> Any:
    """Replace ``None`` (which h5ad cannot store) by the string ``"None"``, recursively."""
    if isinstance(value, dict):
        return {k: _h5ad_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_h5ad_safe(v) for v in value]
    return "None" if value is None else value


def spalstf(
    adata_st: ad.AnnData,
    adata_ref: ad.AnnData,
    genes: Sequence[str] | None = None,
    *,
    layer: str | None = None,
    ref_layer: str | None = None,
    spatial_key: str = "spatial",
    preset: str = "auto",
    device: str = "auto",
    seed: int = 0,
    key_added: str = "spalstf",
    copy: bool = False,
    checkpoint: str | None = None,
    n_top_genes: int = 2000,
    validation_fraction: float = 0.1,
    reference_blend: str = "auto",
    verbose: bool = True,
    **overrides: Any,
) -> ad.AnnData | None:
    """Impute reference genes for every cell of a spatial AnnData.

    Parameters
    ----------
    adata_st
        Spatial data: raw counts in ``X`` (or ``layer``), coordinates in ``obsm['spatial']`` or obs columns
        ``x_coord``/``y_coord`` (also ``x``/``y``, ``X``/``Y``, ``array_col``/``array_row``).
    adata_ref
        scRNA-seq reference: raw counts in ``X`` (or ``ref_layer``).
    genes
        Reference genes to impute (default: its highly variable genes that ``adata_st`` lacks).
    layer, ref_layer
        Layers holding the counts instead of ``X``.
    spatial_key
        ``obsm`` key of the coordinates (see :func:`~spatialdiffusion.io.spatial_coordinates`).
    preset, device, seed, checkpoint, n_top_genes, validation_fraction, reference_blend, verbose, **overrides
        See :func:`spalstf_arrays`.
    key_added
        Where results go: ``obsm[key_added]`` and ``uns[key_added]``. They replace only the results of an
        earlier SpaLSTF run under the same key; a key taken by other data, or equal to ``spatial_key``, is
        refused before any work.
    copy
        Return a modified copy instead of writing into ``adata_st``.

    Returns
    -------
    AnnData or None
        With ``copy=True`` the modified copy, else ``None``. Writes
        ``adata_st.obsm[key_added]``: DataFrame (cells x imputed genes) of ``log1p(1e4 * count / library of
        the observed genes)``; ``adata_st.uns[key_added]``: ``params``, ``timings``, ``versions``, ``genes``
        and, when reference cells were held out, ``validation``: a DataFrame indexed by imputed gene with
        ``validation_spcc`` (how well the model reproduces the gene on held-out reference cells; trust
        genes with low values less), ``neighbour_validation_spcc`` (the same for the mean of the 50 nearest
        reference cells) and ``model_weight``.
    """
    key_added = check_key(key_added, "key_added")
    inputs = _adata_inputs(adata_st, layer, adata_ref, ref_layer, spatial_key)
    if key_added == spatial_key:
        raise ValueError(f"`key_added` must differ from `spatial_key` ({spatial_key!r}): later runs would read the imputed "
                         "genes as coordinates.")
    check_key_added(adata_st, key_added, "SpaLSTF", {"obsm": [key_added]})
    copy = check_flag(copy, "copy")
    out = _impute(inputs, genes=genes, preset=preset, device=device, seed=seed, verbose=verbose, checkpoint=checkpoint,
                  n_top_genes=n_top_genes, validation_fraction=validation_fraction, reference_blend=reference_blend,
                  overrides=overrides)
    adata = adata_st.copy() if copy else adata_st
    adata.obsm[key_added] = pd.DataFrame(out["imputed"], index=adata.obs_names, columns=out["genes"])
    adata.uns[key_added] = _h5ad_safe({k: out[k] for k in ("genes", "params", "timings", "versions")})
    if out["validation"] is not None:
        adata.uns[key_added]["validation"] = pd.DataFrame(out["validation"]).set_index("gene").astype(np.float64)
    return adata if copy else None


def evaluate_spalstf(
    adata_st: ad.AnnData,
    adata_ref: ad.AnnData,
    n_folds: int = 5,
    *,
    layer: str | None = None,
    ref_layer: str | None = None,
    spatial_key: str = "spatial",
    preset: str = "auto",
    device: str = "auto",
    seed: int = 0,
    verbose: bool = True,
    **overrides: Any,
) -> tuple[pd.DataFrame, pd.Series]:
    """The published k-fold evaluation of SpaLSTF on a spatial/reference pair.

    Parameters
    ----------
    adata_st, adata_ref
        Spatial data and scRNA-seq reference, raw counts in ``X`` (or the layers below); the genes they
        share are evaluated.
    n_folds
        Folds over the shared genes (at least 2, at most the number of shared genes).
    layer, ref_layer
        Layers holding the counts instead of ``X``.
    spatial_key
        ``obsm`` key of the spatial coordinates (see :func:`~spatialdiffusion.io.spatial_coordinates`).
    preset, device, seed, verbose, **overrides
        See :func:`spalstf_arrays`.

    Returns
    -------
    per_gene
        One row per shared gene: ``gene, fold, spcc, ssim, rmse, js``.
    summary
        Medians of the gene metrics and the clustering scores ``ari, ami, nmi, homo``; the run record
        (params, timings, versions) is in ``summary.attrs``.
    """
    out = _evaluate(_adata_inputs(adata_st, layer, adata_ref, ref_layer, spatial_key), n_folds=n_folds, preset=preset,
                    device=device, seed=seed, verbose=verbose, overrides=overrides)
    summary = pd.Series(out["summary"], name="spalstf")
    summary.attrs.update({k: out[k] for k in ("params", "timings", "versions")})
    return pd.DataFrame(out["per_gene"]), summary
