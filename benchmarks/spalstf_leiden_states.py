"""How much of the SpaLSTF clustering scores is the Leiden draw? Re-score saved imputations over Leiden seeds.

The published protocol clusters the true and the imputed matrix with ``sc.tl.leiden(random_state=0)``. For a
fixed imputation the scores still depend on that one seed. This script reads imputations saved by
``spalstf_eval.py --imputed-out`` and scores each under Leiden ``random_state`` 0..``--states``-1 (the truth
clustered with the same state), so methods can be compared on the mean over states as well as on state 0.
It also records how many Leiden clusters the truth and the imputation get under each state (resolution 1 fixes
no cluster count, and a count far from the truth's caps the ARI).

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_leiden_states.py --states 10 --out benchmarks/out/leiden_states.csv \
        "SpaLSTF fast=benchmarks/out/imputed/fast4_ens3_s*.npz" "kNN=benchmarks/out/imputed/knn_s*.npz"

Each positional argument is ``LABEL=GLOB``; the seed is read from the file name (``..._sN.npz``).
"""

from __future__ import annotations

import argparse
import glob
import re
from pathlib import Path

import numpy as np
import pandas as pd

from spatialdiffusion.metrics import clustering_scores
from spatialdiffusion.metrics.imputation import leiden_labels
from spatialdiffusion.spalstf._data import as_counts, reference_lognorm_maxabs, shared_genes

from spalstf_eval import read_osmfish_pair

SCORES = ("ari", "ami", "nmi", "homo")


def osmfish_shared_counts() -> tuple[list[str], np.ndarray]:
    """The osmFISH/Allen shared gene names and the osmFISH counts of those genes (cells x genes)."""
    st, ref = read_osmfish_pair()
    names, st_idx, _ = shared_genes(list(st.var_names), list(ref.var_names))
    return names, as_counts(st.X, "st")[:, st_idx]


def truth_leiden_states(counts: np.ndarray, states: int) -> dict[int, np.ndarray]:
    """Leiden labels of the true preprocessed matrix under random states ``0..states-1``."""
    truth = reference_lognorm_maxabs(counts)
    return {state: leiden_labels(truth, random_state=state) for state in range(states)}


def scores_over_states(reference: dict[int, np.ndarray], imputed: np.ndarray) -> list[dict]:
    """One row per Leiden state: ARI/AMI/NMI/Homo of ``imputed`` against ``reference`` and both cluster counts."""
    rows = []
    for state, truth_labels in reference.items():
        predicted = leiden_labels(imputed, random_state=state)
        scores = clustering_scores(truth_labels, predicted)
        rows.append({"leiden_state": state, **{k: scores[k] for k in SCORES},
                     "clusters_truth": len(np.unique(truth_labels)), "clusters_imputed": len(np.unique(predicted))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=GLOB")
    parser.add_argument("--states", type=int, default=10, help="Leiden random states 0..N-1")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names, counts = osmfish_shared_counts()
    reference = truth_leiden_states(counts, args.states)
    rows = []
    for run in args.runs:
        label, pattern = run.split("=", 1)
        files = sorted(glob.glob(pattern))
        if not files:
            parser.error(f"no file matches {pattern!r}")
        for path in files:
            saved = np.load(path)
            if list(saved["genes"]) != names:
                parser.error(f"{path} holds other genes than the shared osmFISH/Allen genes")
            seed_match = re.search(r"_s(\d+)\.npz$", path)
            if seed_match is None:
                parser.error(f"{path}: the seed must end the file name as '_sN.npz'")
            seed = int(seed_match.group(1))
            rows += [{"method": label, "seed": seed, **row} for row in scores_over_states(reference, saved["imputed"])]
            print(f"{label} seed {seed}: ARI over Leiden states "
                  f"{np.mean([r['ari'] for r in rows[-args.states:]]):.3f}", flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    per_seed = table.groupby(["method", "seed"])[list(SCORES)].mean()
    state0 = table[table.leiden_state == 0].groupby(["method", "seed"]).ari.first().rename("ari_state0")
    print("\nmean over Leiden states per seed (and the protocol's state 0):\n"
          + per_seed.join(state0).round(3).to_string())
    print("\nmean ± SD over seeds of the per-seed means:\n"
          + per_seed.groupby("method").agg(["mean", "std"]).round(3).to_string())
    print("\nLeiden clusters, mean over seeds and states (truth vs imputation):\n"
          + table.groupby("method")[["clusters_truth", "clusters_imputed"]].mean().round(1).to_string())
    print("\nSD of ARI over Leiden states within a seed (mean):\n"
          + table.groupby(["method", "seed"]).ari.std().groupby("method").mean().round(3).to_string())


if __name__ == "__main__":
    main()
