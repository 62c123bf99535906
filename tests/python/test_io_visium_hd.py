"""Reading Space Ranger 2+ and Visium HD folders, and the spatial graph on a square grid of bins.

Real Visium HD output is not part of the shared data, so the tests build the layouts from the DLPFC 151673
Space Ranger folder (``dlpfc/visium_151673``):

- Space Ranger 2 (``spatial/tissue_positions.csv`` with a header) and Parquet (``tissue_positions.parquet``)
  folders hold the same spots, matrix and scale factors as the source;
- a Visium HD run (``binned_outputs/square_008um`` and ``square_016um``) treats each Visium spot as an 8 um
  bin: spot ``(array_row, array_col)`` becomes bin ``(array_row, array_col // 2)`` (Visium's columns of one
  row share a parity, so this is one-to-one), placed on an exact square pixel lattice. The 16 um bins sum
  the in-tissue counts of their 2 x 2 blocks of 8 um bins, as Space Ranger bins its 2 um squares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from spatialdiffusion import io as sdio
from spatialdiffusion.cli import _read_input, build_parser, main
from spatialdiffusion.graph import knn_indices, spatial_adjacency

MICRONS_PER_PIXEL = 0.5  # a power of two: bin centres fall on an exact lattice in float64 (exact distance ties)
ORIGIN = (1000.25, 2000.75)  # pixel (row, col) of bin (0, 0)'s corner: non-integer, as Visium HD's pixel positions


# ---------------------------------------------------------------------------------------------------------
# building the folders
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(shared_file: Callable[[str], Path]) -> Path:
    return shared_file("dlpfc/visium_151673")


@pytest.fixture(scope="module")
def original(source: Path) -> ad.AnnData:
    return sdio.read_visium(source)


def source_positions(source: Path) -> pd.DataFrame:
    return pd.read_csv(source / "spatial" / "tissue_positions_list.csv", header=None, names=list(sdio.POSITION_COLUMNS))


def link_matrix_and_images(source: Path, folder: Path) -> None:
    """A Visium folder beside ``source``: the same matrix, scale factors and images, positions left to write."""
    (folder / "spatial").mkdir(parents=True)
    for file in source.glob("*.h5"):
        (folder / file.name).symlink_to(file)
    for file in (source / "spatial").iterdir():
        if not file.name.startswith("tissue_positions"):
            (folder / "spatial" / file.name).symlink_to(file)


def write_10x_h5(file: Path, counts: sp.csr_matrix, barcodes: list[str], var: pd.DataFrame, library_id: str) -> None:
    """Write ``counts`` (barcodes x genes) as a 10x HDF5 v3 feature-barcode matrix."""
    by_barcode = sp.csc_matrix(counts.T)  # genes x barcodes, stored column by column as Space Ranger does
    with h5py.File(file, "w") as h5:
        h5.attrs["library_ids"] = np.array([library_id.encode()])
        h5.attrs["chemistry_description"] = "Visium HD v1 (built from Visium 151673 for the tests)"
        h5.attrs["software_version"] = "spaceranger (test layout)"
        group = h5.create_group("matrix")
        group["barcodes"] = np.array([b.encode() for b in barcodes])
        group["data"] = by_barcode.data.astype(np.int32)
        group["indices"] = by_barcode.indices.astype(np.int64)
        group["indptr"] = by_barcode.indptr.astype(np.int64)
        group["shape"] = np.array(by_barcode.shape, dtype=np.int32)
        features = group.create_group("features")
        features["id"] = np.array([g.encode() for g in var["gene_ids"]])
        features["name"] = np.array([g.encode() for g in var.index])
        features["feature_type"] = np.array([g.encode() for g in var["feature_types"]])
        features["genome"] = np.array([g.encode() for g in var["genome"]])


def write_bins(folder: Path, bins: pd.DataFrame, counts: sp.csr_matrix, var: pd.DataFrame, scalefactors: dict) -> None:
    """One ``square_<NNN>um`` folder: the filtered matrix (in-tissue bins) and ``spatial/`` with Parquet positions."""
    (folder / "spatial").mkdir(parents=True)
    in_tissue = bins["in_tissue"].to_numpy() == 1
    write_10x_h5(folder / "filtered_feature_bc_matrix.h5", counts[in_tissue], list(bins["barcode"][in_tissue]), var, "hd_run")
    bins[list(sdio.POSITION_COLUMNS)].to_parquet(folder / "spatial" / "tissue_positions.parquet", index=False)
    (folder / "spatial" / "scalefactors_json.json").write_text(json.dumps(scalefactors))


def build_visium_hd(source: Path, original: ad.AnnData, run: Path) -> dict[int, dict]:
    """A Visium HD run folder ``run`` with 8 and 16 um bins; returns, per bin size, what the folder holds."""
    spots = source_positions(source).set_index("barcode")
    lowres = json.loads((source / "spatial" / "scalefactors_json.json").read_text())["tissue_lowres_scalef"]
    # every spot of the array is an 8 um bin; only the in-tissue ones have counts (the filtered matrix)
    rows_in_matrix = spots.index.get_indexer(original.obs_names)
    place = sp.csr_matrix((np.ones(original.n_obs, dtype=np.float32), (rows_in_matrix, np.arange(original.n_obs))),
                          shape=(len(spots), original.n_obs))  # fmt: skip
    counts8 = sp.csr_matrix(place @ original.X)
    row8 = spots["array_row"].to_numpy()
    col8 = spots["array_col"].to_numpy() // 2
    layouts: dict[int, dict] = {}
    for size in (8, 16):
        factor = size // 8
        row, col = row8 // factor, col8 // factor
        key = pd.MultiIndex.from_arrays([row, col])
        unique = key.unique().sort_values()
        member = unique.get_indexer(key)  # 8 um bin -> its bin of this size
        tissue8 = spots["in_tissue"].to_numpy() == 1
        aggregate = sp.csr_matrix((tissue8.astype(np.float32), (member, np.arange(len(spots)))), shape=(len(unique), len(spots)))
        step = size / MICRONS_PER_PIXEL
        r = unique.get_level_values(0).to_numpy()
        c = unique.get_level_values(1).to_numpy()
        bins = pd.DataFrame(
            {
                "barcode": [f"s_{size:03d}um_{i:05d}_{j:05d}-1" for i, j in zip(r, c)],
                "in_tissue": (aggregate @ np.ones(len(spots)) > 0).astype(np.int64),
                "array_row": r,
                "array_col": c,
                "pxl_row_in_fullres": ORIGIN[0] + (r + 0.5) * step,
                "pxl_col_in_fullres": ORIGIN[1] + (c + 0.5) * step,
            }
        )
        scalefactors = {
            "spot_diameter_fullres": step,
            "bin_size_um": float(size),
            "microns_per_pixel": MICRONS_PER_PIXEL,
            "tissue_lowres_scalef": lowres,
            "tissue_hires_scalef": 0.15,
            "regist_target_img_scalef": 0.3,
        }
        counts = sp.csr_matrix(aggregate @ counts8)
        write_bins(run / "binned_outputs" / f"square_{size:03d}um", bins, counts, original.var, scalefactors)
        in_tissue = bins["in_tissue"].to_numpy() == 1
        layouts[size] = {"bins": bins[in_tissue].reset_index(drop=True), "counts": counts[in_tissue], "scalefactors": scalefactors}
    (run / "spatial").mkdir()  # Space Ranger also writes the run's images here; read_visium reads the bins' own
    return layouts


@pytest.fixture(scope="module")
def visium_hd(source: Path, original: ad.AnnData, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, dict]]:
    run = tmp_path_factory.mktemp("visium_hd") / "outs"
    run.mkdir()
    return run, build_visium_hd(source, original, run)


# ---------------------------------------------------------------------------------------------------------
# Visium: Space Ranger 2 CSV with a header and Parquet positions
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["tissue_positions.csv", "tissue_positions.parquet"])
def test_positions_with_a_header_read_as_the_source(source: Path, original: ad.AnnData, tmp_path: Path, file: str) -> None:
    folder = tmp_path / "outs"
    link_matrix_and_images(source, folder)
    table = source_positions(source)
    if file.endswith(".parquet"):
        table.to_parquet(folder / "spatial" / file, index=False)
    else:
        table.to_csv(folder / "spatial" / file, index=False)
    adata = sdio.read_visium(folder)
    assert adata.shape == original.shape == (3639, 5000)
    assert list(adata.obs_names) == list(original.obs_names)
    assert (adata.X != original.X).nnz == 0
    pd.testing.assert_frame_equal(adata.obs, original.obs)
    pd.testing.assert_frame_equal(adata.var, original.var)
    np.testing.assert_array_equal(adata.obsm["spatial"], original.obsm["spatial"])
    assert list(adata.uns["spatial"]) == ["151673"]
    library, expected = adata.uns["spatial"]["151673"], original.uns["spatial"]["151673"]
    assert library["scalefactors"] == expected["scalefactors"]
    assert library["metadata"] == expected["metadata"] and "bin_size_um" not in library["metadata"]
    np.testing.assert_array_equal(library["images"]["lowres"], expected["images"]["lowres"])
    # in-tissue spots only: the source marks 3639 of its 4992 array spots in tissue
    assert (table["in_tissue"] == 1).sum() == adata.n_obs and len(table) == 4992


def test_parquet_positions_are_preferred_and_filter_in_tissue(source: Path, original: ad.AnnData, tmp_path: Path) -> None:
    folder = tmp_path / "outs"
    link_matrix_and_images(source, folder)
    table = source_positions(source)
    table.to_csv(folder / "spatial" / "tissue_positions_list.csv", header=False, index=False)
    dropped = list(original.obs_names[[3, 100, 2000]])
    table.loc[table["barcode"].isin(dropped), "in_tissue"] = 0
    table = table[table["barcode"] != original.obs_names[7]]  # a matrix barcode without a position
    table.to_parquet(folder / "spatial" / "tissue_positions.parquet", index=False)
    with pytest.warns(UserWarning, match="Dropped 4 of 3639"):
        adata = sdio.read_visium(folder)
    assert adata.n_obs == 3635
    assert not set(dropped + [original.obs_names[7]]) & set(adata.obs_names)
    kept = original[adata.obs_names]
    np.testing.assert_array_equal(adata.obsm["spatial"], kept.obsm["spatial"])


def test_parquet_positions_errors_name_the_file(source: Path, tmp_path: Path) -> None:
    folder = tmp_path / "outs"
    link_matrix_and_images(source, folder)
    parquet = folder / "spatial" / "tissue_positions.parquet"
    source_positions(source).drop(columns="array_col").to_parquet(parquet, index=False)
    with pytest.raises(ValueError, match=r"tissue_positions.parquet lacks the column\(s\) \['array_col'\]"):
        sdio.read_visium(folder)
    parquet.write_text("barcode,in_tissue\n")
    with pytest.raises(ValueError, match="tissue_positions.parquet could not be read as a Parquet table"):
        sdio.read_visium(folder)
    parquet.unlink()
    with pytest.raises(FileNotFoundError, match="'tissue_positions.parquet' \\(Visium HD\\), 'tissue_positions.csv'"):
        sdio.read_visium(folder)


# ---------------------------------------------------------------------------------------------------------
# Visium HD
# ---------------------------------------------------------------------------------------------------------


def check_bins(adata: ad.AnnData, layout: dict, size: int) -> None:
    """``adata`` holds exactly the in-tissue bins of ``layout``, in matrix order, with their positions."""
    bins = layout["bins"]
    assert list(adata.obs_names) == list(bins["barcode"])
    assert adata.X.dtype == np.float32 and adata.X.format == "csr"
    assert (adata.X != layout["counts"]).nnz == 0
    for column in ("array_row", "array_col"):
        assert adata.obs[column].dtype == np.int64
        np.testing.assert_array_equal(adata.obs[column].to_numpy(), bins[column].to_numpy())
    for column in ("pxl_row_in_fullres", "pxl_col_in_fullres"):
        assert adata.obs[column].dtype == np.float64  # Visium HD's pixel positions are not whole numbers
        np.testing.assert_array_equal(adata.obs[column].to_numpy(), bins[column].to_numpy())
    np.testing.assert_array_equal(adata.obsm["spatial"], bins[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy())
    assert list(adata.uns["spatial"]) == ["hd_run"]  # the library id stored in the matrix
    library = adata.uns["spatial"]["hd_run"]
    assert library["scalefactors"] == layout["scalefactors"]
    assert library["scalefactors"]["bin_size_um"] == size and library["scalefactors"]["microns_per_pixel"] == MICRONS_PER_PIXEL
    assert library["metadata"]["bin_size_um"] == size
    assert library["metadata"]["chemistry_description"].startswith("Visium HD")


def test_visium_hd_run_reads_16um_bins_by_default(visium_hd: tuple[Path, dict[int, dict]], original: ad.AnnData) -> None:
    run, layouts = visium_hd
    adata = sdio.read_visium(run)
    check_bins(adata, layouts[16], 16)
    assert adata.n_obs == len(layouts[16]["bins"]) < original.n_obs
    # 16 um bins sum their 8 um bins: no count is lost or made up
    np.testing.assert_array_equal(np.asarray(adata.X.sum(axis=0)).ravel(), np.asarray(original.X.sum(axis=0)).ravel())
    pd.testing.assert_frame_equal(adata.var, original.var)


def test_visium_hd_bin_size_chooses_the_bins(visium_hd: tuple[Path, dict[int, dict]], original: ad.AnnData) -> None:
    run, layouts = visium_hd
    adata = sdio.read_visium(run, bin_size=8)
    check_bins(adata, layouts[8], 8)
    # 8 um bins are the Visium spots: the in-tissue spots' counts, in the order of the bins' matrix
    assert adata.n_obs == original.n_obs
    order = pd.MultiIndex.from_arrays([original.obs["array_row"], original.obs["array_col"] // 2])
    back = order.get_indexer(pd.MultiIndex.from_arrays([adata.obs["array_row"], adata.obs["array_col"]]))
    assert (back >= 0).all()
    assert (adata.X != original.X[back]).nnz == 0
    # the same bins from the binned_outputs folder and from the bin folder itself
    for path, size in ((run / "binned_outputs", 8), (run / "binned_outputs" / "square_008um", None), (run / "binned_outputs" / "square_008um", 8)):
        again = sdio.read_visium(path, bin_size=size)
        assert list(again.obs_names) == list(adata.obs_names) and (again.X != adata.X).nnz == 0
        assert again.uns["spatial"]["hd_run"]["metadata"]["bin_size_um"] == 8


def test_visium_hd_default_falls_back_to_8um(visium_hd: tuple[Path, dict[int, dict]], tmp_path: Path) -> None:
    run, layouts = visium_hd
    only8 = tmp_path / "outs"
    (only8 / "binned_outputs").mkdir(parents=True)
    (only8 / "binned_outputs" / "square_008um").symlink_to(run / "binned_outputs" / "square_008um")
    (only8 / "binned_outputs" / "square_002um").mkdir()
    adata = sdio.read_visium(only8)
    check_bins(adata, layouts[8], 8)
    with pytest.raises(FileNotFoundError, match="No count matrix in .*square_002um"):
        sdio.read_visium(only8, bin_size=2)


def test_visium_hd_errors_name_the_bin_sizes(visium_hd: tuple[Path, dict[int, dict]], source: Path, tmp_path: Path) -> None:
    run, _ = visium_hd
    with pytest.raises(ValueError, match=r"`bin_size`=2: .* no 'square_002um' folder; available bin sizes: 8 \(square_008um\), 16 \(square_016um\)"):
        sdio.read_visium(run, bin_size=2)
    with pytest.raises(ValueError, match="`bin_size`=16 disagrees with the bin folder 'square_008um'"):
        sdio.read_visium(run / "binned_outputs" / "square_008um", bin_size=16)
    with pytest.raises(ValueError, match="`bin_size`=8 applies to Visium HD output only"):
        sdio.read_visium(source, bin_size=8)
    for bad in (0, 8.0, True):
        with pytest.raises(ValueError, match="`bin_size` must be a positive integer"):
            sdio.read_visium(run, bin_size=bad)  # type: ignore[arg-type]
    only2 = tmp_path / "only2"
    (only2 / "binned_outputs" / "square_002um").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"neither 16 um nor 8 um bins \(it has 2 \(square_002um\)\); choose the bin size with `bin_size`"):
        sdio.read_visium(only2)
    empty_binned = tmp_path / "empty" / "binned_outputs"
    empty_binned.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="holds no Visium HD bin folder"):
        sdio.read_visium(empty_binned.parent)


def test_a_folder_with_no_layout_names_the_files_looked_for(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not Space Ranger output")
    with pytest.raises(FileNotFoundError) as info:
        sdio.read_visium(tmp_path)
    message = str(info.value)
    for name in ("*filtered_feature_bc_matrix.h5", "spatial/", *sdio.POSITION_FILES, "scalefactors_json.json",
                 "binned_outputs/square_<NNN>um/"):  # fmt: skip
        assert name in message


# ---------------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------------


def test_cli_reads_visium_hd_folders(visium_hd: tuple[Path, dict[int, dict]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, layouts = visium_hd
    for command in (["diffusionst", str(run), "--n-clusters", "7", "--out", "o.h5ad"], ["spalstf", str(run), "r.h5ad", "--out", "o.h5ad"],
                    ["evaluate", str(run), "r.h5ad", "--out", "m.csv"]):  # fmt: skip
        assert build_parser().parse_args(command).bin_size is None
        assert build_parser().parse_args([*command, "--bin-size", "8"]).bin_size == 8
    assert _read_input(run, "INPUT").n_obs == len(layouts[16]["bins"])
    assert _read_input(run, "INPUT", bin_size=8).n_obs == len(layouts[8]["bins"])
    h5ad = tmp_path / "x.h5ad"
    ad.AnnData(np.zeros((2, 2), dtype=np.float32)).write_h5ad(h5ad)
    out = str(tmp_path / "o.h5ad")
    for argv, message in (
        ([str(run), "--bin-size", "2"], "`bin_size`=2: "),
        ([str(h5ad), "--bin-size", "8"], "--bin-size chooses the bins of a Visium HD Space Ranger folder, but INPUT"),
    ):
        assert main(["diffusionst", *argv, "--n-clusters", "7", "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err
    with pytest.raises(SystemExit):
        main(["diffusionst", str(run), "--n-clusters", "7", "--out", out, "--bin-size", "0"])
    assert "--bin-size" in capsys.readouterr().err
    assert not os.path.exists(out)


# ---------------------------------------------------------------------------------------------------------
# the spatial graph on a square grid of bins
# ---------------------------------------------------------------------------------------------------------


def lattice_neighbours(rows: np.ndarray, cols: np.ndarray) -> tuple[list[set[int]], np.ndarray]:
    """Each bin's 4 lattice neighbours (those present), and whether all 4 are present."""
    where = {(r, c): i for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist()))}
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    neighbours = [{where[(r + dr, c + dc)] for dr, dc in steps if (r + dr, c + dc) in where} for r, c in zip(rows.tolist(), cols.tolist())]
    return neighbours, np.array([len(n) == 4 for n in neighbours])


