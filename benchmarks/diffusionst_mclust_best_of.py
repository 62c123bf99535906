"""Would keeping the most likely of several mclust fits beat a single fit? Expected ARI, same fits.

mclust's EM starts from a hierarchical clustering of 2000 random spots, so one embedding gives different
partitions under different R seeds. A label-free way to choose among them is the fit's log-likelihood
(every fit has the same data, model and number of clusters, so the values compare). For each slice and
pipeline seed this script computes the embedding once (as ``diffusionst_mclust_spread.py`` does), fits
mclust EEE under R seeds ``0 .. --mclust-seeds - 1`` with the engine's own fit
(``spatialdiffusion.cluster.mclust_fit``), refines each partition with the 50 nearest spots, and writes each fit's log-likelihood and
ARI. It then splits the fits into consecutive groups of ``--group`` and prints, per pipeline seed, the
mean ARI of the single fits against the mean ARI of each group's most likely fit.

Usage (from ``benchmarks/``, with the project's .venv)::

    ../.venv/bin/python diffusionst_mclust_best_of.py --variant no_diffusion --slices 151676 \
        --seeds 0 1 2 3 4 5 6 7 8 9 --mclust-seeds 10 --group 5 --threads 2 --out out/mclust_best_of_no_diffusion_151676.csv
"""

from __future__ import annotations

import pandas as pd

from spatialdiffusion.cli import parse_setting

from diffusionst_dlpfc import ABLATIONS, probe_parser, scores_over_mclust_draws, seed_embeddings


def best_of_groups(fits: pd.DataFrame, group: int) -> pd.DataFrame:
    """Per pipeline seed: mean ARI of all single fits and of each group's most likely fit."""
    fits = fits.assign(group=fits.mclust_seed // group)
    picks = fits.loc[fits.groupby(["slice", "seed", "group"]).loglik.idxmax()]
    return pd.DataFrame({"single": fits.groupby(["slice", "seed"]).ari.mean(),
                         f"best_of_{group}": picks.groupby(["slice", "seed"]).ari.mean()})


def main() -> None:
    parser = probe_parser(__doc__, mclust_seeds=10)
    parser.add_argument("--group", type=int, default=5, help="fits per group; the most likely one is kept")
    args = parser.parse_args()
    if args.mclust_seeds % args.group:
        parser.error("--mclust-seeds must be a multiple of --group")
    settings = {**ABLATIONS[args.variant], **dict(parse_setting(item) for item in args.set)}
    rows = []
    for slice_id, seed, embedding, truth, coords in seed_embeddings(args.slices, args.seeds, args.n_clusters,
                                                                    args.threads, **settings):
        draws = scores_over_mclust_draws(embedding, truth, coords, args.n_clusters, range(args.mclust_seeds))
        rows += [{"slice": slice_id, "variant": args.variant, "settings": " ".join(args.set), "seed": seed,
                  "mclust_seed": draw["mclust_seed"], "loglik": draw["loglik"], "ari": draw["ari"]} for draw in draws]
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(best_of_groups(pd.DataFrame(rows), args.group).loc[(slice_id, seed)].round(3).to_dict(), flush=True)
    summary = best_of_groups(pd.DataFrame(rows), args.group)
    gain = summary.iloc[:, 1] - summary.iloc[:, 0]
    print(summary.round(3).to_string())
    for slice_id, diff in gain.groupby(level="slice"):
        print(f"{slice_id}: single {summary.loc[slice_id].iloc[:, 0].mean():.3f}, best of {args.group} "
              f"{summary.loc[slice_id].iloc[:, 1].mean():.3f}, paired {diff.mean():+.3f} ± {diff.std():.3f}, "
              f"higher on {(diff > 0).sum()} of {len(diff)}")


if __name__ == "__main__":
    main()
