"""Probe: does averaging the reconstructions of several independently seeded GCNs help the domains?

DiffusionST's GCN stage is stochastic through its seed (PCA start by randomised SVD, weight initialisation
of the ZINB heads, the spots each epoch's ZINB term sees). This probe trains ``--members`` GCNs per pipeline
seed, member ``k`` with seed ``seed + 1000 * k`` (member 0 is the GCN the preset trains), averages their
reconstructions, and hands the average on as the GCN output. Everything else is
``diffusionst_mclust_spread.py``, whose arguments this script takes after its own, e.g. on the GCN alone::

    .venv/bin/python benchmarks/diffusionst_gcn_members.py --members 3 -- --variant no_diffusion \
        --slices 151676 --seeds 0 1 2 3 4 5 6 7 8 9 --mclust-seeds 5 --threads 2 \
        --out benchmarks/out/mclust_spread_no_diffusion_members3_151676.csv

The ``settings`` column of the output starts with the member count. The engine has no such setting: this
script swaps the GCN stage of ``spatialdiffusion.diffusionst._model`` for the run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import diffusionst_mclust_spread
from spatialdiffusion.diffusionst import DiffusionSTConfig, _model as diffusionst_model

SEED_STRIDE = 1000  # member seeds never meet the pipeline seeds 0-999 of another run


def averaged_gcn(members: int) -> Callable[..., tuple[np.ndarray, list[float]]]:
    """A stand-in for ``denoise_gcn`` that averages ``members`` GCNs trained with seeds ``seed + 1000 * k``.

    It returns the mean reconstruction and the loss curve of member 0.
    """
    single = diffusionst_model.denoise_gcn

    def denoise(features: np.ndarray, propagation: sp.csr_matrix, config: DiffusionSTConfig, *,
                counts: sp.csr_matrix | None, seed: int, device: torch.device,
                verbose: bool) -> tuple[np.ndarray, list[float]]:
        runs = [single(features, propagation, config, counts=counts, seed=seed + SEED_STRIDE * k, device=device,
                       verbose=verbose) for k in range(members)]
        mean = np.mean([reconstruction for reconstruction, _ in runs], axis=0, dtype=np.float64)
        return mean.astype(np.float32), runs[0][1]

    return denoise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, required=True, help="GCNs averaged per pipeline seed")
    args, spread_args = parser.parse_known_args()
    if args.members < 1:
        parser.error("--members must be at least 1")
    spread_args = [a for a in spread_args if a != "--"]
    if "--out" not in spread_args:
        parser.error("give diffusionst_mclust_spread.py's --out after --")
    out = Path(spread_args[spread_args.index("--out") + 1])
    diffusionst_model.denoise_gcn = averaged_gcn(args.members)
    sys.argv = [sys.argv[0], *spread_args]
    diffusionst_mclust_spread.main()
    table = pd.read_csv(out)
    table["settings"] = (f"gcn_members={args.members} " + table["settings"].fillna("")).str.strip()
    table.to_csv(out, index=False)


if __name__ == "__main__":
    main()
