"""Does jittering the spatial condition at sampling time help? A paired check on the same trained models.

``capture_jitter`` trains the denoiser on reference cells whose observed genes carry a random per-gene
capture factor. This script asks whether the same jitter should also be applied when sampling: each of the
``n_samples`` draws then conditions on the spatial counts multiplied by a fresh log-normal factor per
observed gene (SD ``--sd``), and the draws are averaged. Each draw is mapped back to the scale of the
unjittered cell (its observed library size and maximum) before averaging, so every draw speaks about the
same cell.

Per fold of the 5-fold protocol one model is trained (``fast`` with ``n_models=1``), then the held-out genes
are imputed twice from it: the engine's plain sampling, and the jittered draws. Both imputations are scored
the same way, including ARI over Leiden states 0..``--states``-1, so the difference between the two rows of
a seed is the test-time jitter alone.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_test_time_jitter.py --seed 0 --sd 0.5 --out benchmarks/out/test_time_jitter_s0.csv
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spatialdiffusion.io import spatial_coordinates
from spatialdiffusion.methods.spalstf_data import TARGET_SUM, as_counts, model_to_unit, normalize, reference_lognorm_maxabs, shared_genes, to_lognorm
from spatialdiffusion.methods.spalstf_eval import cross_validate
from spatialdiffusion.methods.spalstf_model import SpaLSTFModel
from spatialdiffusion.metrics.imputation import gene_scores
from spatialdiffusion.presets_spalstf import spalstf_config

from spalstf_eval import read_osmfish_pair
from spalstf_leiden_states import scores_over_states, truth_leiden_states


def jittered_draws(model: SpaLSTFModel, st_obs: np.ndarray, coords: np.ndarray | None, *, sd: float, seed: int, rng: np.random.Generator) -> np.ndarray:
    """Model-space targets averaged over ``n_samples`` draws, each conditioned on freshly jittered counts.

    Draw ``k`` is seeded ``seed + 1 + k``. It is turned back into counts with its own (jittered) library
    size, then into model space with the unjittered cell's observed library size and maximum.
    """
    _, plain = normalize(st_obs, st_obs.shape[1])
    one_draw = copy.copy(model)  # shares the trained networks; only its config differs
    one_draw.config = dataclasses.replace(model.config, n_samples=1)
    total = np.zeros((len(st_obs), len(model.target)))
    for k in range(model.config.n_samples):
        factors = np.exp(sd * rng.standard_normal(st_obs.shape[1])).astype(np.float32)
        x, scale = one_draw.sample_model_space(st_obs * factors, coords, seed=seed + 1 + k, verbose=False)
        counts = np.expm1(to_lognorm(x, scale)) * scale[:, :1] / TARGET_SUM
        total += 2.0 * np.log1p(TARGET_SUM * counts / plain[:, :1]) / plain[:, 1:2] - 1.0
    return total / model.config.n_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="gene folds, training and sampling")
    parser.add_argument("--sd", type=float, default=0.5, help="SD of the log-normal per-gene factor at sampling time")
    parser.add_argument("--states", type=int, default=10, help="Leiden random states 0..N-1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    st, ref = read_osmfish_pair()
    names, st_idx, ref_idx = shared_genes(list(st.var_names), list(ref.var_names))
    st_counts, ref_counts = as_counts(st.X, "st")[:, st_idx], as_counts(ref.X, "ref")[:, ref_idx]
    coords = spatial_coordinates(st, required=False)
    config = spalstf_config("fast", n_models=1)
    device = torch.device("cpu")
    column = {gene: j for j, gene in enumerate(names)}
    jittered = np.zeros(st_counts.shape)

    def impute(st_obs: np.ndarray, ref_model: np.ndarray, observed: list[str], target: list[str], fold: int) -> np.ndarray:
        model = SpaLSTFModel(config, observed, target, device).fit(ref_model, seed=args.seed, verbose=False)
        plain, _ = model.sample_model_space(st_obs, coords, seed=args.seed, verbose=False)
        rng = np.random.default_rng(10_000 + 100 * args.seed + fold)
        jittered[:, [column[g] for g in target]] = model_to_unit(jittered_draws(model, st_obs, coords, sd=args.sd, seed=args.seed, rng=rng))
        return model_to_unit(plain)

    result = cross_validate(st_counts, ref_counts, names, impute, seed=args.seed, verbose=False)
    truth = reference_lognorm_maxabs(st_counts)
    reference = truth_leiden_states(st_counts, args.states)
    rows = []
    for sampling, imputed in (("plain", result["imputed"]), (f"jitter {args.sd}", jittered)):
        per_gene = gene_scores(truth, imputed, names)
        states = pd.DataFrame(scores_over_states(reference, np.asarray(imputed, dtype=np.float32)))
        rows.append({"seed": args.seed, "sampling": sampling, "spcc": np.nanmedian(per_gene.spcc), "ssim": np.nanmedian(per_gene.ssim),
                     "ari_state0": states.ari[0], "ari_states_mean": states.ari.mean()})
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
