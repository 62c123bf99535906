"""Expected ARI of DiffusionST's clustering settings (PCs handed to mclust, refinement neighbourhood, library regression).

For each slice and pipeline seed the enhanced matrix is computed once (``diffusionst_arrays(...,
cluster=False)``). Each ``--n-pcs`` value then gets its own PCA of that matrix, clustered by mclust EEE under
R seeds ``0..--mclust-seeds - 1``; each mclust partition is refined with every ``--refine`` neighbourhood.
With ``--regress-library`` each PCA is also clustered after its scores are residualised on the spots' log10
library sizes (least squares with an intercept; the library is the spot's total count over the input genes),
and the paired difference that makes is printed per setting.
Every setting is thus scored on the same embeddings and the same R seeds, so settings pair per seed. The row
with ``n`` PCs and 50 neighbours is what ``diffusionst_mclust_spread.py --set n_pcs=n`` gives for the same
variant and seeds.

Slices with at most 2000 spots are clustered identically under every R seed (mclust's hierarchical start then
uses all of them), so one R seed suffices there.

Usage (from the repository root)::

    .venv/bin/python benchmarks/diffusionst_cluster_settings.py --variant no_diffusion --slices 151676 151673 \
        --seeds 0 1 2 3 4 5 6 7 8 9 --mclust-seeds 5 --n-pcs 10 15 20 30 40 --refine 30 50 70 \
        --threads 2 --out benchmarks/out/cluster_settings_no_diffusion.csv
    .venv/bin/python benchmarks/diffusionst_cluster_settings.py --variant no_diffusion --slices 151676 \
        --seeds 0 1 2 3 4 5 6 7 8 9 --mclust-seeds 5 --n-pcs 10 --regress-library --threads 1 \
        --out benchmarks/out/cluster_settings_libregress_no_diffusion_151676.csv
    .venv/bin/python benchmarks/diffusionst_cluster_settings.py --variant fast --slices starmap_mpfc/BZ5.h5ad \
        --truth-key domain --n-clusters 4 --seeds 0 1 2 3 4 --mclust-seeds 1 --n-pcs 10 20 --out ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from spatialdiffusion.diffusionst._stages import embed

from diffusionst_dlpfc import ABLATIONS, DATA, scores_over_mclust_draws, unclustered_fast_run


def residualise(scores: np.ndarray, covariate: np.ndarray) -> np.ndarray:
    """``scores`` minus their least-squares fit on an intercept and ``covariate`` (one value per row)."""
    design = np.column_stack([np.ones_like(covariate), covariate])
    coefficients, *_ = np.linalg.lstsq(design, scores, rcond=None)
    return (scores - design @ coefficients).astype(np.float32)


def print_paired_regression(expected: pd.Series) -> None:
    """Per slice and setting: expected ARI without and with library regression, and their paired difference."""
    table = expected.unstack("library_regressed")
    for (slice_id, n_pcs, refine), block in table.groupby(level=["slice", "n_pcs", "refine"]):
        diff = block[True] - block[False]
        print(f"{slice_id}, {n_pcs} PCs, refine {refine}: {block[False].mean():.3f} -> regressed {block[True].mean():.3f}, "
              f"paired {diff.mean():+.3f} ± {diff.std():.3f}, higher on {(diff > 0).sum()} of {len(diff)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="fast", choices=[v for v in ABLATIONS if v != "paper"])
    parser.add_argument("--slices", nargs="+", default=["151676", "151673"],
                        help="DLPFC slice ids, or .h5ad paths relative to the shared data folder (e.g. starmap_mpfc/BZ5.h5ad)")
    parser.add_argument("--truth-key", default="layer_guess_reordered", help="obs column holding the ground truth")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--mclust-seeds", type=int, default=10)
    parser.add_argument("--n-pcs", nargs="+", type=int, default=[20])
    parser.add_argument("--refine", nargs="+", type=int, default=[50])
    parser.add_argument("--regress-library", action="store_true",
                        help="also cluster each PCA with its scores residualised on log10 library size")
    parser.add_argument("--n-clusters", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for slice_id in args.slices:
        adata = ad.read_h5ad(DATA / slice_id if slice_id.endswith(".h5ad") else DATA / "dlpfc" / f"{slice_id}.h5ad")
        truth, coords = adata.obs[args.truth_key].astype(str), np.asarray(adata.obsm["spatial"], dtype=float)
        log_library = np.log10(np.asarray(adata.X.sum(axis=1), dtype=float).ravel())
        for seed in args.seeds:
            enhanced = unclustered_fast_run(adata, seed, args.n_clusters, args.threads, **ABLATIONS[args.variant])["enhanced"]
            for n_pcs in args.n_pcs:
                scores = embed(enhanced, n_pcs, seed)
                for regressed in (False, True) if args.regress_library else (False,):
                    draws = scores_over_mclust_draws(residualise(scores, log_library) if regressed else scores, truth,
                                                     coords, args.n_clusters, range(args.mclust_seeds), args.refine)
                    rows += [{"slice": slice_id, "variant": args.variant, "n_pcs": n_pcs, "library_regressed": regressed,
                              "refine": draw["refine"], "seed": seed, "mclust_seed": draw["mclust_seed"],
                              "ari": draw["ari"]} for draw in draws]
            done = pd.DataFrame(rows)
            done = done[(done.slice == slice_id) & (done.seed == seed)]
            print(f"{slice_id} seed {seed}:\n" + done.pivot_table("ari", ["n_pcs", "library_regressed"], "refine").round(3).to_string(),
                  flush=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    expected = pd.DataFrame(rows).groupby(["slice", "n_pcs", "library_regressed", "refine", "seed"]).ari.mean()
    print("\nexpected ARI, mean over pipeline seeds:\n"
          + expected.groupby(["slice", "n_pcs", "library_regressed", "refine"]).agg(["mean", "std"]).round(3).to_string())
    if args.regress_library:
        print_paired_regression(expected)


if __name__ == "__main__":
    main()
