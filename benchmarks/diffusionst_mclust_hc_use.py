"""Does the space of mclust's initial hierarchical clustering change the expected ARI? Same embeddings.

mclust starts EM from a model-based hierarchical clustering (hc) of up to 2000 random spots. By default
(``mclust.options("hcUse")`` = ``"SVD"``) that hc runs on the data after a scaled SVD transformation (each
column standardised, rotated onto its right singular vectors and divided by the square root of their singular
values): principal-component scores are uncorrelated, so the tenth component then weighs about as much as the
first in the starting partition. ``"VARS"`` runs the hc on the variables as given (PCA scores keep their variance
ordering), ``"STD"`` on each variable divided by its SD. EM then fits the same EEE model from that start.

For each slice and pipeline seed the script computes the embedding once (as ``diffusionst_mclust_spread.py``
does), then for each ``--hc-use`` value sets the option in the embedded R session and fits mclust EEE with the
engine's own fit (``spatialdiffusion.cluster.mclust_fit``) under R seeds ``0 .. --mclust-seeds - 1``, each
refined with the 50 nearest spots. It prints, per pipeline seed, the expected ARI (mean over R seeds) of each
setting and the paired difference of each against the first.

Usage (from ``benchmarks/``, with the project's .venv)::

    ../.venv/bin/python diffusionst_mclust_hc_use.py --variant no_diffusion --slices 151676 \
        --seeds 0 1 2 3 4 5 6 7 8 9 --mclust-seeds 5 --hc-use SVD VARS STD --threads 2 \
        --out out/mclust_hc_use_no_diffusion_151676.csv
"""

from __future__ import annotations

import pandas as pd
import rpy2.robjects as ro

from spatialdiffusion.cli import parse_setting

from diffusionst_dlpfc import ABLATIONS, probe_parser, scores_over_mclust_draws, seed_embeddings

HC_USE = ("SVD", "VARS", "STD")


def set_hc_use(value: str) -> None:
    """Set ``mclust.options(hcUse = value)`` in the R session that the engine's mclust fit uses."""
    ro.r(f'suppressPackageStartupMessages(library(mclust)); invisible(mclust.options(hcUse = "{value}"))')


def summarise(rows: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Expected ARI per (slice, seed) and hcUse, as columns."""
    return rows.groupby(["slice", "seed", "hc_use"]).ari.mean().unstack("hc_use")[
        [reference, *(v for v in rows.hc_use.unique() if v != reference)]]


def main() -> None:
    parser = probe_parser(__doc__, mclust_seeds=5)
    parser.add_argument("--hc-use", nargs="+", choices=HC_USE, default=["SVD", "VARS"],
                        help="values of mclust.options('hcUse'); the first is the reference of the paired differences")
    args = parser.parse_args()
    settings = {**ABLATIONS[args.variant], **dict(parse_setting(item) for item in args.set)}
    rows = []
    for slice_id, seed, embedding, truth, coords in seed_embeddings(args.slices, args.seeds, args.n_clusters,
                                                                    args.threads, **settings):
        for hc_use in args.hc_use:
            set_hc_use(hc_use)
            draws = scores_over_mclust_draws(embedding, truth, coords, args.n_clusters, range(args.mclust_seeds))
            rows += [{"slice": slice_id, "variant": args.variant, "settings": " ".join(args.set), "seed": seed,
                      "hc_use": hc_use, "mclust_seed": draw["mclust_seed"], "loglik": draw["loglik"],
                      "ari": draw["ari"]} for draw in draws]
        set_hc_use("SVD")  # mclust's default, for whatever runs next in this R session
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(summarise(pd.DataFrame(rows), args.hc_use[0]).loc[(slice_id, seed)].round(4).to_dict(), flush=True)
    summary = summarise(pd.DataFrame(rows), args.hc_use[0])
    print(summary.round(3).to_string())
    for slice_id, table in summary.groupby(level="slice"):
        for other in table.columns[1:]:
            diff = table[other] - table[args.hc_use[0]]
            print(f"{slice_id}: {args.hc_use[0]} {table[args.hc_use[0]].mean():.3f}, {other} {table[other].mean():.3f}, "
                  f"paired {diff.mean():+.3f} ± {diff.std():.3f}, higher on {(diff > 0).sum()} of {len(diff)}")


if __name__ == "__main__":
    main()
