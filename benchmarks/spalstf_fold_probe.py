"""Quick single-fold probe: median SPCC of one held-out fold after increasing numbers of epochs.

Usage::

    .venv/bin/python benchmarks/spalstf_fold_probe.py --epochs 5 10 20 --set hidden=128 --threads 1
    .venv/bin/python benchmarks/spalstf_fold_probe.py --epochs 20 --sample n_samples=1 --sample n_samples=4,sampler_steps=20
    .venv/bin/python benchmarks/spalstf_fold_probe.py --epochs 30 --model-seeds 0 1 2

Trains one SpaLSTF model on the osmFISH reference with the first KFold(5, shuffle, rs=0) fold of genes
held out, sampling after each requested epoch count; for tuning the ``fast`` preset cheaply. Each
``--sample`` (comma-separated sampler settings) draws once more from the same trained model, so sampler
settings are compared without retraining. Each model is one denoiser (``n_models=1`` unless ``--set``
overrides it), as in every probe recorded in RESULTS.md. With several ``--model-seeds`` one model is trained per seed and
the probe also scores the mean of their imputations (a seed ensemble).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import anndata as ad
import numpy as np
import torch
from sklearn.model_selection import KFold

from spatialdiffusion.cli import parse_setting
from spatialdiffusion.io import spatial_coordinates
from spatialdiffusion.metrics import gene_scores
from spatialdiffusion.spalstf import spalstf_config
from spatialdiffusion.spalstf._data import model_to_unit, reference_lognorm_maxabs
from spatialdiffusion.spalstf._stages import SpaLSTFModel

DATA = Path(os.environ.get("SPATIALDIFFUSION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def _settings(items: list[str]) -> dict[str, object]:
    return dict(parse_setting(item) for item in items if item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--model-seeds", type=int, nargs="+", default=[0], help="train one model per seed")
    parser.add_argument("--sample", action="append", default=None, metavar="KEY=VALUE[,KEY=VALUE]",
                        help="sampler settings to draw with from each trained model (default: the preset's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    st = ad.read_h5ad(DATA / "osmfish" / "st_osmfish_33genes.h5ad")
    ref = ad.read_h5ad(DATA / "osmfish" / "sc_allen_33genes.h5ad")
    genes = list(st.var_names)
    train_idx, test_idx = list(KFold(5, shuffle=True, random_state=0).split(genes))[args.fold]
    overrides = _settings(args.set)
    sample_specs = [_settings(spec.split(",")) for spec in (args.sample or [""])]
    truth = reference_lognorm_maxabs(np.asarray(st.X, dtype=np.float32))
    ref_model = np.hstack([ref.X[:, train_idx], ref.X[:, test_idx]])
    start = time.perf_counter()
    coords = spatial_coordinates(st, required=False)

    def report(total: int, spec: dict, model_seed: object, imputed: np.ndarray, model: SpaLSTFModel | None) -> None:
        """One JSON line; ``model`` (None for an ensemble) adds its final loss and stage times."""
        scores = gene_scores(truth[:, test_idx], imputed)
        line = {"epochs": total, "sample": spec, "model_seed": model_seed, "spcc": round(float(scores.spcc.median()), 4),
                "ssim": round(float(scores.ssim.median()), 4), "s": round(time.perf_counter() - start, 1)}
        if model is not None:
            line.update(loss=round(model.final_loss, 4), timer={k: round(v, 1) for k, v in model.timer.seconds.items()})
        print(json.dumps(line), flush=True)

    for total in args.epochs:
        cfg = spalstf_config("fast", epochs=total, **{"n_models": 1, **overrides})[1]  # one denoiser per model seed
        draws: dict[int, list[np.ndarray]] = {i: [] for i in range(len(sample_specs))}
        for model_seed in args.model_seeds:
            model = SpaLSTFModel(cfg, [genes[i] for i in train_idx], [genes[i] for i in test_idx], torch.device("cpu"))
            model.fit(ref_model, seed=model_seed, verbose=False, spatial_counts=st.X[:, train_idx])
            trained = model.config
            for i, spec in enumerate(sample_specs):
                model.config = replace(trained, **spec)
                model.timer.seconds.pop("sample", None)
                x, _ = model.sample_model_space(st.X[:, train_idx], coords, seed=model_seed, verbose=False)
                draws[i].append(model_to_unit(x))
                report(total, spec, model_seed, draws[i][-1], model)
        if len(args.model_seeds) > 1:
            for i, spec in enumerate(sample_specs):
                report(total, spec, f"mean of {args.model_seeds}", np.mean(draws[i], axis=0), None)


if __name__ == "__main__":
    main()
