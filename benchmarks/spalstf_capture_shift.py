"""How far apart are osmFISH and the Allen reference gene by gene? Log ratio of mean expression fractions.

For each of the shared genes, the mean over cells of the gene's fraction of the cell's counts (over the
shared genes) is taken in each data set; the script prints the natural-log ratio osmFISH / Allen per gene,
centred on its mean, and its standard deviation. Cell-type composition differs between the two samples as
well, so this bounds the per-gene capture shift from above; it is the scale that ``capture_jitter`` (a
log-normal per-gene factor) is meant to cover.

Usage (from the repository root)::

    .venv/bin/python benchmarks/spalstf_capture_shift.py
"""

from __future__ import annotations

import numpy as np

from spalstf_eval import read_osmfish_pair
from spatialdiffusion.spalstf._data import as_counts, shared_genes


def mean_fractions(counts: np.ndarray) -> np.ndarray:
    """Mean over cells of each gene's share of the cell's counts (cells without counts left out)."""
    lib = counts.sum(axis=1)
    return (counts[lib > 0] / lib[lib > 0, None]).mean(axis=0)


def main() -> None:
    st, ref = read_osmfish_pair()
    names, st_idx, ref_idx = shared_genes(list(st.var_names), list(ref.var_names))
    st_counts = as_counts(st.X, "st")[:, st_idx]
    ref_counts = as_counts(ref.X, "ref")[:, ref_idx]
    ratio = np.log(mean_fractions(st_counts)) - np.log(mean_fractions(ref_counts))
    centred = ratio - ratio.mean()
    print(f"{len(names)} shared genes; SD of log(osmFISH / Allen) mean fraction: {ratio.std():.2f}")
    for gene, value in sorted(zip(names, centred), key=lambda item: item[1]):
        print(f"{gene:>10s} {value:+.2f}")


if __name__ == "__main__":
    main()
