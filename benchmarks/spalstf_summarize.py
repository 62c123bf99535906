"""Mean ± SD over seeds of the JSON records written by ``spalstf_eval.py``, as Markdown table rows.

Usage::

    .venv/bin/python benchmarks/spalstf_summarize.py "SpaLSTF fast=benchmarks/out/fast2_s*.json" \\
        "reference kNN=benchmarks/out/knn_s*.json"

Each argument is ``LABEL=GLOB`` (split at the last ``=``); one row per label with every summary metric (median over genes per seed,
then mean ± sample SD over seeds) and the wall times of the runs.
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import numpy as np

METRICS = ("spcc", "ssim", "rmse", "js", "ari", "ami", "nmi", "homo")


def row(label: str, paths: list[str]) -> str:
    """One Markdown table row summarising the records in ``paths``.

    Parameters
    ----------
    label
        First cell of the row.
    paths
        ``spalstf_eval.py`` output files, one per seed.

    Returns
    -------
    str
        ``| label | seeds | metric ... | wall times |``.
    """
    records = [json.loads(Path(path).read_text()) for path in sorted(paths)]
    cells = []
    for metric in METRICS:
        values = np.array([r["summary"][metric] for r in records], dtype=float)
        cells.append(f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values[0]:.3f}")
    seeds = ", ".join(str(r["seed"]) for r in records)
    walls = ", ".join(f"{r['wall_s']:.0f}" for r in records)
    return f"| {label} | {seeds} | " + " | ".join(cells) + f" | {walls} s |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="+", metavar="LABEL=GLOB")
    args = parser.parse_args()
    print("| method | seeds | " + " | ".join(m.upper() if m != "homo" else "Homo" for m in METRICS) + " | wall time |")
    print("|" + "---|" * (len(METRICS) + 3))
    for group in args.groups:
        label, pattern = group.rsplit("=", 1)
        paths = glob.glob(pattern)
        if not paths:
            parser.error(f"no file matches {pattern!r}")
        print(row(label, paths))


if __name__ == "__main__":
    main()
