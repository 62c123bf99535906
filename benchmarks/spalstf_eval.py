"""Run the published 5-fold SpaLSTF evaluation (or the reference-kNN baseline) on osmFISH + Allen scRNA-seq.

Usage::

    .venv/bin/python benchmarks/spalstf_eval.py --method spalstf --preset fast --seed 0 \\
        --set epochs=60 --out benchmarks/out/spalstf_fast_s0.json
    .venv/bin/python benchmarks/spalstf_eval.py --method knn --out benchmarks/out/knn.json

Writes one JSON file with the summary medians, per-gene table, settings, timings and versions.
The data folder is ``$SPATIALDIFFUSION_DATA`` or ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import anndata as ad
import numpy as np
import torch

from spatialdiffusion._utils import package_versions
from spatialdiffusion.cli import parse_setting
from spatialdiffusion.io import spatial_coordinates
from spatialdiffusion.spalstf import evaluate_spalstf_arrays
from spatialdiffusion.spalstf._data import as_counts, shared_genes
from spatialdiffusion.spalstf._evaluate import cross_validate, knn_imputer

DATA = Path(os.environ.get("SPATIALDIFFUSION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def read_osmfish_pair() -> tuple[ad.AnnData, ad.AnnData]:
    """The osmFISH cells and the Allen scRNA-seq reference of ``DATA/osmfish`` (spec "Dataset1")."""
    return ad.read_h5ad(DATA / "osmfish" / "st_osmfish_33genes.h5ad"), ad.read_h5ad(DATA / "osmfish" / "sc_allen_33genes.h5ad")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("spalstf", "knn"), default="spalstf")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--k", type=int, default=30, help="neighbours of the kNN baseline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="SpaLSTF setting override")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is faster when the 2 cores are shared)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--imputed-out", help="also save the imputed matrix (cells x shared genes, .npz) for re-scoring")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    st, ref = read_osmfish_pair()
    overrides = dict(parse_setting(item) for item in args.set)
    start = time.perf_counter()
    if args.method == "spalstf":
        res = evaluate_spalstf_arrays(
            st.X, list(st.var_names), ref.X, list(ref.var_names), st_coords=spatial_coordinates(st, required=False),
            n_folds=args.folds, preset=args.preset, device="cpu", seed=args.seed, verbose=False, **overrides,
        )
        per_gene, summary, params = res["per_gene"], res["summary"], res["params"]
    else:
        names, si, ri = shared_genes(list(st.var_names), list(ref.var_names))
        res = cross_validate(as_counts(st.X, "st")[:, si], as_counts(ref.X, "ref")[:, ri], names, knn_imputer(args.k), n_folds=args.folds, seed=args.seed, verbose=False)
        per_gene, summary, params = {k: v.tolist() for k, v in res["per_gene"].items()}, res["summary"], {"k": args.k}
    wall = time.perf_counter() - start
    if args.imputed_out:
        np.savez_compressed(args.imputed_out, imputed=res["imputed"], genes=np.array(list(per_gene["gene"]), dtype=str))
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), platform.processor())
    record = {
        "method": args.method, "preset": args.preset, "seed": args.seed, "overrides": overrides, "threads": args.threads, "summary": summary,
        "wall_s": wall, "timings": res["timings"], "params": params, "per_gene": per_gene,
        "machine": {"cpu": model, "cores": os.cpu_count(), "load_avg_end": os.getloadavg()}, "versions": package_versions(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1, default=str))
    print(json.dumps({"summary": summary, "wall_s": round(wall, 1)}, default=str))


if __name__ == "__main__":
    main()
