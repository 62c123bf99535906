"""Does combining several mclust draws of one DiffusionST embedding give better domains than one draw?

mclust's result depends on R's seed through the random 2000-spot subset of its hierarchical
initialisation (see ``diffusionst_mclust_spread.py``). This script clusters each embedding under
``--mclust-seeds`` R seeds and compares, on the same draws:

* ``single``: one draw (the mean ARI over all draws is what one run gives in expectation);
* ``medoid``: among groups of ``--group`` consecutive draws, the draw that agrees best (highest mean ARI)
  with the others in its group;
* ``vote``: every draw of a group relabelled to match the medoid (Hungarian matching on the contingency
  table), then a per-spot majority vote.

All three are refined by the 50-NN vote and scored against ``layer_guess_reordered`` (NA excluded). The
embeddings and draws are cached as ``.npz`` under ``--cache-dir`` so the comparison can be rerun cheaply.

Usage (from ``benchmarks/``)::

    ../.venv/bin/python diffusionst_mclust_consensus.py --slices 151676 --seeds 0 1 2 --mclust-seeds 30 \
        --group 5 10 --threads 2 --cache-dir /tmp/mclust_draws --out out/mclust_consensus_fast.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from spatialdiffusion.cluster import cluster_embedding, refine_labels
from spatialdiffusion.diffusionst import diffusionst_arrays
from spatialdiffusion.metrics import clustering_scores

from diffusionst_dlpfc import DATA


def draws_for(slice_id: str, seed: int, n_draws: int, n_clusters: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """mclust labels (draws x spots) of the ``fast`` embedding, and the spot coordinates; cached."""
    path = cache / f"{slice_id}_seed{seed}_draws{n_draws}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["labels"], saved["coords"]
    adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
    coords = np.asarray(adata.obsm["spatial"], dtype=float)
    embedding = diffusionst_arrays(adata.X, coords, n_clusters=n_clusters, preset="fast", seed=seed,
                                   cluster=False, verbose=False)["embedding"]
    labels = np.stack([cluster_embedding(embedding, n_clusters, method="mclust", seed=s)[0] for s in range(n_draws)])
    np.savez_compressed(path, labels=labels, coords=coords)
    return labels, coords


def medoid_index(draws: np.ndarray) -> int:
    """Index of the draw with the highest summed ARI to the other draws."""
    agreement = np.zeros((len(draws), len(draws)))
    for i in range(len(draws)):
        for j in range(i + 1, len(draws)):
            agreement[i, j] = agreement[j, i] = adjusted_rand_score(draws[i], draws[j])
    return int(agreement.sum(axis=1).argmax())


def vote(draws: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Per-spot majority vote after matching every draw's labels to ``anchor``'s (labels ``1..K``)."""
    k = int(max(draws.max(), anchor.max())) + 1
    votes = np.zeros((len(anchor), k), dtype=np.int64)
    for labels in draws:
        table = np.zeros((k, k), dtype=np.int64)
        np.add.at(table, (labels, anchor), 1)
        rows, cols = linear_sum_assignment(-table)
        mapping = np.zeros(k, dtype=np.int64)
        mapping[rows] = cols
        votes[np.arange(len(anchor)), mapping[labels]] += 1
    return votes.argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", nargs="+", default=["151676"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--mclust-seeds", type=int, default=30)
    parser.add_argument("--group", nargs="+", type=int, default=[5, 10], help="draws combined per consensus")
    parser.add_argument("--n-clusters", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    rows = []
    for slice_id in args.slices:
        truth = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad").obs["layer_guess_reordered"]
        for seed in args.seeds:
            draws, coords = draws_for(slice_id, seed, args.mclust_seeds, args.n_clusters, args.cache_dir)

            def score(labels: np.ndarray) -> float:
                return clustering_scores(truth, refine_labels(labels, coords, 50))["ari"]

            base = {"slice": slice_id, "seed": seed}
            rows += [{**base, "rule": "single", "group": 1, "ari": score(d)} for d in draws]
            for size in args.group:
                for start in range(0, len(draws) - size + 1, size):
                    group = draws[start:start + size]
                    anchor = group[medoid_index(group)]
                    rows.append({**base, "rule": "medoid", "group": size, "ari": score(anchor)})
                    rows.append({**base, "rule": "vote", "group": size, "ari": score(vote(group, anchor))})
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    per_seed = table.groupby(["slice", "rule", "group", "seed"]).ari.mean().unstack("seed")
    per_seed["mean"] = per_seed.mean(axis=1)
    print("mean ARI per pipeline seed (over draws or groups of draws):\n" + per_seed.round(3).to_string())


if __name__ == "__main__":
    main()
