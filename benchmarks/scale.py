"""DiffusionST and SpaLSTF at scale on tiles of real data: wall time per stage, peak memory, accuracy.

Usage (from the repository root, with the project's .venv)::

    .venv/bin/python benchmarks/scale.py --sizes 1 4 16 --threads 2 --out benchmarks/out/scale_diffusionst.csv
    .venv/bin/python benchmarks/scale.py --method spalstf --sizes 1 4 --threads 2 --out benchmarks/out/scale_spalstf.csv

``--sizes`` lists the numbers of copies k laid out on a grid, each copy's coordinates shifted past the
previous one's (:func:`tiles.tile_slice`); the counts are the real ones and obs names get a ``-<copy>`` suffix.
``--set KEY=VALUE`` (repeatable) passes an engine setting to every size: ``--set diffusion=none`` times the other
DiffusionST stages and their memory alone.

- ``--method diffusionst`` (default): copies of DLPFC 151673 (1, 4, 16, 64 give about 3.6k, 15k, 58k and 233k
  spots), ``obs['layer_guess_reordered']`` (scored) and ``obs['sum_umi']`` (the library sizes) kept. Each size
  runs the public :func:`spatialdiffusion.diffusionst` (``preset="fast"``, ``--seed``, default 0, ``library_size_key="sum_umi"``,
  K = 7, ``return_enhanced`` left at its automatic choice). Accuracy: ARI (NA spots excluded).
- ``--method spalstf``: copies of the spatial side of the Visium task of ``spalstf_real_use.py`` (151676 on its
  200-gene panel, 3,460 spots; 1, 4, 16, 58 give about 3.5k, 14k, 55k and 200k cells), imputing its 100 hidden
  genes from the 151673 reference with the public :func:`spatialdiffusion.spalstf` (``preset="fast"``, ``--seed``, default 0).
  The reference stays the same size, so training costs the same at every size and the rest grows with the cells.
  Accuracy: median SPCC against the measured values.

Each size runs in its own subprocess, so that its peak resident memory (``ru_maxrss``; on CUDA also the peak GPU
memory) is its own. Recorded per size: wall time per stage (the result's timings), peak RSS, the RSS after the
input was built (its own share), accuracy, the CPU time spent in user and in system mode and the minor page faults (a high system share means
time lost to the kernel), the 1-minute load average at start and end. The growth exponent of
total time and of peak RSS is the slope of log(value) on log(size), fitted by least squares over the sizes from
about 10k up (over all sizes when fewer than two are that large).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusionst_dlpfc import DATA  # noqa: E402  (the benchmarks share their data location)
from tiles import tile_slice  # noqa: E402

from spatialdiffusion.cli import parse_setting  # noqa: E402

SLICE = "151673"
LABELS, LIBRARY = "layer_guess_reordered", "sum_umi"
EXPONENT_FROM = 10_000  # spots: the exponents are fitted from the ~15k tile up


def tiled_slice(copies: int, slice_id: str = SLICE) -> ad.AnnData:
    """``copies`` copies of a DLPFC slice of ``../shared/data/dlpfc`` side by side (:func:`tiles.tile_slice`)."""
    return tile_slice(ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad"), copies)


def _current_rss_gib() -> float:
    """Resident memory of this process now (``VmRSS``), GiB."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 2**20


def run_one(copies: int, threads: int, method: str = "diffusionst", overrides: dict | None = None, seed: int = 0) -> dict:
    """``method`` (``fast``, with the engine settings ``overrides``, seeded ``seed``) on the ``copies``-fold tile in this process; one result row."""
    import torch

    torch.set_num_threads(threads)
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    if method == "spalstf":
        row = _spalstf_row(copies, start, overrides or {}, seed)
    else:
        row = _diffusionst_row(copies, start, overrides or {}, seed)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"copies": copies, "threads": threads, "seed": seed, **row,
            "peak_rss_gib": usage.ru_maxrss / 2**20, "cpu_user_s": usage.ru_utime, "cpu_system_s": usage.ru_stime,
            "minor_page_faults": usage.ru_minflt,
            "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan"),
            "load_avg_start": load_start, "load_avg_end": os.getloadavg()[0]}


