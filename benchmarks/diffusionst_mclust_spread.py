"""How much of DiffusionST's seed-to-seed ARI spread is mclust's initialisation, and the expected ARI.

mclust starts EM from a model-based hierarchical clustering of a random subset of 2000 spots
(``mclust.options("subset")``), so on slices with more spots the result depends on R's seed even for a
fixed embedding. For each slice and pipeline seed this script computes the embedding once
(``diffusionst_arrays(..., cluster=False)``: the preset's principal components, 10 in ``fast``; ``--set n_pcs=20``
gives the 20 of the earlier ``fast``), then clusters it with mclust EEE +
50-NN refinement under ``--mclust-seeds`` R seeds. The mean over those seeds estimates the ARI the pipeline
gives for that embedding, free of the mclust draw. With ``--mclust-start subset all`` it also fits mclust once
from a hierarchical clustering of every spot (``mclust_start="all"``, which no R seed changes) on the same
embeddings.

Usage (from the repository root)::

    .venv/bin/python benchmarks/diffusionst_mclust_spread.py --variant fast --slices 151676 151673 \
        --seeds 0 1 2 --mclust-seeds 10 --threads 1 --out benchmarks/out/mclust_spread_fast.csv
    .venv/bin/python benchmarks/diffusionst_mclust_spread.py --variant no_diffusion --library-scale 3.456 \
        --slices 151673 --seeds 0 1 2 3 4 --mclust-seeds 5 --threads 1 --out benchmarks/out/mclust_spread_...csv

``--whole-library`` (``obs['sum_umi']``), ``--library-scale F`` and ``--stable-library`` change the library size each spot is
normalised by. The last two compute it here and pass it as ``library_size``. The engine's settings
``--set library_share=1/F`` and ``--set library_genes=stable`` compute the same estimate, but they divide by the share
rather than multiply by F, so the bits differ. The expected ARI of seed 1 of 151673 (GCN alone) is 0.627 here and
0.625 through the engine. The options stay so that the stored figures of RESULTS.md can be repeated exactly.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch

from spatialdiffusion.checks import check_counts
from spatialdiffusion.cli import parse_setting
from spatialdiffusion.diffusionst import stable_gene_library

from diffusionst_dlpfc import (ABLATIONS, DATA, graph_smoothing_embedding, scores_over_mclust_draws, unclustered_fast_run,
                               whole_transcriptome_library)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="fast", choices=[*(v for v in ABLATIONS if v != "paper"), "baseline"])
    parser.add_argument("--slices", nargs="+", default=["151676", "151673"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--mclust-seeds", type=int, default=10)
    parser.add_argument("--n-clusters", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mclust-start", nargs="+", choices=["subset", "all"], default=["subset"],
                        help="spots of mclust's initial hierarchical clustering, each run on the same embeddings: "
                             "a random 2000 under each of the --mclust-seeds R seeds (default), or all of them "
                             "(fitted once: the fit does not depend on the R seed)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="DiffusionST setting on top of the variant (e.g. gcn_epochs=10); repeatable")
    parser.add_argument("--whole-library", action="store_true",
                        help="normalise by each spot's whole-transcriptome UMI total (obs['sum_umi'])")
    parser.add_argument("--stable-library", action="store_true",
                        help="normalise by each spot's total over the file's stable genes (the engine's "
                             "spatialdiffusion.diffusionst.stable_gene_library) instead of its total over all of them")
    parser.add_argument("--library-scale", type=float, metavar="F",
                        help="multiply the library (over the file's genes, or over its stable genes) by F: an estimate "
                             "of the whole-transcriptome total when the file's genes carry 1/F of it")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if (args.set or args.whole_library or args.library_scale or args.stable_library) and args.variant == "baseline":
        parser.error("--set and the library options apply to DiffusionST variants, not to the training-free baseline")
    if args.whole_library and (args.library_scale or args.stable_library):
        parser.error("--whole-library takes the library from sum_umi; it combines with neither --stable-library nor --library-scale")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {**ABLATIONS.get(args.variant, {}), **dict(parse_setting(item) for item in args.set)}
    library_total = "stable_gene_total" if args.stable_library else "file_total"
    library_label = (["library_size=sum_umi"] if args.whole_library
                     else [f"library_size={args.library_scale or 1:g}*{library_total}"]
                     if args.library_scale or args.stable_library else [])
    settings_label = " ".join(args.set + library_label)
    rows = []
    for slice_id in args.slices:
        adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
        truth, coords = adata.obs["layer_guess_reordered"], np.asarray(adata.obsm["spatial"], dtype=float)
        if args.whole_library:
            library = whole_transcriptome_library(slice_id, adata.obs_names)
        elif args.library_scale or args.stable_library:
            total = stable_gene_library(check_counts(adata.X)) if args.stable_library else np.asarray(adata.X.sum(axis=1), dtype=float).ravel()
            library = (args.library_scale or 1.0) * total
        else:
            library = None
        for seed in args.seeds:
            if args.variant == "baseline":
                torch.set_num_threads(args.threads)
                embedding = graph_smoothing_embedding(adata, seed)
            else:
                embedding = unclustered_fast_run(adata, seed, args.n_clusters, args.threads, library_size=library,
                                                 **settings)["embedding"]
            for start in args.mclust_start:
                draws = scores_over_mclust_draws(embedding, truth, coords, args.n_clusters,
                                                 range(args.mclust_seeds) if start == "subset" else [0], mclust_start=start)
                rows += [{"slice": slice_id, "variant": args.variant, "settings": settings_label, "mclust_start": start,
                          "seed": seed, "mclust_seed": draw["mclust_seed"], "ari": draw["ari"]} for draw in draws]
                last = pd.DataFrame(draws)
                print(f"{slice_id} seed {seed}, mclust start {start}: ARI over mclust seeds mean {last.ari.mean():.3f} "
                      f"min {last.ari.min():.3f} max {last.ari.max():.3f}", flush=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    per_seed = table.groupby(["mclust_start", "slice", "seed"]).ari.mean()
    by_slice = per_seed.groupby(["mclust_start", "slice"])
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    print("expected ARI (mean over mclust seeds) per pipeline seed:\n" + per_seed.round(3).to_string())
    print("mean and SD over pipeline seeds:\n" + by_slice.agg(["mean", "std"]).round(3).to_string())
    print("SD over mclust seeds within a pipeline seed (mean):\n"
          + table.groupby(["mclust_start", "slice", "seed"]).ari.std().groupby(["mclust_start", "slice"]).mean().round(3).to_string())


if __name__ == "__main__":
    main()
