"""How much of the hidden genes can a panel predict at all? Predictors fitted on the spatial data itself.

For each real-use task of ``spalstf_real_use.py`` the hidden genes' measured values are predicted from the
panel genes of the *same* spatial cells, with no reference and no shift between assays:

- leave-one-out kNN: the mean of the ``k`` other spatial cells nearest in panel space (SpaLSTF's model space
  of the panel genes, as the reference-kNN baseline), ``k`` in 10, 30, 50, 100, 200;
- ridge regression from the panel (model space) to the hidden genes, 5-fold cross-validated, alpha 1, 10, 100;
- leave-one-out kNN over the panel's first 30 principal components (all of a smaller panel), ``k`` in 50, 100;
- a one-hidden-layer MLP (128 units, L2 penalty 1, early stopping), 5-fold cross-validated.

These predictors see the very cells they are scored on, through their neighbours and the fitted
coefficients, so their median SPCC estimates what the panel can explain of each hidden gene's measured
value. An imputation from another section or platform has no reason to exceed it. The reference-kNN
baseline (mean of the 50 nearest reference cells) is printed beside them.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_panel_ceiling.py --tasks osmfish visium starmap \
        --out benchmarks/out/real_use/panel_ceiling.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.neighbors import NearestNeighbors
from sklearn.neural_network import MLPRegressor

from spatialdiffusion.metrics import gene_scores
from spatialdiffusion.spalstf._data import normalize

from spalstf_real_use import TASKS, Task, _counts, knn_baseline, load_task

NEIGHBOURS = (10, 30, 50, 100, 200)
RIDGE_ALPHAS = (1.0, 10.0, 100.0)
PCA_NEIGHBOURS = (50, 100)


def median_spcc(task: Task, predicted: np.ndarray) -> float:
    return float(np.nanmedian(gene_scores(task.truth, predicted, task.targets)["spcc"]))


def panel_space(task: Task) -> np.ndarray:
    """The spatial cells' panel genes in SpaLSTF's model space (panel library and per-cell maximum)."""
    counts = _counts(task.panel, list(task.panel.var_names))
    return normalize(counts, counts.shape[1])[0]


def same_section_knn(task: Task, x: np.ndarray, k: int) -> np.ndarray:
    """Each cell's hidden genes predicted by the mean of its ``k`` nearest other cells (leave-one-out)."""
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return task.truth[idx[:, 1:]].mean(axis=1)


def out_of_fold(task: Task, x: np.ndarray, make_model) -> np.ndarray:
    """The hidden genes predicted from the panel by ``make_model()`` fitted on the other folds (5 folds, seed 0)."""
    predicted = np.zeros_like(task.truth)
    for train, test in KFold(5, shuffle=True, random_state=0).split(x):
        predicted[test] = make_model().fit(x[train], task.truth[train]).predict(x[test])
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows = []
    for name in args.tasks:
        task = load_task(name)
        x = panel_space(task)
        rows.append({"task": name, "predictor": "reference kNN, k = 50 (the baseline)", "spcc": median_spcc(task, knn_baseline(task))})
        rows += [{"task": name, "predictor": f"same-section kNN, k = {k}", "spcc": median_spcc(task, same_section_knn(task, x, k))}
                 for k in NEIGHBOURS]
        rows += [{"task": name, "predictor": f"same-section ridge, alpha = {a:g}",
                  "spcc": median_spcc(task, out_of_fold(task, x, lambda a=a: Ridge(alpha=a)))} for a in RIDGE_ALPHAS]
        pcs = PCA(min(30, x.shape[1]), random_state=0).fit_transform(x)
        rows += [{"task": name, "predictor": f"same-section kNN over {pcs.shape[1]} PCs, k = {k}",
                  "spcc": median_spcc(task, same_section_knn(task, pcs, k))} for k in PCA_NEIGHBOURS]
        mlp = lambda: MLPRegressor(hidden_layer_sizes=(128,), alpha=1.0, max_iter=200, early_stopping=True, random_state=0)
        rows.append({"task": name, "predictor": "same-section MLP, 128 units", "spcc": median_spcc(task, out_of_fold(task, x, mlp))})
        print(pd.DataFrame([r for r in rows if r["task"] == name]).round(3).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).round({"spcc": 4})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
