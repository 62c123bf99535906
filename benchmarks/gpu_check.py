"""DiffusionST on one GPU: wall time, peak GPU memory and ARI of ``paper`` and ``fast`` in float32 and bf16.

Run it through ``benchmarks/gpu_check.sh`` (see benchmarks/RESULTS.md). Cases, in this order:

- DLPFC 151673 (the shipped example, 3639 spots) and a tile of 16 copies of it side by side (58,224 spots,
  :func:`tiles.tile_slice`), each spot normalised by its whole-transcriptome total (``obs['sum_umi']``);
- presets ``fast`` and ``paper``, each with ``precision="float32"`` and ``"bf16"``.

Each case runs in a fresh process under a time limit, so that one slow case cannot stop the rest and each
peak-memory figure is its own. The limits share one budget (``--budget-s``): a case may use its weight's share
of what is left (a tile ``paper`` case weighs most), and what a case leaves unused passes to those after it.
A case cut off at its limit is recorded as ``timeout`` with the seconds it was given, and with how far each
stage's progress bar had got (column ``progress``: steps done of all, elapsed time and rate), so that its
full time can still be estimated.

Wall time is measured around the call of :func:`spatialdiffusion.diffusionst_arrays`, after a warm-up that
initialises CUDA, with the GPU synchronised on both sides; ``time_*`` are the pipeline's own stage times.
ARI is scored against ``layer_guess_reordered`` with the "NA" spots left out. Clustering uses mclust where
R and rpy2 are installed and scikit-learn's Gaussian mixture otherwise (column ``cluster_backend``).

``--embeddings DIR`` also keeps each case's embedding (``embeddings-<data>-<preset>.npz``, one array per
precision), so that a machine without R can run the GPU stages and a machine with R and mclust can score the
published clustering afterwards: ``gpu_check.py --recluster --embeddings DIR`` clusters each kept embedding
with mclust and the preset's refinement and adds ``ari_mclust`` and ``ari_mclust_unrefined`` to the CSV.

``--toy`` runs the same cases at toy size (every 12th spot of the slice, a tile of 2 copies, 64 genes, a few
epochs and steps) so that the whole check can be tried on a CPU (``--device cpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

CASES = [(data, preset, precision) for data, preset in (("151673", "fast"), ("151673", "paper"), ("tile16", "fast"),
                                                          ("tile16", "paper")) for precision in ("float32", "bf16")]
WEIGHTS = {("151673", "fast"): 1.5, ("151673", "paper"): 2.5, ("tile16", "fast"): 2.0, ("tile16", "paper"): 4.0}
"""Relative share of the remaining budget a case may use (each includes the worker's start, about 10 s)."""
COPIES = 16
TOY_SETTINGS = dict(n_top_genes=64, gcn_epochs=2, train_epochs=1, n_candidates=2, n_keep=1, sampling_steps=1,
                    diffusion_timesteps=50, start_timestep=10, n_pcs=5)
TOY_SPOT_STEP, TOY_COPIES = 12, 2


def case_name(data: str, preset: str, precision: str) -> str:
    return f"{data}-{preset}-{precision}"


def load_data(data: str, toy: bool):
    """The shipped 151673 slice, or its tile (``tile16``); at toy size every 12th spot and 2 copies."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from spatialdiffusion.io import load_example
    from tiles import tile_slice

    adata = load_example("dlpfc_151673")
    if toy:
        adata = adata[::TOY_SPOT_STEP].copy()
    if data == "tile16":
        adata = tile_slice(adata, TOY_COPIES if toy else COPIES)
    return adata


def run_case(data: str, preset: str, precision: str, device: str, toy: bool, embeddings: Path | None) -> dict:
    """Run one case in this process and return its CSV row; with ``embeddings``, save the embedding there."""
    import numpy as np
    import torch

    from spatialdiffusion.diffusionst import diffusionst_arrays
    from spatialdiffusion.metrics import clustering_scores

    adata = load_data(data, toy)
    dev = torch.device(device)
    torch.ones(256, 256, device=dev).matmul(torch.ones(256, 256, device=dev)).sum().item()  # CUDA context and kernels
    synchronize = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    settings = TOY_SETTINGS if toy else {}
    synchronize()
    start = time.perf_counter()
    result = diffusionst_arrays(adata.X, np.asarray(adata.obsm["spatial"], dtype=float), n_clusters=7, preset=preset,
                                device=device, seed=0, verbose=True, library_size=adata.obs["sum_umi"].to_numpy(dtype=float),
                                precision=precision, **settings)
    synchronize()
    wall = time.perf_counter() - start
    if embeddings is not None:
        np.save(embeddings / f"{case_name(data, preset, precision)}.npy", result["embedding"])
    scores = clustering_scores(adata.obs["layer_guess_reordered"], result["domains"])
    return {"n_spots": adata.n_obs, "status": "ok", "wall_s": round(wall, 2),
            "peak_gpu_memory_mib": result["params"].get("peak_gpu_memory_mib"),
            "ari": round(scores["ari"], 4), "ari_unrefined": round(clustering_scores(
                adata.obs["layer_guess_reordered"], result["domains_unrefined"])["ari"], 4),
            "cluster_backend": result["cluster_backend"],
            **{f"time_{stage}": round(seconds, 2) for stage, seconds in result["timings"].items()}}


def last_progress(stderr: str | bytes | None) -> str:
    """The last state of each progress bar in a worker's ``stderr``, e.g. ``"DiffusionST: GCN-ZINB 500/500 [00:04, 110it/s]"``.

    Bars are joined with ``"; "`` in the order they first appeared; ``""`` when there were none.
    """
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    bars: dict[str, str] = {}
    for line in re.split(r"[\r\n]+", stderr or ""):
        found = re.match(r"\s*(?P<desc>.+?):\s+\d+%\|.*?\|\s*(?P<steps>\d+/\d+)\s*\[(?P<time>[^\]]*)\]", line)
        if found:
            bars[found["desc"]] = f"{found['desc']} {found['steps']} [{found['time']}]"
    return "; ".join(bars.values())


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def run_all(args: argparse.Namespace) -> int:
    """Run every case in its own process within the budget, write the CSV and print it; 1 if a case failed."""
    import pandas as pd
    import torch

    by_name = {case_name(*case): case for case in CASES}
    cases = [by_name[name] for name in args.cases] if args.cases else CASES
    machine = dict(device=device_name(args.device), torch=torch.__version__)
    deadline = time.monotonic() + args.budget_s
    rows = []
    for i, (data, preset, precision) in enumerate(cases):
        left = deadline - time.monotonic()
        weights = [WEIGHTS[(d, p)] for d, p, _ in cases[i:]]
        limit = max(1.0, left * weights[0] / sum(weights))
        row = {"case": case_name(data, preset, precision), "data": data, "preset": preset, "precision": precision,
               "limit_s": round(limit)}
        command = [sys.executable, __file__, "--one", row["case"], "--device", args.device, *(["--toy"] if args.toy else []),
                   *(["--embeddings", str(args.embeddings)] if args.embeddings else [])]
        print(f"[gpu_check] {row['case']}: up to {limit:.0f} s", flush=True)
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired as stopped:
            row.update(status="timeout", wall_s=round(time.perf_counter() - start, 1), progress=last_progress(stopped.stderr))
        else:
            if done.returncode == 0:
                row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            else:
                row.update(status="error")
                print(done.stderr[-3000:], file=sys.stderr, flush=True)
        row.update(**machine, load_avg_1min=round(os.getloadavg()[0], 1))
        rows.append(row)
        table = pd.DataFrame(rows)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    if args.embeddings:
        pack_embeddings(args.embeddings)
    columns = ["case", "n_spots", "status", "wall_s", "peak_gpu_memory_mib", "ari", "cluster_backend"]
    print(f"\n{args.out}:\n" + table[[c for c in columns if c in table]].to_string(index=False))
    return 0 if (table["status"] != "error").all() else 1


def pack_embeddings(folder: Path) -> None:
    """Gather the per-case ``.npy`` embeddings into one ``embeddings-<data>-<preset>.npz`` per data and preset."""
    import numpy as np

    for data, preset in WEIGHTS:
        files = {precision: folder / f"{case_name(data, preset, precision)}.npy" for precision in ("float32", "bf16")}
        arrays = {precision: np.load(path) for precision, path in files.items() if path.exists()}
        if arrays:
            np.savez(folder / f"embeddings-{data}-{preset}.npz", **arrays)
        for path in files.values():
            path.unlink(missing_ok=True)


def recluster(args: argparse.Namespace) -> int:
    """Score the kept embeddings with mclust and each preset's refinement; add the ARIs to the CSV."""
    import numpy as np
    import pandas as pd
    import torch

    from spatialdiffusion.cluster import cluster_embedding, refine_labels
    from spatialdiffusion.diffusionst._config import diffusionst_config
    from spatialdiffusion.metrics import clustering_scores

    table = pd.read_csv(args.out)
    for data, preset in WEIGHTS:
        path = args.embeddings / f"embeddings-{data}-{preset}.npz"
        if not path.exists():
            continue
        adata = load_data(data, args.toy)
        truth = adata.obs["layer_guess_reordered"]
        config = diffusionst_config(preset, torch.device("cpu"))[1]
        with np.load(path) as kept:
            for precision in kept.files:
                labels, _ = cluster_embedding(kept[precision], 7, method="mclust", seed=0, mclust_start=config.mclust_start)
                refined = refine_labels(labels, np.asarray(adata.obsm["spatial"], dtype=float), config.refine_neighbors)
                row = table["case"] == case_name(data, preset, precision)
                table.loc[row, "ari_mclust"] = round(clustering_scores(truth, refined)["ari"], 4)
                table.loc[row, "ari_mclust_unrefined"] = round(clustering_scores(truth, labels)["ari"], 4)
                print(f"[gpu_check] {case_name(data, preset, precision)}: mclust ARI "
                      f"{table.loc[row, 'ari_mclust'].iloc[0]}", flush=True)
    table.to_csv(args.out, index=False)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for a dry run)")
    parser.add_argument("--toy", action="store_true", help="toy sizes, for a dry run of the whole check")
    parser.add_argument("--budget-s", type=float, default=420.0, help="seconds all cases may take together (default 420)")
    parser.add_argument("--cases", nargs="+", choices=[case_name(*c) for c in CASES], help="run only these cases, in this order")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "gpu_check.csv")
    parser.add_argument("--embeddings", type=Path, help="folder to keep each case's embedding in (or, with --recluster, "
                        "to read them from)")
    parser.add_argument("--recluster", action="store_true", help="score the embeddings kept in --embeddings with mclust "
                        "and add the ARIs to --out")
    parser.add_argument("--one", choices=[case_name(*c) for c in CASES], help=argparse.SUPPRESS)  # a worker process
    args = parser.parse_args()
    if args.one:
        data, preset, precision = args.one.split("-")
        print(json.dumps(run_case(data, preset, precision, args.device, args.toy, args.embeddings)), flush=True)
        return 0
    if args.recluster:
        if args.embeddings is None:
            parser.error("--recluster needs --embeddings, the folder the GPU run kept the embeddings in")
        return recluster(args)
    if args.embeddings:
        args.embeddings.mkdir(parents=True, exist_ok=True)
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
