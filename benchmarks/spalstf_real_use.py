"""SpaLSTF's real use: impute genes a spatial assay did not measure, on three platforms, against a kNN baseline.

Each task hides genes the spatial data really measured, imputes them with the public ``spalstf()`` from a
reference that holds them, and scores the imputation against the measured values (median over genes of
SPCC, SSIM, RMSE and JS). Both sides are on the scale ``spalstf()`` reports,
``log1p(1e4 * count / library of the panel genes)``. The baseline, computed by this script on the same genes
and scale, is the mean of the 50 reference cells nearest in panel space (SpaLSTF's model space of the panel
genes, Euclidean).

Tasks:

- ``osmfish``: the 3405 osmFISH cells keep 23 of their 33 genes; the Allen SMART-seq cells (5613) are the
  reference; the 10 genes of ``OSMFISH_HELD_OUT`` are imputed.
- ``visium``: DLPFC slice 151676 keeps its 200 most variable genes (seurat_v3 on the genes both slices hold) as
  the panel; slice 151673 of the same donor is the reference (spots as pseudo-cells); the 100 most variable
  reference genes outside the panel are imputed.
- ``starmap``: STARmap mouse mPFC section BZ9 keeps 100 of its 166 genes (drawn at random with a fixed
  generator, seed 0, independent of the model seed); section BZ5 is the reference; the other 66 are imputed.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_real_use.py --task visium --seeds 0 1 2 --threads 2 \
        --out benchmarks/out/real_use_visium.csv

One row per method and seed: median scores, wall time, the process's peak resident memory so far and the
1-minute load average (figures taken beside other jobs are upper bounds); for SpaLSTF also the median
held-out validation scores of the model and of the neighbour average, the mean blend weight, whether the
neighbour blend was applied and the spatial cells' distance ratio to the reference. ``--blends`` lists the
``reference_blend`` values to score (default ``auto``, the default of ``spalstf()``); the second and later
ones reuse the first one's trained model (their time is sampling only).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import torch

from spatialdiffusion.cli import parse_setting
from spatialdiffusion.metrics import gene_scores
from spatialdiffusion.spalstf import spalstf
from spatialdiffusion.spalstf._data import as_counts, normalize, to_lognorm
from spatialdiffusion.spalstf._validation import REFERENCE_BLENDS, ReferenceNeighbours

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
OSMFISH_HELD_OUT = ["Gad2", "Vip", "Rorb", "Syt6", "Gfap", "Plp1", "Mfge8", "Pdgfra", "Flt1", "Tbr1"]
TASKS = ("osmfish", "visium", "starmap")
KNN_NEIGHBOURS = 50


@dataclass
class Task:
    """One imputation task: the panel (spatial cells, panel genes only), the reference, the genes to impute
    and their measured values on the scale ``spalstf()`` reports."""

    name: str
    panel: ad.AnnData
    reference: ad.AnnData
    targets: list[str]
    truth: np.ndarray


def _counts(adata: ad.AnnData, genes: list[str]) -> np.ndarray:
    return as_counts(adata[:, genes].X, adata.uns.get("name", "data"))


def _seurat_v3_top(adata: ad.AnnData, genes: list[str], n_top: int) -> list[str]:
    """The ``n_top`` most variable of ``genes`` in ``adata``'s raw counts (scanpy's seurat_v3), in ``genes`` order."""
    sub = ad.AnnData(as_counts(adata[:, genes].X, "counts"))
    sub.var_names = genes
    sc.pp.highly_variable_genes(sub, n_top_genes=n_top, flavor="seurat_v3")
    return [g for g, keep in zip(genes, sub.var["highly_variable"]) if keep]


def _make_task(name: str, spatial: ad.AnnData, reference: ad.AnnData, panel_genes: list[str], targets: list[str]) -> Task:
    """Hide ``targets`` from ``spatial`` and put their measured values on the panel-library log scale."""
    measured = np.hstack([_counts(spatial, panel_genes), _counts(spatial, targets)])
    x, scale = normalize(measured, len(panel_genes))
    truth = to_lognorm(x, scale)[:, len(panel_genes):]
    panel = spatial[:, panel_genes].copy()
    return Task(name, panel, reference, targets, truth)


def osmfish_task() -> Task:
    """osmFISH cells with 10 of their 33 genes hidden; the Allen SMART-seq reference."""
    st = ad.read_h5ad(DATA / "osmfish" / "st_osmfish_33genes.h5ad")
    ref = ad.read_h5ad(DATA / "osmfish" / "sc_allen_33genes.h5ad")
    panel = [g for g in st.var_names if g not in OSMFISH_HELD_OUT]
    return _make_task("osmfish", st, ref, panel, OSMFISH_HELD_OUT)


def visium_task() -> Task:
    """DLPFC 151676's 200 most variable genes as the panel; 151673 as the reference; 100 reference HVGs imputed."""
    st = ad.read_h5ad(DATA / "dlpfc" / "151676.h5ad")
    ref = ad.read_h5ad(DATA / "dlpfc" / "151673.h5ad")
    shared = [g for g in st.var_names if g in set(ref.var_names)]
    panel = _seurat_v3_top(st, shared, 200)
    rest = [g for g in shared if g not in set(panel)]
    targets = _seurat_v3_top(ref, rest, 100)
    return _make_task("visium", st, ref[:, shared].copy(), panel, targets)


