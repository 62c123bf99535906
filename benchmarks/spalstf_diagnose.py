"""Why does SpaLSTF lose to a reference-kNN average on a task? Measurements on one trained model per setting.

For each setting (``--set`` groups, one per ``--variant``) the script trains one model on the task's reference
(``n_models=1`` unless the variant says otherwise) and, from that one trained model, samples:

- ``n_samples`` draws averaged (the setting's own estimate) -> median SPCC;
- two single draws with different seeds -> per gene, the share of the imputed variance across cells that is
  draw-to-draw noise, ``mean((a - b)^2) / 2 / var(a)``, and the single draw's SPCC;
- ``--many`` draws averaged -> median SPCC as the draws' noise averages away.

It also scores the kNN baseline in two spaces: SpaLSTF's model space (per-cell scaling by the panel's library
and maximum) and plain ``log1p`` of counts per 10k over the panel genes, to see whether the per-cell maximum
throws away what a kNN uses.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_diagnose.py --task visium --variant base= --variant nojitter=capture_jitter=0 \
        --out benchmarks/out/real_use/diagnose_visium.csv
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.neighbors import NearestNeighbors

from spatialdiffusion.cli import parse_setting
from spatialdiffusion.metrics import gene_scores
from spatialdiffusion.spalstf import spalstf

from spalstf_real_use import KNN_NEIGHBOURS, TASKS, Task, _counts, knn_baseline, load_task


def median_spcc(task: Task, imputed: np.ndarray) -> float:
    return float(np.nanmedian(gene_scores(task.truth, imputed, task.targets)["spcc"]))


def lognorm_knn(task: Task, k: int = KNN_NEIGHBOURS) -> np.ndarray:
    """kNN over ``log1p(1e4 * count / panel library)`` of the panel genes (no per-cell maximum), same output scale."""
    panel = list(task.panel.var_names)

    def logn(counts: np.ndarray) -> np.ndarray:
        lib = counts.sum(axis=1, keepdims=True)
        return np.log1p(1e4 * counts / np.maximum(lib, 1))

    st, ref_panel, ref_target = _counts(task.panel, panel), _counts(task.reference, panel), _counts(task.reference, task.targets)
    _, idx = NearestNeighbors(n_neighbors=k).fit(logn(ref_panel)).kneighbors(logn(st))
    ref_lib = np.maximum(ref_panel.sum(axis=1, keepdims=True), 1)
    return np.log1p(1e4 * ref_target / ref_lib)[idx].mean(axis=1)


def impute(task: Task, checkpoint: str, seed: int, settings: dict) -> np.ndarray:
    out = spalstf(task.panel, task.reference, genes=task.targets, copy=True, preset="fast", seed=seed, device="cpu",
                  verbose=False, checkpoint=checkpoint, **settings)
    return out.obsm["spalstf"][task.targets].to_numpy()


def diagnose(task: Task, name: str, settings: dict, many: int) -> dict[str, object]:
    settings = {"n_models": 1, **settings}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = str(Path(tmp) / "model.pt")
        start = time.perf_counter()
        own = impute(task, ckpt, 0, settings)
        trained_s = time.perf_counter() - start
        sampling = {k: v for k, v in settings.items() if k != "n_samples"}
        a = impute(task, ckpt, 1, {**sampling, "n_samples": 1})
        b = impute(task, ckpt, 2, {**sampling, "n_samples": 1})
        averaged = impute(task, ckpt, 3, {**sampling, "n_samples": many})
    noise = ((a - b) ** 2).mean(axis=0) / 2
    spread = a.var(axis=0)
    noise_share = np.where(spread > 0, noise / np.maximum(spread, 1e-12), np.nan)
    return {
        "task": task.name, "variant": name, "settings": " ".join(f"{k}={v}" for k, v in settings.items()),
        "spcc_own": round(median_spcc(task, own), 4), "spcc_single_draw": round(median_spcc(task, a), 4),
        f"spcc_{many}_draws": round(median_spcc(task, averaged), 4),
        "noise_share_median": round(float(np.nanmedian(noise_share)), 3), "train_and_sample_s": round(trained_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[,KEY=VALUE]",
                        help="a named group of settings (empty after the first '=' for the preset as it is)")
    parser.add_argument("--many", type=int, default=32, help="draws averaged for the noise-free estimate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = load_task(args.task)
    rows = [
        {"task": task.name, "variant": "kNN model space", "spcc_own": round(median_spcc(task, knn_baseline(task)), 4)},
        {"task": task.name, "variant": "kNN log1p CP10k", "spcc_own": round(median_spcc(task, lognorm_knn(task)), 4)},
    ]
    print(rows, flush=True)
    for item in args.variant or ["base="]:
        name, _, spec = item.partition("=")
        settings = dict(parse_setting(s) for s in spec.split(",") if s)
        rows.append(diagnose(task, name, settings, args.many))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
