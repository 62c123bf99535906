#!/usr/bin/env python3
"""Regenerate ``inst/extdata`` (the example data shipped with both packages) from ``../shared/data``.

Usage::

    .venv/bin/python scripts/make_extdata.py [--data-dir ../shared/data] [--out-dir inst/extdata]

The output is byte-for-byte reproducible: every file is plain text written by this script and
compressed with xz (preset 9, no timestamps). ``inst/extdata/README.md`` documents the format.
"""

from __future__ import annotations

import argparse
import io
import lzma
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from spatialdiffusion.io import DLPFC_FILES, EXAMPLES

REPO = Path(__file__).resolve().parents[1]
SIZE_LIMIT_DLPFC = 5 * 1024**2
SPOT_COLUMNS = ["array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres", "layer_guess_reordered"]


def write_xz(path: Path, text: str) -> int:
    """Write ``text`` xz-compressed to ``path`` and return the compressed size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_XZ, preset=9)
    path.write_bytes(payload)
    return len(payload)


def matrix_market(counts: sp.spmatrix, comment: str) -> str:
    """Integer coordinate MatrixMarket text of ``counts``, entries sorted by row then column."""
    coo = sp.coo_matrix(sp.csr_matrix(counts))
    if not np.all(coo.data == np.round(coo.data)):
        raise ValueError("The counts are not integers; the example data must hold raw counts.")
    body = io.StringIO()
    body.write("%%MatrixMarket matrix coordinate integer general\n")
    for line in comment.splitlines():
        body.write(f"% {line}\n")
    body.write(f"{coo.shape[0]} {coo.shape[1]} {coo.nnz}\n")
    triplets = np.column_stack([coo.row + 1, coo.col + 1, coo.data.astype(np.int64)])
    np.savetxt(body, triplets, fmt="%d", delimiter=" ")
    return body.getvalue()


def make_dlpfc(data_dir: Path, out_dir: Path) -> int:
    """Ship every gene of ``dlpfc/151673.h5ad`` (genes x spots) plus spot metadata and ground truth."""
    adata = ad.read_h5ad(data_dir / "dlpfc" / "151673.h5ad")
    target = out_dir / EXAMPLES["dlpfc_151673"]["path"]
    comment = (
        "DLPFC 10x Visium slice 151673 (Maynard et al. 2021, Nat Neurosci; spatialLIBD).\n"
        f"Raw UMI counts, genes (rows, see genes.csv.xz) x spots (columns, see spots.csv.xz): {adata.n_vars} x {adata.n_obs}."
    )
    size = write_xz(target / DLPFC_FILES["counts"], matrix_market(adata.X.T, comment))
    genes = pd.DataFrame({"gene_id": adata.var_names})
    size += write_xz(target / DLPFC_FILES["genes"], genes.to_csv(index=False))
    spots = adata.obs[SPOT_COLUMNS].copy()
    spots["layer_guess_reordered"] = spots["layer_guess_reordered"].astype(str)
    # whole-transcriptome UMI totals (the library sizes DiffusionST normalises by); the file's 5000 genes hold ~30%
    metadata = pd.read_csv(data_dir / "dlpfc" / "visium_151673" / "metadata.tsv", sep="\t").set_index("barcode")
    spots["sum_umi"] = metadata["sum_umi"].reindex(spots.index).astype(np.int64)
    spots.index.name = "barcode"
    size += write_xz(target / DLPFC_FILES["spots"], spots.to_csv())
    if size > SIZE_LIMIT_DLPFC:
        raise RuntimeError(f"The DLPFC example takes {size} bytes, above the {SIZE_LIMIT_DLPFC}-byte budget.")
    return size


def make_dense(source: Path, target: Path, coordinates: list[str]) -> int:
    """Ship a small dense count matrix as one CSV: ``cell``, the coordinate columns, then one column per gene."""
    adata = ad.read_h5ad(source)
    counts = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    if not np.all(counts == np.round(counts)):
        raise ValueError(f"{source} does not hold integer counts.")
    table = pd.DataFrame(counts.astype(np.int64), index=adata.obs_names, columns=adata.var_names)
    for position, column in enumerate(coordinates):
        table.insert(position, column, adata.obs[column].to_numpy())
    table.index.name = "cell"
    return write_xz(target, table.to_csv())


def main() -> None:
    """Parse the command line and write every example file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("SPATIALDIFFUSION_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=default_data, help="the shared data folder (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "inst" / "extdata", help="output folder (default: %(default)s)")
    args = parser.parse_args()

    sizes = {
        "dlpfc_151673": make_dlpfc(args.data_dir, args.out_dir),
        "osmfish_st": make_dense(
            args.data_dir / "osmfish" / "st_osmfish_33genes.h5ad",
            args.out_dir / EXAMPLES["osmfish_st"]["path"],
            ["x_coord", "y_coord"],
        ),
        "osmfish_ref": make_dense(
            args.data_dir / "osmfish" / "sc_allen_33genes.h5ad", args.out_dir / EXAMPLES["osmfish_ref"]["path"], []
        ),
    }
    for name, size in sizes.items():
        print(f"{name}: {size / 1024**2:.2f} MiB")


if __name__ == "__main__":
    main()
