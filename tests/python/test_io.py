"""Tests of spatialdiffusion.io on the real DLPFC Space Ranger folder and the shipped examples."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from spatialdiffusion import io as sdio


@pytest.fixture(scope="module")
def visium_dir(shared_file: Callable[[str], Path]) -> Path:
    return shared_file("dlpfc/visium_151673")


@pytest.fixture(scope="module")
def visium_old(visium_dir: Path) -> ad.AnnData:
    return sdio.read_visium(visium_dir)


@pytest.fixture()
def visium_copy(visium_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the Space Ranger folder (matrix and image linked, small files copied)."""
    folder = tmp_path / "outs"
    (folder / "spatial").mkdir(parents=True)
    for file in visium_dir.glob("*.h5"):
        (folder / file.name).symlink_to(file)
    for file in (visium_dir / "spatial").iterdir():
        shutil.copy(file, folder / "spatial" / file.name)
    return folder


def to_new_positions_format(folder: Path) -> None:
    """Rewrite ``tissue_positions_list.csv`` as the headered ``tissue_positions.csv`` of Space Ranger 2."""
    old = folder / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(old, header=None, names=list(sdio.POSITION_COLUMNS))
    table.to_csv(folder / "spatial" / "tissue_positions.csv", index=False)
    old.unlink()


def test_read_visium_matches_the_h5ad(visium_old: ad.AnnData, dlpfc_151673: ad.AnnData) -> None:
    ref = dlpfc_151673
    assert visium_old.shape == ref.shape == (3639, 5000)
    assert list(visium_old.obs_names) == list(ref.obs_names)
    assert list(visium_old.var["gene_ids"]) == list(ref.var_names)
    assert visium_old.X.dtype == np.float32
    assert (visium_old.X != ref.X).nnz == 0
    np.testing.assert_array_equal(visium_old.obsm["spatial"], ref.obsm["spatial"])
    for column in sdio.POSITION_COLUMNS[2:]:
        np.testing.assert_array_equal(visium_old.obs[column].to_numpy(), ref.obs[column].to_numpy())


def test_read_visium_stores_scanpy_spatial_uns(visium_old: ad.AnnData) -> None:
    library = visium_old.uns["spatial"]["151673"]
    assert library["scalefactors"]["tissue_lowres_scalef"] == pytest.approx(0.045004502)
    assert library["images"]["lowres"].shape[:2] == (600, 600)
    assert "hires" not in library["images"]
    assert library["metadata"]["chemistry_description"].startswith("Spatial")


def test_new_and_old_position_formats_give_identical_anndata(visium_old: ad.AnnData, visium_copy: Path) -> None:
    to_new_positions_format(visium_copy)
    new = sdio.read_visium(visium_copy, library_id="151673")
    assert list(new.obs_names) == list(visium_old.obs_names)
    assert (new.X != visium_old.X).nnz == 0
    pd.testing.assert_frame_equal(new.obs, visium_old.obs)
    pd.testing.assert_frame_equal(new.var, visium_old.var)
    np.testing.assert_array_equal(new.obsm["spatial"], visium_old.obsm["spatial"])


def test_read_visium_keeps_only_in_tissue_barcodes(visium_copy: Path) -> None:
    positions = visium_copy / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(positions, header=None)
    dropped = table.loc[table[1] == 1, 0].iloc[:5].tolist()
    table.loc[table[0].isin(dropped), 1] = 0
    table.to_csv(positions, header=False, index=False)
    with pytest.warns(UserWarning, match="Dropped 5 of 3639"):
        adata = sdio.read_visium(visium_copy)
    assert adata.n_obs == 3634
    assert not set(dropped) & set(adata.obs_names)


def test_read_visium_library_id_defaults_and_override(visium_copy: Path) -> None:
    assert list(sdio.read_visium(visium_copy, library_id="slice").uns["spatial"]) == ["slice"]


