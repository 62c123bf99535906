"""What a DiffusionST partition of a DLPFC slice looks like: its domains against the manual layers.

Computes one seed's embedding (as ``diffusionst_mclust_spread.py`` does), fits mclust EEE under each given R seed
with the engine's own fit, refines with the 50 nearest spots, and prints each fit's log-likelihood, ARI and the
cross-tabulation of domains against ``layer_guess_reordered`` (NA spots included as their own column).

Usage (from ``benchmarks/``, with the project's .venv)::

    ../.venv/bin/python diffusionst_partition_crosstab.py --variant no_diffusion --slice 151676 --seed 0 \
        --mclust-seeds 0 2 --threads 2
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import pandas as pd

from spatialdiffusion.cluster import mclust_fit, refine_labels
from spatialdiffusion.metrics import clustering_scores

from diffusionst_dlpfc import ABLATIONS, DATA, unclustered_fast_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="no_diffusion", choices=[v for v in ABLATIONS if v != "paper"])
    parser.add_argument("--slice", default="151676")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mclust-seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-clusters", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    adata = ad.read_h5ad(DATA / "dlpfc" / f"{args.slice}.h5ad")
    truth, coords = adata.obs["layer_guess_reordered"], np.asarray(adata.obsm["spatial"], dtype=float)
    embedding = unclustered_fast_run(adata, args.seed, args.n_clusters, args.threads, **ABLATIONS[args.variant])["embedding"]
    for mclust_seed in args.mclust_seeds:
        labels, loglik = mclust_fit(embedding, args.n_clusters, seed=mclust_seed)
        refined = refine_labels(labels, coords, 50)
        ari = clustering_scores(truth, refined)["ari"]
        print(f"R seed {mclust_seed}: log-likelihood {loglik:.1f}, ARI {ari:.4f}")
        print(pd.crosstab(pd.Series(np.asarray(refined), name="domain"), truth.astype(str).to_numpy()).to_string(), flush=True)


if __name__ == "__main__":
    main()
