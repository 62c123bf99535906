"""How much clustering can gene-from-gene imputation keep when the reference is the spatial assay itself?

The osmFISH/Allen pair mixes two questions: how well the held-out genes can be predicted from the observed
ones at all, and how much is lost to the platform shift between SMART-seq and osmFISH. This script runs the
published 5-fold gene protocol with the reference-kNN imputer, but takes the reference from osmFISH itself:
the cells are split in two random halves, and each half is imputed from the other half's measured profiles
(so no cell is its own neighbour). Its ARI is what kNN imputation reaches without any platform shift, to set
beside the Allen-reference kNN baseline and SpaLSTF.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_same_platform_knn.py --seed 0 --states 10 --out benchmarks/out/same_platform_knn_s0.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from spatialdiffusion.spalstf._evaluate import cross_validate, knn_imputer

from spalstf_leiden_states import osmfish_shared_counts, scores_over_states, truth_leiden_states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="gene folds and the split of the cells into halves")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--states", type=int, default=10, help="Leiden random states 0..N-1")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names, counts = osmfish_shared_counts()
    column = {gene: i for i, gene in enumerate(names)}
    halves = np.random.default_rng(args.seed).permutation(len(counts)) % 2
    knn = knn_imputer(args.k)

    def same_platform(st_obs: np.ndarray, _ref: np.ndarray, observed: list[str], target: list[str], fold: int) -> np.ndarray:
        columns = [column[g] for g in observed + target]
        out = np.zeros((len(st_obs), len(target)), dtype=np.float64)
        for half in (0, 1):
            cells = halves == half
            out[cells] = knn(st_obs[cells], counts[~cells][:, columns], observed, target, fold)
        return out

    res = cross_validate(counts, counts, names, same_platform, seed=args.seed, verbose=False)
    rows = [{"seed": args.seed, **row} for row in scores_over_states(truth_leiden_states(counts, args.states), res["imputed"])]
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"seed {args.seed}: median SPCC {res['summary']['spcc']:.3f}, SSIM {res['summary']['ssim']:.3f}, "
          f"ARI state 0 {res['summary']['ari']:.3f}, ARI over {args.states} Leiden states {table.ari.mean():.3f}")


if __name__ == "__main__":
    main()