def _diffusionst_row(copies: int, start: float, overrides: dict, seed: int) -> dict:
    from spatialdiffusion import diffusionst
    from spatialdiffusion.metrics import clustering_scores

    adata = tiled_slice(copies)
    build = time.perf_counter() - start
    rss_input = _current_rss_gib()
    diffusionst(adata, 7, preset="fast", seed=seed, library_size_key=LIBRARY, verbose=False, **overrides)
    record = adata.uns["diffusionst"]
    return {
        "n_spots": adata.n_obs,
        "ari": clustering_scores(adata.obs[LABELS], adata.obs["diffusionst_domain"].to_numpy())["ari"],
        "return_enhanced": record["params"]["return_enhanced"],
        "unet_train_steps": record["stats"].get("unet_train_steps", float("nan")),  # absent with diffusion="none"
        "time_build_tile": build, **{f"time_{k}": v for k, v in record["timings"].items()},
        "rss_input_gib": rss_input, "device": record["params"]["device"],
    }


def _spalstf_row(copies: int, start: float, overrides: dict, seed: int) -> dict:
    from spalstf_real_use import load_task

    from spatialdiffusion.metrics import gene_scores
    from spatialdiffusion.spalstf import spalstf

    task = load_task("visium")
    panel = tile_slice(task.panel, copies)
    truth = np.tile(task.truth, (copies, 1))
    build = time.perf_counter() - start
    rss_input = _current_rss_gib()
    spalstf(panel, task.reference, genes=task.targets, preset="fast", seed=seed, device="cpu", verbose=False, **overrides)
    record = panel.uns["spalstf"]
    imputed = panel.obsm["spalstf"][task.targets].to_numpy()
    return {
        "n_spots": panel.n_obs, "n_reference": task.reference.n_obs, "n_genes_imputed": len(task.targets),
        "spcc": float(np.nanmedian(gene_scores(truth, imputed, task.targets)["spcc"])),
        "time_build_tile": build, **{f"time_{k}": v for k, v in record["timings"].items()},
        "rss_input_gib": rss_input, "device": record["params"]["device"],
    }


def growth_exponents(table: pd.DataFrame, columns: tuple[str, ...] = ("time_total", "peak_rss_gib")) -> dict[str, float]:
    """Least-squares slope of log(column) on log(n_spots), over the sizes from :data:`EXPONENT_FROM` spots up.

    Over all sizes when fewer than two reach it; NaN with fewer than two sizes.
    """
    use = table[table["n_spots"] >= EXPONENT_FROM]
    if len(use) < 2:
        use = table
    if len(use) < 2:
        return {column: float("nan") for column in columns}
    x = np.log(use["n_spots"].to_numpy(float))
    return {column: float(np.polyfit(x, np.log(use[column].to_numpy(float)), 1)[0]) for column in columns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 4, 16], metavar="K",
                        help="copies per tile (DiffusionST: 1, 4, 16, 64 give ~3.6k, 15k, 58k, 233k spots; SpaLSTF: 1, 4, 16, 58 "
                        "give ~3.5k, 14k, 55k, 200k cells)")
    parser.add_argument("--method", choices=("diffusionst", "spalstf"), default="diffusionst")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run")
    parser.add_argument("--out", type=Path, required=True, help="CSV written (and rewritten after each size)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="engine setting for every size, e.g. diffusion=none to time the other stages alone")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print its row as JSON
    args = parser.parse_args()
    if args.one is not None:
        overrides = dict(parse_setting(item) for item in args.set)
        print("ROW " + json.dumps({**run_one(args.one, args.threads, args.method, overrides, args.seed), "settings": " ".join(args.set)}),
              flush=True)
        return
    if min(args.sizes) < 1:
        parser.error("--sizes must be positive numbers of copies")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for copies in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(copies), "--threads", str(args.threads), "--seed", str(args.seed),
                               "--method", args.method, "--out", str(args.out), *[f"--set={item}" for item in args.set]],
                              capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("ROW ")]
        if proc.returncode != 0 or not lines:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"the {copies}-copy tile failed (exit {proc.returncode})")
        rows.append(json.loads(lines[-1][4:]))
        table = pd.DataFrame(rows)
        table.to_csv(args.out, index=False)
        print(table.iloc[[-1]].round(3).to_string(index=False), flush=True)
    shown = ["n_spots", "ari", "spcc", "time_train", "time_sample", "time_validation", "time_preprocess", "time_graph", "time_gcn", "time_diffusion", "time_pca", "time_cluster",
             "time_refine", "time_total", "peak_rss_gib", "return_enhanced", "load_avg_start", "load_avg_end"]
    print("\n" + table[[c for c in shown if c in table]].round(3).to_string(index=False))
    exponents = growth_exponents(table)
    print("growth exponents (log-log slope): " + ", ".join(f"{k} {v:.2f}" for k, v in exponents.items()))


if __name__ == "__main__":
    main()
