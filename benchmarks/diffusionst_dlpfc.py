"""DiffusionST on DLPFC 151673 / 151676 (K = 7): ARI per seed, wall time per stage, and the baseline.

Usage (from the repository root, with the project's .venv)::

    .venv/bin/python benchmarks/diffusionst_dlpfc.py --slices 151673 151676 --seeds 0 1 2 \
        --variant fast --threads 2 --out benchmarks/out/diffusionst_fast.csv

``--variant`` picks what runs:

- ``fast`` / ``paper``: the presets;
- ``no_diffusion``, ``no_refinement``, ``zinb_counts``, ``zinb_heads_reconstruction``: the ``fast`` preset with
  one change (ablations); ``no_diffusion_*``: GCN-stage ablations (ZINB on counts, heads on the
  reconstruction, xavier instead of PCA initialisation) with the diffusion stage off, to compare with
  ``no_diffusion`` at a fraction of the cost;
- ``baseline``: the training-free baseline of issue #2 (two hops of the normalised 4-NN graph over the
  scaled HVG matrix, PCA 20, mclust EEE, 50-NN refinement), computed with this package's own pieces;
- ``published``: the DiffusionST authors' released labels (../shared/data/reference), scored the same way.

``--whole-library`` normalises each spot by its whole-transcriptome UMI total (``obs['sum_umi']`` of the shared files)
instead of its total over the 5000 genes of the file. ``--set KEY=VALUE`` (repeatable) changes one DiffusionST setting on top of the variant,
e.g. ``--set library_genes=stable --set library_share=0.2894``.

Scoring: ARI against ``layer_guess_reordered`` with "NA" spots excluded. One CSV row per slice and seed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch

from spatialdiffusion._utils import seed_everything
from spatialdiffusion.checks import check_counts
from spatialdiffusion.cli import parse_setting
from spatialdiffusion.cluster import cluster_embedding, mclust_fit, refine_labels
from spatialdiffusion.diffusionst import diffusionst_arrays, normalize_log_scale, select_hvg
from spatialdiffusion.diffusionst._stages import embed
from spatialdiffusion.graph import propagation_matrix, spatial_adjacency
from spatialdiffusion.metrics import clustering_scores

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ABLATIONS = {
    "fast": {},
    "paper": {},
    "no_diffusion": {"diffusion": "none"},
    "no_refinement": {"refine_neighbors": 0},
    "zinb_counts": {"zinb_target": "counts"},
    "zinb_heads_reconstruction": {"zinb_heads_from": "reconstruction"},
    # GCN-stage ablations measured without the (costly) diffusion stage, against "no_diffusion"
    "no_diffusion_zinb_counts": {"diffusion": "none", "zinb_target": "counts"},
    "no_diffusion_heads_reconstruction": {"diffusion": "none", "zinb_heads_from": "reconstruction"},
    "no_diffusion_xavier_init": {"diffusion": "none", "gcn_init": "xavier"},
}


def whole_transcriptome_library(slice_id: str, barcodes: pd.Index) -> np.ndarray:
    """Each spot's UMI total over the whole transcriptome (``obs['sum_umi']`` of the slice's file), in ``barcodes`` order."""
    obs = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad", backed="r").obs
    if "sum_umi" not in obs:
        raise SystemExit(f"--whole-library: {slice_id}.h5ad has no obs['sum_umi'].")
    library = obs["sum_umi"].reindex(barcodes)
    if library.isna().any():
        raise SystemExit(f"--whole-library: {int(library.isna().sum())} spots of {slice_id} have no sum_umi.")
    return library.to_numpy(dtype=float)


def graph_smoothing_embedding(adata: ad.AnnData, seed: int) -> np.ndarray:
    """The training-free baseline's embedding: PCA 20 of A_hat^2 X (scaled 4096 HVGs, normalised 4-NN graph)."""
    seed_everything(seed)
    counts = check_counts(adata.X)
    features = normalize_log_scale(counts, select_hvg(counts, 4096))
    prop = propagation_matrix(spatial_adjacency(np.asarray(adata.obsm["spatial"], float), 4))
    return embed(prop @ (prop @ features), 20, seed)


