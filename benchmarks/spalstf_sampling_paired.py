"""Compare sampling settings on the same trained models: a paired check over the 5-fold protocol.

Settings that only shape sampling (``sample_jitter``, ``x0_clamp``, ``n_samples``, ...) need no new
training to compare. Per fold of the 5-fold protocol this script trains one model (``fast`` with
``n_models=1``, plus any ``--set``), then imputes the held-out genes once with the model's own settings
("plain") and once per ``--sample`` variant, from the same trained network. Every imputation is scored the
same way, including ARI over Leiden states 0..``--states``-1, so the difference between two rows of a seed
comes from the sampling alone.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_sampling_paired.py --seed 0 --sample sample_jitter=0.5 \
        --sample x0_clamp=data --out benchmarks/out/sampling_paired_s0.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spatialdiffusion.cli import parse_setting
from spatialdiffusion.io import spatial_coordinates
from spatialdiffusion.metrics.imputation import gene_scores
from spatialdiffusion.spalstf import check_sampling_settings, spalstf_config
from spatialdiffusion.spalstf._data import as_counts, model_to_unit, reference_lognorm_maxabs, shared_genes
from spatialdiffusion.spalstf._evaluate import cross_validate
from spatialdiffusion.spalstf._stages import SpaLSTFModel

from spalstf_eval import read_osmfish_pair
from spalstf_leiden_states import scores_over_states, truth_leiden_states


def sampling_variant(spec: str) -> dict[str, object]:
    """``KEY=VALUE[,KEY=VALUE]`` as a dict of sampling settings (anything else is refused)."""
    settings = dict(parse_setting(item) for item in spec.split(",") if item)
    try:
        check_sampling_settings(settings)
    except ValueError as err:
        raise SystemExit(f"--sample {spec}: {err}") from None
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="gene folds, training and sampling")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="setting of the trained model")
    parser.add_argument("--sample", action="append", required=True, metavar="KEY=VALUE[,KEY=VALUE]",
                        help="a sampling variant to compare with the plain sampling (repeatable)")
    parser.add_argument("--states", type=int, default=10, help="Leiden random states 0..N-1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    variants = {spec: sampling_variant(spec) for spec in args.sample}
    torch.set_num_threads(args.threads)
    st, ref = read_osmfish_pair()
    names, st_idx, ref_idx = shared_genes(list(st.var_names), list(ref.var_names))
    st_counts, ref_counts = as_counts(st.X, "st")[:, st_idx], as_counts(ref.X, "ref")[:, ref_idx]
    coords = spatial_coordinates(st, required=False)
    config = spalstf_config("fast", **{"n_models": 1, **dict(parse_setting(item) for item in args.set)})[1]
    device = torch.device("cpu")
    column = {gene: j for j, gene in enumerate(names)}
    imputed = {spec: np.zeros(st_counts.shape) for spec in variants}

    def impute(st_obs: np.ndarray, ref_model: np.ndarray, observed: list[str], target: list[str], fold: int) -> np.ndarray:
        model = SpaLSTFModel(config, observed, target, device).fit(ref_model, seed=args.seed, verbose=False, spatial_counts=st_obs)
        plain, _ = model.sample_model_space(st_obs, coords, seed=args.seed, verbose=False)
        for spec, settings in variants.items():
            x, _ = model.with_sampling(**settings).sample_model_space(st_obs, coords, seed=args.seed, verbose=False)
            imputed[spec][:, [column[g] for g in target]] = model_to_unit(x)
        return model_to_unit(plain)

    result = cross_validate(st_counts, ref_counts, names, impute, seed=args.seed, verbose=False)
    truth = reference_lognorm_maxabs(st_counts)
    reference = truth_leiden_states(st_counts, args.states)
    rows = []
    for sampling, values in (("plain", result["imputed"]), *imputed.items()):
        per_gene = gene_scores(truth, values, names)
        states = pd.DataFrame(scores_over_states(reference, np.asarray(values, dtype=np.float32)))
        rows.append({"seed": args.seed, "sampling": sampling, "spcc": np.nanmedian(per_gene.spcc), "ssim": np.nanmedian(per_gene.ssim),
                     "ari_state0": states.ari[0], "ari_states_mean": states.ari.mean()})
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