def starmap_task() -> Task:
    """STARmap BZ9 with 66 of its 166 genes hidden (a fixed random draw); BZ5 as the reference."""
    st = ad.read_h5ad(DATA / "starmap_mpfc" / "BZ9.h5ad")
    ref = ad.read_h5ad(DATA / "starmap_mpfc" / "BZ5.h5ad")
    genes = sorted(g for g in st.var_names if g in set(ref.var_names))
    drawn = np.random.default_rng(0).permutation(len(genes))
    panel = [genes[i] for i in sorted(drawn[:100])]
    targets = [genes[i] for i in sorted(drawn[100:])]
    return _make_task("starmap", st, ref, panel, targets)


def load_task(name: str) -> Task:
    """The task called ``name`` (one of :data:`TASKS`)."""
    return {"osmfish": osmfish_task, "visium": visium_task, "starmap": starmap_task}[name]()


def knn_baseline(task: Task, k: int = KNN_NEIGHBOURS) -> np.ndarray:
    """Mean of the ``k`` reference cells nearest in panel space, on the task's scale."""
    panel_genes = list(task.panel.var_names)
    st_obs = _counts(task.panel, panel_genes)
    ref_model = np.hstack([_counts(task.reference, panel_genes), _counts(task.reference, task.targets)])
    return ReferenceNeighbours(ref_model, len(panel_genes), k).average(st_obs)


def score_row(task: Task, method: str, seed: object, imputed: np.ndarray, wall_s: float) -> dict[str, object]:
    """Median per-gene scores of one imputation of the task's hidden genes, with time and memory."""
    medians = gene_scores(task.truth, imputed, task.targets)[["spcc", "ssim", "rmse", "js"]].median()
    return {"task": task.name, "method": method, "seed": seed, **medians.round(4).to_dict(), "wall_s": round(wall_s, 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="SpaLSTF setting override")
    parser.add_argument("--label", default=None, help="method label in the table (default: the preset and settings)")
    parser.add_argument("--blends", nargs="+", choices=REFERENCE_BLENDS, default=["auto"],
                        help="reference_blend values to score; later ones reuse the first one's trained model")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = load_task(args.task)
    overrides = dict(parse_setting(item) for item in args.set)
    label = args.label or " ".join([f"SpaLSTF {args.preset}", *args.set])
    start = time.perf_counter()
    rows = [score_row(task, f"kNN (k = {KNN_NEIGHBOURS})", "-", knn_baseline(task), time.perf_counter() - start)]
    print(rows[-1], flush=True)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = str(Path(tmp) / "spalstf.pt")
            for blend in args.blends:
                start = time.perf_counter()
                result = spalstf(task.panel, task.reference, genes=task.targets, copy=True, preset=args.preset, seed=seed,
                                 device="cpu", verbose=False, checkpoint=checkpoint, reference_blend=blend, **overrides)
                imputed = result.obsm["spalstf"][task.targets].to_numpy()
                validation, params = result.uns["spalstf"]["validation"], result.uns["spalstf"]["params"]
                rows.append({**score_row(task, f"{label} reference_blend={blend}", seed, imputed, time.perf_counter() - start),
                             "validation_spcc": round(float(validation["validation_spcc"].median()), 4),
                             "neighbour_validation_spcc": round(float(validation["neighbour_validation_spcc"].median()), 4),
                             "mean_model_weight": round(float(validation["model_weight"].mean()), 3),
                             "blended": bool(params["blended"]), "reference_distance_ratio": params["reference_distance_ratio"]})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