def test_read_visium_errors_name_what_is_missing(visium_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        sdio.read_visium(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="count_file"):
        sdio.read_visium(visium_copy, count_file="raw_feature_bc_matrix.h5")
    (visium_copy / "spatial" / "tissue_positions_list.csv").unlink()
    with pytest.raises(FileNotFoundError, match="tissue_positions.csv"):
        sdio.read_visium(visium_copy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="filtered_feature_bc_matrix.h5"):
        sdio.read_visium(empty)


def test_read_visium_names_the_broken_file(visium_copy: Path) -> None:
    spatial = visium_copy / "spatial"
    (spatial / "scalefactors_json.json").write_text("{not json")
    with pytest.raises(ValueError, match="scalefactors_json.json is not valid JSON"):
        sdio.read_visium(visium_copy)
    positions = spatial / "tissue_positions_list.csv"
    lines = positions.read_text().splitlines()
    positions.write_text("\n".join([lines[0].rsplit(",", 1)[0] + ",not-a-number", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"non-numeric or missing values in column\(s\) \['pxl_col_in_fullres'\]"):
        sdio.read_visium(visium_copy)
    fake = visium_copy / "fake_filtered_feature_bc_matrix.h5"
    fake.write_text("a text file")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        sdio.read_visium(visium_copy, count_file=fake.name)


def test_read_visium_rejects_a_positions_file_without_the_header(visium_copy: Path) -> None:
    old = visium_copy / "spatial" / "tissue_positions_list.csv"
    shutil.copy(old, visium_copy / "spatial" / "tissue_positions.csv")
    with pytest.raises(ValueError, match="lacks the column"):
        sdio.read_visium(visium_copy)


def test_add_annotation_reads_the_ground_truth(visium_old: ad.AnnData, visium_dir: Path, dlpfc_151673: ad.AnnData) -> None:
    adata = visium_old.copy()
    sdio.add_annotation(adata, visium_dir / "metadata.tsv", "layer_guess_reordered", key_added="truth")
    assert isinstance(adata.obs["truth"].dtype, pd.CategoricalDtype)
    truth = adata.obs["truth"].astype(str).to_numpy()
    np.testing.assert_array_equal(truth, dlpfc_151673.obs["layer_guess_reordered"].astype(str).to_numpy())
    assert (truth == "NA").sum() == 28
    with pytest.raises(KeyError, match="not a column"):
        sdio.add_annotation(adata, visium_dir / "metadata.tsv", "no_such_column")


def test_shipped_dlpfc_equals_the_shared_h5ad(dlpfc_151673: ad.AnnData) -> None:
    example = sdio.load_example("dlpfc_151673")
    ref = dlpfc_151673
    assert list(example.obs_names) == list(ref.obs_names)
    assert list(example.var_names) == list(ref.var_names)
    assert example.X.format == "csr" and example.X.dtype == np.float32
    assert (example.X != ref.X).nnz == 0
    np.testing.assert_array_equal(example.obsm["spatial"], ref.obsm["spatial"])
    for column in ("array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"):
        np.testing.assert_array_equal(example.obs[column].to_numpy(), ref.obs[column].to_numpy())
    np.testing.assert_array_equal(
        example.obs["layer_guess_reordered"].astype(str).to_numpy(),
        ref.obs["layer_guess_reordered"].astype(str).to_numpy(),
    )
    assert "Maynard" in example.uns["example"]["citation"]
    # whole-transcriptome library sizes: spatialLIBD's sum_umi, at least the total over the 5000 genes
    assert np.all(example.obs["sum_umi"].to_numpy() >= np.asarray(example.X.sum(axis=1)).ravel())


@pytest.mark.filterwarnings("ignore::anndata.OldFormatWarning")
@pytest.mark.parametrize(
    ("name", "file", "coordinates"),
    [("osmfish_st", "st_osmfish_33genes.h5ad", True), ("osmfish_ref", "sc_allen_33genes.h5ad", False)],
)
def test_shipped_osmfish_equals_the_shared_h5ad(shared_file: Callable[[str], Path], name: str, file: str, coordinates: bool) -> None:
    example = sdio.load_example(name)
    ref = ad.read_h5ad(shared_file(f"osmfish/{file}"))
    assert list(example.obs_names) == list(ref.obs_names)
    assert list(example.var_names) == list(ref.var_names)
    assert example.X.format == "csr"
    np.testing.assert_array_equal(example.X.toarray(), ref.X)
    if coordinates:
        for column in ("x_coord", "y_coord"):
            np.testing.assert_array_equal(example.obs[column].to_numpy(), ref.obs[column].to_numpy())
        np.testing.assert_array_equal(example.obsm["spatial"], ref.obs[["x_coord", "y_coord"]].to_numpy(np.float64))
    else:
        assert "spatial" not in example.obsm


def test_load_example_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="osmfish_ref"):
        sdio.load_example("151673")


def test_extdata_dir_honours_the_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(sdio.EXTDATA_ENV, str(tmp_path))
    assert sdio.extdata_dir() == tmp_path
    monkeypatch.setenv(sdio.EXTDATA_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=sdio.EXTDATA_ENV):
        sdio.extdata_dir()


def test_spatial_coordinates_fall_back_to_obs_columns() -> None:
    adata = ad.AnnData(np.zeros((3, 2), dtype=np.float32))
    adata.obs["x"] = [0.0, 1.0, 2.0]
    adata.obs["y"] = [5.0, 4.0, 3.0]
    np.testing.assert_array_equal(sdio.spatial_coordinates(adata), [[0, 5], [1, 4], [2, 3]])
    adata.obsm["spatial"] = np.array([[1.0, 2.0, 9.0]] * 3)
    np.testing.assert_array_equal(sdio.spatial_coordinates(adata), [[1, 2]] * 3)  # obsm first, first two columns
    bare = ad.AnnData(np.zeros((3, 2), dtype=np.float32))
    assert sdio.spatial_coordinates(bare, required=False) is None
    with pytest.raises(KeyError, match="x_coord/y_coord, x/y"):
        sdio.spatial_coordinates(bare)
    # a key the user names is never replaced by obs columns, even when coordinates are optional
    with pytest.raises(KeyError, match="`spatial_key`='spatail' is not a key of adata.obsm"):
        sdio.spatial_coordinates(adata, "spatail", required=False)
