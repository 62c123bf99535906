"""Summarise benchmarks/out/diffusionst_*.csv (written by diffusionst_dlpfc.py) as a Markdown table.

Usage: .venv/bin/python benchmarks/summarize_diffusionst.py benchmarks/out/diffusionst_*.csv
"""

from __future__ import annotations

import sys

import pandas as pd


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD of ARI per variant and slice, seeds listed, mean wall time per stage."""
    time_cols = [c for c in frame.columns if c.startswith("time_")]
    rows = []
    for (variant, slice_id), group in frame.groupby(["variant", "slice"], sort=False):
        row = {
            "variant": variant,
            "slice": slice_id,
            "seeds": ",".join(str(s) for s in group["seed"]),
            "ARI mean": group["ari"].mean(),
            "ARI SD": group["ari"].std(ddof=1) if len(group) > 1 else float("nan"),
        }
        if "ari_unrefined" in group:
            row["ARI unrefined mean"] = group["ari_unrefined"].mean()
        row.update({c.replace("time_", "") + " s": group[c].mean() for c in time_cols if group[c].notna().any()})
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    cells = table.astype(object).where(table.notna(), "")
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * table.shape[1]]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    frame = pd.concat([pd.read_csv(path, dtype={"slice": str}) for path in sys.argv[1:]], ignore_index=True)
    print(to_markdown(summarise(frame).round(3)))


if __name__ == "__main__":
    main()