def graph_smoothing_baseline(adata: ad.AnnData, n_clusters: int, seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """Training-free baseline: A_hat^2 X (scaled HVGs), PCA 20, mclust EEE, 50-NN refinement."""
    start = time.perf_counter()
    emb = graph_smoothing_embedding(adata, seed)
    labels, _ = cluster_embedding(emb, n_clusters, method="mclust", seed=seed)
    refined = refine_labels(labels, adata.obsm["spatial"], 50)
    return refined, {"total": time.perf_counter() - start}


def unclustered_fast_run(adata: ad.AnnData, seed: int, n_clusters: int, threads: int, **settings: object) -> dict:
    """``fast`` DiffusionST on one slice up to its embedding (``cluster=False``), on ``threads`` torch threads.

    ``settings`` go to :func:`~spatialdiffusion.diffusionst_arrays` (preset overrides and
    ``library_size``); the result is its dict (``embedding``, ``enhanced``, ...).
    """
    torch.set_num_threads(threads)  # re-applied per run: R's OpenMP (mclust via rpy2) can reset it
    return diffusionst_arrays(adata.X, np.asarray(adata.obsm["spatial"], dtype=float), n_clusters=n_clusters,
                              preset="fast", seed=seed, cluster=False, verbose=False, **settings)


def probe_parser(description: str, mclust_seeds: int) -> argparse.ArgumentParser:
    """Command-line options shared by the mclust probes: variant, slices, seeds, R seeds, K, threads, settings, output."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="no_diffusion", choices=[v for v in ABLATIONS if v != "paper"])
    parser.add_argument("--slices", nargs="+", default=["151676", "151673"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--mclust-seeds", type=int, default=mclust_seeds)
    parser.add_argument("--n-clusters", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="DiffusionST setting on top of the variant (e.g. n_pcs=20); repeatable")
    parser.add_argument("--out", type=Path, required=True)
    return parser


def seed_embeddings(slices: Iterable[str], seeds: Iterable[int], n_clusters: int, threads: int,
                    **settings: object) -> Iterator[tuple[str, int, np.ndarray, pd.Series, np.ndarray]]:
    """For each DLPFC slice and pipeline seed: ``(slice_id, seed, embedding, truth, coords)`` of :func:`unclustered_fast_run`."""
    seeds = list(seeds)
    for slice_id in slices:
        adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
        truth, coords = adata.obs["layer_guess_reordered"], np.asarray(adata.obsm["spatial"], dtype=float)
        for seed in seeds:
            yield slice_id, seed, unclustered_fast_run(adata, seed, n_clusters, threads, **settings)["embedding"], truth, coords


def scores_over_mclust_draws(embedding: np.ndarray, truth: pd.Series, coords: np.ndarray, n_clusters: int,
                             mclust_seeds: Iterable[int], refine: Iterable[int] = (50,),
                             mclust_start: str = "subset") -> list[dict]:
    """ARI of one embedding clustered by mclust EEE under each R seed, then refined with each neighbourhood.

    Returns one ``{"mclust_seed", "loglik", "refine", "ari"}`` row per (R seed, neighbourhood), ``loglik`` being
    the mclust fit's log-likelihood; the mean ARI over R seeds estimates the ARI the pipeline gives for that
    embedding, free of mclust's random initialisation subset.
    """
    rows = []
    for mclust_seed in mclust_seeds:
        labels, loglik = mclust_fit(embedding, n_clusters, seed=mclust_seed, start=mclust_start)
        rows += [{"mclust_seed": mclust_seed, "loglik": loglik, "refine": neighbours,
                  "ari": clustering_scores(truth, refine_labels(labels, coords, neighbours))["ari"]} for neighbours in refine]
    return rows


def run(slice_id: str, seed: int, variant: str, n_clusters: int, threads: int, whole_library: bool = False,
        settings: dict | None = None) -> dict:
    settings = settings or {}
    torch.set_num_threads(threads)  # re-applied per run: R's OpenMP (mclust via rpy2) can reset it
    adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
    truth = adata.obs["layer_guess_reordered"]
    load = os.getloadavg()[0]
    row = {"slice": slice_id, "seed": seed, "variant": variant, "threads": torch.get_num_threads(),
           "library_size": "sum_umi" if whole_library else "file genes",
           "settings": " ".join(f"{key}={value}" for key, value in settings.items())}
    if variant == "baseline":
        labels, timings = graph_smoothing_baseline(adata, n_clusters, seed)
    elif variant == "published":
        ref = pd.read_csv(DATA / "reference" / f"diffusionst_published_{slice_id}.csv", index_col=0)
        labels = ref["domain"].reindex(adata.obs_names).to_numpy()
        timings = {}
    else:
        preset = "paper" if variant == "paper" else "fast"
        library = whole_transcriptome_library(slice_id, adata.obs_names) if whole_library else None
        result = diffusionst_arrays(adata.X, adata.obsm["spatial"], n_clusters=n_clusters, preset=preset, seed=seed,
                                    verbose=False, cluster_method="mclust", library_size=library,
                                    **{**ABLATIONS[variant], **settings})
        labels, timings = result["domains"], result["timings"]
        row["ari_unrefined"] = clustering_scores(truth, result["domains_unrefined"])["ari"]
    scores = clustering_scores(truth, labels)
    row.update(ari=scores["ari"], nmi=scores["nmi"], n_scored=scores["n_scored"])
    row.update({f"time_{k}": v for k, v in timings.items()})
    row["load_avg_1min"] = round((load + os.getloadavg()[0]) / 2, 1)  # how busy the machine was
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", nargs="+", default=["151673", "151676"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variant", default="fast", choices=[*ABLATIONS, "baseline", "published"])
    parser.add_argument("--n-clusters", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (use 1 on an oversubscribed machine)")
    parser.add_argument("--whole-library", action="store_true",
                        help="normalise by each spot's whole-transcriptome UMI total (obs['sum_umi'])")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="DiffusionST setting on top of the variant (e.g. library_share=0.2894); repeatable")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if (args.whole_library or args.set) and args.variant in ("baseline", "published"):
        parser.error("--whole-library and --set apply to DiffusionST variants")
    settings = dict(parse_setting(item) for item in args.set)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    seeds = [0] if args.variant == "published" else args.seeds
    for slice_id in args.slices:
        for seed in seeds:
            rows.append(run(slice_id, seed, args.variant, args.n_clusters, args.threads, args.whole_library, settings))
            print(pd.DataFrame([rows[-1]]).round(3).to_string(index=False), flush=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
    print(f"\nmachine: {platform.node()} | {cpu} | {os.cpu_count()} cores | torch threads {args.threads}")
    print(table.groupby("slice")[["ari"]].agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
