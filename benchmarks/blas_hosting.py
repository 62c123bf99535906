"""How the BLAS that hosts torch changes the engine's speed and numbers (the R-hosted case).

Hosted by R (reticulate), torch's BLAS calls resolve by name to the BLAS that R loaded first, not to
torch's bundled MKL. This script reproduces that in a plain Python process by preloading a BLAS
(``LD_PRELOAD``) and times, for each BLAS: one ``3639 x 4096 @ 4096 x 64`` product and its transpose
(5 times), and the DiffusionST ``fast`` GCN stage (30 epochs) on DLPFC 151673. It also reports the
largest difference of the GCN output from the MKL run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/blas_hosting.py --threads 2 \
        --blas mkl=none reference=/usr/lib/x86_64-linux-gnu/blas/libblas.so.3 \
               openblas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \
        --out benchmarks/out/blas_hosting.csv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

WORKER = r"""
import json, sys, time
import anndata as ad, numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
from spatialdiffusion.checks import check_counts
from spatialdiffusion.diffusionst import diffusionst_config, normalize_log_scale, select_hvg
from spatialdiffusion.diffusionst._stages import denoise_gcn
from spatialdiffusion.graph import propagation_matrix, spatial_adjacency
x, w = torch.randn(3639, 4096), torch.randn(4096, 64)
start = time.perf_counter()
for _ in range(5):
    (x @ w) @ w.T
product = time.perf_counter() - start
adata = ad.read_h5ad(sys.argv[2])
counts = check_counts(adata.X)
features = normalize_log_scale(counts, select_hvg(counts, 4096))
prop = propagation_matrix(spatial_adjacency(np.asarray(adata.obsm["spatial"], float), 4))
_, config = diffusionst_config("fast", torch.device("cpu"))
start = time.perf_counter()
h, _ = denoise_gcn(features, prop, config, counts=None, seed=0, device=torch.device("cpu"), verbose=False)
gcn = time.perf_counter() - start
np.save(sys.argv[3], h)
print(json.dumps({"product_5x_s": product, "gcn_30_epochs_s": gcn}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blas", nargs="+", required=True, help="NAME=PATH pairs; PATH 'none' keeps torch's own MKL")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for item in args.blas:
            name, path = item.split("=", 1)
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads)}
            if path != "none":
                env["LD_PRELOAD"] = path
            h_file = str(Path(tmp) / f"{name}.npy")
            done = subprocess.run([sys.executable, "-c", WORKER, str(args.threads), str(DATA / "dlpfc" / "151673.h5ad"), h_file],
                                  env=env, capture_output=True, text=True, check=True)
            row = {"blas": name, "library": path, "threads": args.threads, **json.loads(done.stdout.strip().splitlines()[-1])}
            outputs[name] = np.load(h_file)
            row["load_avg_1min"] = round(os.getloadavg()[0], 1)
            rows.append(row)
            print(row, flush=True)
    reference = outputs[rows[0]["blas"]]
    for row in rows:
        row[f"max_abs_diff_vs_{rows[0]['blas']}"] = float(np.abs(outputs[row["blas"]] - reference).max())
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