@pytest.mark.parametrize("angle", [0.0, 0.3])
def test_graph_on_a_square_grid_links_lattice_neighbours(angle: float) -> None:
    # a full 12 x 12 grid of 16 um bins: exact pixel lattice (angle 0) or a rotated one, as registration gives
    rows, cols = (g.ravel() for g in np.meshgrid(np.arange(12), np.arange(12), indexing="ij"))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    coords = 32.0 * np.column_stack([cols, rows]) @ rotation.T + np.array([2000.75, 1000.25])
    neighbours, interior = lattice_neighbours(rows, cols)
    idx = knn_indices(coords, 4)
    np.testing.assert_array_equal(knn_indices(coords, 4), idx)  # deterministic
    for i in range(len(coords)):
        chosen = set(idx[i].tolist())
        assert neighbours[i] <= chosen  # every lattice neighbour is taken ...
        if interior[i]:
            assert chosen == neighbours[i]  # ... and nothing else when the bin has all 4
        else:  # an edge or corner bin fills its 4 with the nearest other bins (a tie between equidistant ones)
            dist = np.linalg.norm(coords[idx[i]] - coords[i], axis=1)
            others = np.linalg.norm(np.delete(coords, [i, *idx[i]], axis=0) - coords[i], axis=1)
            assert dist.max() <= others.min() * (1 + 1e-12)
    adj = spatial_adjacency(coords, 4)
    inner = (rows >= 2) & (rows <= 9) & (cols >= 2) & (cols <= 9)  # not reached by an edge bin's diagonal pick
    for i in np.flatnonzero(inner):
        assert set(adj[i].indices.tolist()) == neighbours[i]


def test_graph_on_visium_hd_bins(visium_hd: tuple[Path, dict[int, dict]]) -> None:
    run, _ = visium_hd
    for size in (8, 16):
        adata = sdio.read_visium(run, bin_size=size)
        rows, cols = adata.obs["array_row"].to_numpy(), adata.obs["array_col"].to_numpy()
        neighbours, interior = lattice_neighbours(rows, cols)
        idx = knn_indices(adata.obsm["spatial"], 4)
        assert interior.sum() > 0.6 * adata.n_obs
        for i in np.flatnonzero(interior):
            assert set(idx[i].tolist()) == neighbours[i]
        step = size / MICRONS_PER_PIXEL
        nearest = np.linalg.norm(adata.obsm["spatial"][idx[:, 0]] - adata.obsm["spatial"], axis=1)
        assert np.all(nearest[interior] == step)
