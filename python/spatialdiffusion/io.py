"""Reading spatial transcriptomics data: Space Ranger folders, spot annotations and the shipped examples.

Three entry points:

- :func:`read_visium` turns a 10x Space Ranger output folder (Visium spots, or one bin size of a Visium HD
  run) into an AnnData with raw counts in ``X`` and spot or bin positions in ``obsm['spatial']``
  (``[pxl_col, pxl_row]``, the scanpy convention).
- :func:`add_annotation` copies one column of a per-barcode table (e.g. spatialLIBD ``metadata.tsv``)
  into ``obs``.
- :func:`load_example` loads the small real datasets shipped in ``inst/extdata`` (one copy serves both
  the R and the Python package; the file format is described in ``inst/extdata/README.md``).
"""

from __future__ import annotations

import json
import lzma
import os
import re
import sys
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

__all__ = ["EXAMPLES", "add_annotation", "extdata_dir", "load_example", "read_visium"]

POSITION_COLUMNS = (
    "barcode",
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
)
"""Columns of a Space Ranger tissue-positions file, in file order."""

POSITION_FILES = ("tissue_positions.parquet", "tissue_positions.csv", "tissue_positions_list.csv")
"""Tissue-positions files inside ``spatial/``, in the order they are looked for: Parquet (Visium HD), CSV with a
header (Space Ranger >= 2.0) and the headerless CSV of older versions."""

VISIUM_HD_BIN_FOLDER = re.compile(r"square_(\d{3})um")
"""Name of a Visium HD bin folder inside ``binned_outputs`` (``square_008um`` holds the 8 um bins)."""

VISIUM_HD_DEFAULT_BIN_SIZES = (16, 8)
"""Bin sizes (um) :func:`read_visium` reads from a Visium HD run when ``bin_size`` is not given, in order of
preference."""

EXTDATA_ENV = "SPATIALDIFFUSION_EXTDATA"
"""Environment variable that points :func:`extdata_dir` at a copy of ``inst/extdata``."""

DLPFC_FILES = {"counts": "counts.mtx.xz", "genes": "genes.csv.xz", "spots": "spots.csv.xz"}
"""File names inside ``inst/extdata/dlpfc_151673``."""

EXAMPLES: dict[str, dict[str, str]] = {
    "dlpfc_151673": {
        "path": "dlpfc_151673",
        "description": "Human DLPFC 10x Visium slice 151673: 3639 spots x 5000 genes, raw UMI counts, "
        "ground truth obs['layer_guess_reordered'] (Layer1..Layer6, WM, 'NA'); K = 7.",
        "citation": "Maynard KR et al. (2021) Transcriptome-scale spatial gene expression in the human "
        "dorsolateral prefrontal cortex. Nat Neurosci 24:425-436 (spatialLIBD).",
    },
    "osmfish_st": {
        "path": "osmfish/osmfish_st.csv.xz",
        "description": "osmFISH mouse somatosensory cortex: 3405 cells x 33 genes, raw counts, "
        "coordinates obs['x_coord', 'y_coord'].",
        "citation": "Codeluppi S et al. (2018) Spatial organization of the somatosensory cortex revealed by "
        "osmFISH. Nat Methods 15:932-935.",
    },
    "osmfish_ref": {
        "path": "osmfish/allen_ref.csv.xz",
        "description": "Allen Institute mouse cortex scRNA-seq (SMART-seq), the same 33 genes: 5613 cells, "
        "raw counts; the reference paired with 'osmfish_st'.",
        "citation": "Tasic B et al. (2016) Adult mouse cortical cell taxonomy revealed by single cell "
        "transcriptomics. Nat Neurosci 19:335-346; Tasic B et al. (2018) Shared and distinct "
        "transcriptomic cell types across neocortical areas. Nature 563:72-78.",
    },
}
"""The shipped example datasets: name -> path under ``inst/extdata``, description and citation."""


# ---------------------------------------------------------------------------------------------------------
# Space Ranger folders
# ---------------------------------------------------------------------------------------------------------


def read_visium(
    path: str | os.PathLike,
    count_file: str | None = None,
    *,
    library_id: str | None = None,
    bin_size: int | None = None,
) -> ad.AnnData:
    """Read a 10x Visium or Visium HD Space Ranger output folder.

    Parameters
    ----------
    path
        One of:

        - a Visium ``outs`` folder: the filtered feature-barcode matrix (10x HDF5,
          ``*filtered_feature_bc_matrix.h5``) beside a ``spatial/`` folder with the tissue positions
          (:data:`POSITION_FILES`: ``tissue_positions.parquet``, ``tissue_positions.csv`` with a header as
          written by Space Ranger >= 2.0, or the headerless ``tissue_positions_list.csv`` of older versions)
          and ``scalefactors_json.json``;
        - a Visium HD ``outs`` folder, holding ``binned_outputs/square_002um``, ``square_008um``,
          ``square_016um``, ... (each laid out as a Visium folder), or its ``binned_outputs`` folder: the
          bins of size ``bin_size`` are read;
        - one bin folder such as ``binned_outputs/square_008um``.
    count_file
        File name of the count matrix inside the folder that is read (the bin folder for Visium HD). By
        default the single file matching ``*filtered_feature_bc_matrix.h5`` is used.
    library_id
        Key under ``uns['spatial']``. Defaults to the library id stored in the HDF5 file, else the name of
        the Space Ranger folder (for Visium HD, the folder that holds ``binned_outputs``).
    bin_size
        Visium HD only: the bin size in um, e.g. ``8`` reads ``binned_outputs/square_008um``. By default
        16 um bins when the run has them, else 8 um. With a bin folder as ``path`` it must agree with the
        folder's name.

    Returns
    -------
    anndata.AnnData
        Spots (or bins) x genes, raw counts in ``X`` (CSR float32), restricted to the in-tissue barcodes of
        the matrix and kept in matrix order.

        - ``var_names``: gene symbols made unique; ``var['gene_ids']``, ``var['feature_types']``,
          ``var['genome']``.
        - ``obs['array_row', 'array_col']`` (int64) and ``obs['pxl_row_in_fullres', 'pxl_col_in_fullres']``
          (int64 when the file stores integers, as Visium does; float64 otherwise, as Visium HD does).
        - ``obsm['spatial']``: ``[pxl_col_in_fullres, pxl_row_in_fullres]`` as float64 (full-resolution
          image pixels).
        - ``uns['spatial'][library_id]``: ``scalefactors`` (the JSON file as written, including Visium HD's
          ``bin_size_um`` and ``microns_per_pixel``), ``images`` (``lowres``/``hires`` when the PNG files
          exist) and ``metadata`` (chemistry, software version and, for Visium HD, ``bin_size_um``: the
          bin size that was read), as scanpy lays it out.

    Raises
    ------
    FileNotFoundError
        If the folder has none of the layouts above, or lacks the count matrix, the tissue positions or the
        scale factors.
    ValueError
        If ``bin_size`` is not a positive integer, names a bin size the Visium HD run lacks, or is given for
        a Visium (spot) folder; if several count matrices match, the positions file lacks columns, or no
        barcode of the matrix is in tissue.
    ImportError
        If a Parquet positions file is read without pyarrow installed.

    Examples
    --------
    >>> adata = read_visium("spaceranger/outs")  # doctest: +SKIP
    >>> adata.obsm["spatial"][:2]  # doctest: +SKIP
    >>> bins = read_visium("visium_hd/outs", bin_size=8)  # doctest: +SKIP
    >>> bins.uns["spatial"][next(iter(bins.uns["spatial"]))]["metadata"]["bin_size_um"]  # doctest: +SKIP
    8
    """
    given = Path(path)
    if not given.is_dir():
        raise FileNotFoundError(f"`path`={str(path)!r} is not a folder; expected a Space Ranger output folder.")
    if bin_size is not None and (isinstance(bin_size, bool) or not isinstance(bin_size, (int, np.integer)) or bin_size < 1):
        raise ValueError(f"`bin_size` must be a positive integer number of um (e.g. 8 or 16), got {bin_size!r}.")
    folder, size, run_name = _locate_visium_folder(given, None if bin_size is None else int(bin_size))
    if count_file is None and size is None:  # a bin folder's own checks below name the file it lacks
        _check_visium_layout(folder)
    matrix_file = _find_count_file(folder, count_file)
    adata, attrs = _read_10x_h5(matrix_file)

    spatial_dir = folder / "spatial"
    positions = _read_tissue_positions(spatial_dir)
    in_tissue = positions.index[positions["in_tissue"] == 1]
    keep = adata.obs_names.isin(in_tissue)
    if not keep.any():
        raise ValueError(
            f"None of the {adata.n_obs} barcodes of {matrix_file.name} is marked in tissue in "
            f"{spatial_dir}; do the matrix and the positions come from the same run?"
        )
    if not keep.all():
        warnings.warn(
            f"Dropped {int((~keep).sum())} of {adata.n_obs} matrix barcodes that are not in tissue or have no "
            "position.",
            stacklevel=2,
        )
        adata = adata[keep].copy()
    spots = positions.loc[adata.obs_names]
    for column in POSITION_COLUMNS[2:]:
        integer = column.startswith("array_") or pd.api.types.is_integer_dtype(spots[column])
        adata.obs[column] = spots[column].to_numpy(dtype=np.int64 if integer else np.float64)
    adata.obsm["spatial"] = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64)

    library = library_id or attrs.get("library_id") or run_name
    metadata: dict[str, str | int] = {key: attrs[key] for key in ("chemistry_description", "software_version") if key in attrs}
    if size is not None:
        metadata["bin_size_um"] = size
    adata.uns["spatial"] = {
        library: {
            "images": _read_images(spatial_dir),
            "scalefactors": _read_scalefactors(spatial_dir),
            "metadata": metadata,
        }
    }
    return adata


def _visium_hd_bins(folder: Path) -> dict[int, Path]:
    """The bin folders ``square_<NNN>um`` directly inside ``folder``, by bin size in um (ascending)."""
    bins = {}
    for child in folder.iterdir():
        match = VISIUM_HD_BIN_FOLDER.fullmatch(child.name)
        if match and child.is_dir():
            bins[int(match.group(1))] = child
    return dict(sorted(bins.items()))


def _locate_visium_folder(folder: Path, bin_size: int | None) -> tuple[Path, int | None, str]:
    """The folder holding the matrix and ``spatial/``, its bin size (``None`` for Visium spots) and the run's name."""
    match = VISIUM_HD_BIN_FOLDER.fullmatch(folder.name)
    if match:  # one bin folder, e.g. binned_outputs/square_016um
        size = int(match.group(1))
        if bin_size is not None and bin_size != size:
            raise ValueError(
                f"`bin_size`={bin_size} disagrees with the bin folder {folder.name!r} ({size} um bins); drop "
                "`bin_size`, or pass the Visium HD run folder to choose among its bin sizes."
            )
        run = folder.parent.parent if folder.parent.name == "binned_outputs" else folder
        return folder, size, run.name
    if (folder / "binned_outputs").is_dir():
        binned, run = folder / "binned_outputs", folder
    elif folder.name == "binned_outputs" or _visium_hd_bins(folder):
        binned, run = folder, folder.parent if folder.name == "binned_outputs" else folder
    else:
        if bin_size is not None:
            raise ValueError(
                f"`bin_size`={bin_size} applies to Visium HD output only, but {folder} holds no "
                "'binned_outputs/square_<NNN>um' folder; drop `bin_size` to read its Visium spots."
            )
        return folder, None, folder.name
    bins = _visium_hd_bins(binned)
    if not bins:
        raise FileNotFoundError(
            f"{binned} holds no Visium HD bin folder; expected folders named 'square_<NNN>um' (e.g. square_008um, "
            "square_016um)."
        )
    available = ", ".join(f"{size} ({path.name})" for size, path in bins.items())
    if bin_size is None:
        size = next((s for s in VISIUM_HD_DEFAULT_BIN_SIZES if s in bins), None)
        if size is None:
            raise ValueError(
                f"{binned} has neither 16 um nor 8 um bins (it has {available}); choose the bin size with `bin_size`."
            )
    elif bin_size in bins:
        size = bin_size
    else:
        raise ValueError(f"`bin_size`={bin_size}: {binned} has no 'square_{bin_size:03d}um' folder; available bin sizes: {available}.")
    return bins[size], size, run.name


def _check_visium_layout(folder: Path) -> None:
    """Fail with one message naming every layout when ``folder`` has neither a count matrix nor ``spatial/``."""
    if any(folder.glob("*filtered_feature_bc_matrix.h5")) or (folder / "spatial").is_dir():
        return  # a Visium folder, perhaps incomplete: the file-specific checks name what is missing
    positions = ", ".join(POSITION_FILES)
    raise FileNotFoundError(
        f"{folder} is not a Space Ranger output folder. Looked for a Visium layout (a count matrix "
        f"'*filtered_feature_bc_matrix.h5' beside 'spatial/' holding one of {positions} and "
        "'scalefactors_json.json') and a Visium HD one ('binned_outputs/square_<NNN>um/' folders such as "
        "square_008um and square_016um, each laid out as a Visium folder)."
    )


def _find_count_file(folder: Path, count_file: str | None) -> Path:
    if count_file is not None:
        candidate = folder / count_file
        if not candidate.is_file():
            raise FileNotFoundError(f"`count_file`={count_file!r} does not exist in {folder}.")
        return candidate
    matches = sorted(folder.glob("*filtered_feature_bc_matrix.h5"))
    if not matches:
        raise FileNotFoundError(
            f"No count matrix in {folder}: expected a 10x HDF5 file named '*filtered_feature_bc_matrix.h5' "
            "(or pass `count_file`)."
        )
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches)
        raise ValueError(f"Several count matrices in {folder} ({names}); choose one with `count_file`.")
    return matches[0]


def _decode(values: np.ndarray) -> np.ndarray:
    return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)


def _read_10x_h5(file: Path) -> tuple[ad.AnnData, dict[str, str]]:
    """Read a 10x HDF5 feature-barcode matrix (Cell Ranger / Space Ranger >= 3 layout)."""
    if not h5py.is_hdf5(file):
        raise ValueError(f"{file} is not an HDF5 file; expected Space Ranger's 10x HDF5 feature-barcode matrix.")
    with h5py.File(file, "r") as h5:
        if "matrix" not in h5:
            raise ValueError(
                f"{file} is not a 10x HDF5 v3 feature-barcode matrix (no 'matrix' group); re-export it with "
                "Space Ranger >= 1.0 or read it with scanpy.read_10x_h5."
            )
        group = h5["matrix"]
        n_genes, n_spots = (int(v) for v in group["shape"][:])
        counts = sp.csc_matrix(
            (group["data"][:].astype(np.float32), group["indices"][:], group["indptr"][:]), shape=(n_genes, n_spots)
        )
        features = group["features"]
        var = pd.DataFrame(
            {
                "gene_ids": _decode(features["id"][:]),
                "feature_types": _decode(features["feature_type"][:]),
                "genome": _decode(features["genome"][:]),
            },
            index=pd.Index(_decode(features["name"][:]), name=None),
        )
        obs = pd.DataFrame(index=pd.Index(_decode(group["barcodes"][:]), name=None))
        attrs: dict[str, str] = {}
        if "library_ids" in h5.attrs and len(h5.attrs["library_ids"]):
            attrs["library_id"] = _decode(h5.attrs["library_ids"][:1])[0]
        for key in ("chemistry_description", "software_version"):
            if key in h5.attrs:
                value = h5.attrs[key]
                attrs[key] = value.decode() if isinstance(value, bytes) else str(value)
    adata = ad.AnnData(X=sp.csr_matrix(counts.T), obs=obs, var=var)
    adata.var_names_make_unique()
    return adata, attrs


def _read_tissue_positions(spatial_dir: Path) -> pd.DataFrame:
    """Tissue positions indexed by barcode, from any of the Space Ranger files in :data:`POSITION_FILES`."""
    parquet_file, new_file, old_file = (spatial_dir / name for name in POSITION_FILES)
    if parquet_file.is_file():
        table = _position_columns(_read_parquet(parquet_file), parquet_file)
    elif new_file.is_file():
        table = _position_columns(pd.read_csv(new_file, header=0), new_file)
    elif old_file.is_file():
        table = pd.read_csv(old_file, header=None)
        if table.shape[1] != len(POSITION_COLUMNS):
            raise ValueError(
                f"{old_file} has {table.shape[1]} columns; expected {len(POSITION_COLUMNS)} "
                f"({', '.join(POSITION_COLUMNS)})."
            )
        table.columns = list(POSITION_COLUMNS)
    else:
        raise FileNotFoundError(
            f"No tissue positions in {spatial_dir}: expected 'tissue_positions.parquet' (Visium HD), "
            "'tissue_positions.csv' (Space Ranger >= 2.0) or 'tissue_positions_list.csv' (older versions)."
        )
    table["barcode"] = table["barcode"].astype(str)
    numeric = [c for c in POSITION_COLUMNS[1:] if not pd.api.types.is_numeric_dtype(table[c]) or table[c].isna().any()]
    if numeric:
        raise ValueError(f"The tissue positions in {spatial_dir} have non-numeric or missing values in column(s) {numeric}.")
    if table["barcode"].duplicated().any():
        raise ValueError(f"The tissue positions in {spatial_dir} list some barcodes more than once.")
    return table.set_index("barcode")


def _position_columns(table: pd.DataFrame, file: Path) -> pd.DataFrame:
    """The :data:`POSITION_COLUMNS` of a positions table with named columns, in that order."""
    if "barcode" not in table.columns and table.index.name == "barcode":
        table = table.reset_index()
    missing = [c for c in POSITION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{file} lacks the column(s) {missing}; expected the header {list(POSITION_COLUMNS)}.")
    return table[list(POSITION_COLUMNS)].copy()


def _read_parquet(file: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(file)
    except ImportError as err:
        raise ImportError(
            f"Reading {file} needs pyarrow, a dependency of spatialdiffusion; install it with `pip install pyarrow` ({err})."
        ) from err
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise ValueError(f"{file} could not be read as a Parquet table ({type(err).__name__}: {err}).") from err


def _read_scalefactors(spatial_dir: Path) -> dict[str, float]:
    file = spatial_dir / "scalefactors_json.json"
    if not file.is_file():
        raise FileNotFoundError(f"Missing {file}: Space Ranger writes the image scale factors there.")
    with open(file) as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file} is not valid JSON ({err}); Space Ranger writes the image scale factors there.") from None


def _read_images(spatial_dir: Path) -> dict[str, np.ndarray]:
    from matplotlib.image import imread

    images = {}
    for resolution in ("hires", "lowres"):
        file = spatial_dir / f"tissue_{resolution}_image.png"
        if file.is_file():
            images[resolution] = imread(file)
    return images


def add_annotation(
    adata: ad.AnnData,
    path: str | os.PathLike,
    column: str,
    *,
    barcode_column: str | None = None,
    key_added: str | None = None,
) -> None:
    """Copy one column of a per-barcode table into ``adata.obs``, matching rows by barcode.

    Parameters
    ----------
    adata
        Spots whose ``obs_names`` are barcodes.
    path
        A delimited text file with one row per barcode: tab-separated for ``.tsv``/``.txt``
        (e.g. spatialLIBD ``metadata.tsv``), comma-separated otherwise; gzip/xz compression is detected
        from the extension.
    column
        The column to copy, e.g. ``"layer_guess_reordered"``.
    barcode_column
        The column holding barcodes. Defaults to ``"barcode"`` when present, else the first column.
    key_added
        Name of the new ``obs`` column; defaults to ``column``.

    Returns
    -------
    None
        Writes ``adata.obs[key_added]``. Text such as ``"NA"`` is kept as written (the DLPFC ground truth
        marks unannotated spots with the string ``"NA"``); spots absent from the table get a missing value.
        Text columns become categorical.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    KeyError
        If ``column`` or ``barcode_column`` is not in the table.
    ValueError
        If no barcode of ``adata`` is in the table.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"`path`={str(path)!r} does not exist; expected a per-barcode annotation table.")
    suffixes = [s.lower() for s in file.suffixes]
    sep = "\t" if {".tsv", ".txt"} & set(suffixes) else ","
    table = pd.read_csv(file, sep=sep, keep_default_na=False, na_values=[""], low_memory=False)
    if barcode_column is None:
        barcode_column = "barcode" if "barcode" in table.columns else str(table.columns[0])
    for name, role in ((barcode_column, "`barcode_column`"), (column, "`column`")):
        if name not in table.columns:
            raise KeyError(f"{role}={name!r} is not a column of {file.name}; available: {list(table.columns)[:20]}.")
    values = table.set_index(table[barcode_column].astype(str))[column]
    if values.index.duplicated().any():
        raise ValueError(f"{file.name} lists some barcodes more than once in column {barcode_column!r}.")
    matched = adata.obs_names.isin(values.index)
    if not matched.any():
        raise ValueError(
            f"No barcode of `adata` is in column {barcode_column!r} of {file.name} "
            f"(first barcodes: {list(adata.obs_names[:2])} vs {list(values.index[:2])})."
        )
    if not matched.all():
        warnings.warn(f"{int((~matched).sum())} spots are not in {file.name}; their {column!r} is missing.", stacklevel=2)
    result = values.reindex(adata.obs_names)
    if result.dtype == object:
        result = result.astype("category")
    adata.obs[key_added or column] = result


# ---------------------------------------------------------------------------------------------------------
# Counts of an AnnData
# ---------------------------------------------------------------------------------------------------------


def counts_of(adata: object, layer: str | None = None, name: str = "adata") -> tuple[object, str]:
    """The raw counts of an AnnData argument and how to name them in an error message.

    Parameters
    ----------
    adata
        The argument; anything but an AnnData is an error.
    layer
        Layer holding the counts, or ``None`` for ``X``.
    name
        Name of the argument (``"adata"``, ``"adata_ref"``, ...).

    Returns
    -------
    tuple
        The matrix (unchecked) and its label, e.g. ``"adata.X"`` or ``"adata.layers['counts']"``.

    Raises
    ------
    TypeError
        If ``adata`` is not an AnnData.
    KeyError
        If ``layer`` is not one of its layers.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"`{name}` must be an AnnData, got {type(adata).__name__}.")
    if layer is None:
        return adata.X, f"{name}.X"
    if layer not in adata.layers:
        raise KeyError(f"{name}.layers[{layer!r}] not found; available layers: {list(adata.layers.keys())}.")
    return adata.layers[layer], f"{name}.layers[{layer!r}]"


def check_key_added(adata: ad.AnnData, key_added: str, method: str, slots: dict[str, list[str]]) -> None:
    """Refuse a ``key_added`` whose results would overwrite data that an earlier run of ``method`` did not write.

    Running a method again under the same key replaces its own results (as in scanpy). Anything else
    already stored there, such as the coordinates in ``obsm['spatial']`` or Space Ranger's images and
    scale factors in ``uns['spatial']``, is the user's data and is never overwritten.

    Parameters
    ----------
    adata
        The AnnData the results go to.
    key_added
        The key, already checked to be a non-empty string (:func:`~spatialdiffusion._utils.check_key`).
    method
        The method's name as recorded in ``uns[key_added]['params']['method']`` by its runs.
    slots
        The keys the run writes, per AnnData attribute: ``{"obs": [...], "obsm": [...], "var": [...]}``;
        ``uns[key_added]`` is always checked.

    Raises
    ------
    ValueError
        If one of the keys to be written is taken by something that ``uns[key_added]`` does not record as the
        results of an earlier ``method`` run.
    """
    record = adata.uns.get(key_added)
    params = record.get("params") if isinstance(record, dict) else None
    if isinstance(params, dict) and params.get("method") == method:
        return
    wanted = [("uns", key_added)] + [(attribute, key) for attribute, keys in slots.items() for key in keys]
    taken = [f"{attribute}[{key!r}]" for attribute, key in wanted if key in getattr(adata, attribute)]
    if taken:
        raise ValueError(
            f"`key_added`={key_added!r} would overwrite {', '.join(taken)}, which uns[{key_added!r}] does not record as "
            f"{method} results (a run's record is lost when, e.g., anndata.concat drops uns); delete them or choose "
            "another `key_added`."
        )


# ---------------------------------------------------------------------------------------------------------
# Coordinates of an AnnData
# ---------------------------------------------------------------------------------------------------------

#: ``obs`` column pairs (x, y) read as coordinates when ``obsm`` has none, in the order they are tried.
COORD_COLUMNS = (("x_coord", "y_coord"), ("x", "y"), ("X", "Y"), ("array_col", "array_row"))


def spatial_coordinates(adata: ad.AnnData, spatial_key: str = "spatial", *, required: bool = True) -> np.ndarray | None:
    """Spot or cell coordinates of an AnnData, as an ``n_obs x 2`` float array.

    Looked up in order: the first two columns of ``adata.obsm[spatial_key]`` (the scanpy convention),
    then, for the default key only, the first pair of :data:`COORD_COLUMNS` present in ``adata.obs``.

    Parameters
    ----------
    adata
        The spatial data.
    spatial_key
        ``obsm`` key of the coordinates.
    required
        Raise when no coordinates are found (DiffusionST needs them); with ``False`` return ``None``
        instead (SpaLSTF can run without them).

    Returns
    -------
    numpy.ndarray or None
        float64 coordinates (unchecked: see :func:`~spatialdiffusion.checks.check_coords`), or ``None``
        when none are found and ``required`` is ``False``.

    Raises
    ------
    KeyError
        When ``spatial_key`` is not the default and not in ``adata.obsm``, or when ``required`` and no
        coordinates are found; the message lists the places searched and how to add them.
    """
    return coordinates_of(adata, spatial_key, required=required)[0]


def coordinates_of(
    adata: ad.AnnData, spatial_key: str = "spatial", name: str = "adata", *, required: bool = True
) -> tuple[np.ndarray | None, str]:
    """:func:`spatial_coordinates`, and where they were found, to name them in an error message.

    Parameters
    ----------
    adata, spatial_key, required
        As in :func:`spatial_coordinates`.
    name
        Name of the argument (``"adata"``, ``"adata_st"``, ...).

    Returns
    -------
    tuple
        The coordinates (or ``None``) and their place, e.g. ``"adata.obsm['spatial']"`` or
        ``"adata.obs[['x', 'y']]"`` (``"none"`` when there are none).

    Raises
    ------
    KeyError
        As :func:`spatial_coordinates`.
    """
    if spatial_key in adata.obsm:
        xy = np.asarray(adata.obsm[spatial_key], dtype=np.float64)
        return (xy[:, :2] if xy.ndim == 2 and xy.shape[1] > 2 else xy), f"{name}.obsm[{spatial_key!r}]"
    if spatial_key != "spatial":
        raise KeyError(f"`spatial_key`={spatial_key!r} is not a key of {name}.obsm (it has {list(adata.obsm.keys())}).")
    for x, y in COORD_COLUMNS:
        if x in adata.obs and y in adata.obs:
            return adata.obs[[x, y]].to_numpy(dtype=np.float64), f"{name}.obs[[{x!r}, {y!r}]]"
    if not required:
        return None, "none"
    pairs = ", ".join(f"{x}/{y}" for x, y in COORD_COLUMNS)
    raise KeyError(
        f"No spatial coordinates: {name}.obsm[{spatial_key!r}] not found (obsm has {list(adata.obsm.keys())}) and "
        f"{name}.obs has none of the column pairs {pairs}. Store them as an n_obs x 2 array, e.g. "
        f"{name}.obsm['spatial'] = {name}.obs[['x', 'y']].to_numpy()."
    )


# ---------------------------------------------------------------------------------------------------------
# Shipped examples (inst/extdata)
# ---------------------------------------------------------------------------------------------------------


def extdata_dir() -> Path:
    """Locate the shipped example data (``inst/extdata``).

    Looked up in order: the folder named by the environment variable ``SPATIALDIFFUSION_EXTDATA``;
    ``inst/extdata`` of the source tree (editable installs); ``<sys.prefix>/share/spatialdiffusion/extdata``
    (where a wheel installs it).

    Returns
    -------
    pathlib.Path
        The folder that holds ``README.md`` and the example files.

    Raises
    ------
    FileNotFoundError
        If none of these folders exists.
    """
    override = os.environ.get(EXTDATA_ENV)
    if override:
        folder = Path(override)
        if not folder.is_dir():
            raise FileNotFoundError(f"{EXTDATA_ENV}={override!r} is not a folder; point it at a copy of inst/extdata.")
        return folder
    candidates = [
        Path(__file__).resolve().parents[2] / "inst" / "extdata",
        Path(sys.prefix) / "share" / "spatialdiffusion" / "extdata",
    ]
    for folder in candidates:
        if (folder / EXAMPLES["dlpfc_151673"]["path"]).is_dir():
            return folder
    raise FileNotFoundError(
        "The example data was not found (looked in " + ", ".join(map(str, candidates)) + "); set "
        f"{EXTDATA_ENV} to the inst/extdata folder of the SpatialDiffusion sources."
    )


def load_example(name: str) -> ad.AnnData:
    """Load one of the small real datasets shipped with the package.

    Parameters
    ----------
    name
        ``"dlpfc_151673"`` (10x Visium human DLPFC, spatial domains), ``"osmfish_st"`` (osmFISH mouse
        cortex, the spatial half of the SpaLSTF pair) or ``"osmfish_ref"`` (Allen SMART-seq reference,
        its scRNA-seq half). See :data:`EXAMPLES` for descriptions and citations.

    Returns
    -------
    anndata.AnnData
        Raw counts in ``X`` (CSR float32), ``obsm['spatial']`` for the spatial datasets, and
        ``uns['example']`` (name, description, citation).

        - ``dlpfc_151673``: ``var_names`` are Ensembl IDs (``var['gene_ids']``);
          ``obs['array_row', 'array_col', 'pxl_row_in_fullres', 'pxl_col_in_fullres']``;
          ``obs['layer_guess_reordered']`` (categorical ground truth, ``"NA"`` for unannotated spots);
          ``obs['sum_umi']`` (each spot's UMI total over the whole transcriptome, from spatialLIBD: the
          library size to pass as ``library_size_key`` since the example holds 5000 genes);
          ``obsm['spatial'] = [pxl_col_in_fullres, pxl_row_in_fullres]``.
        - ``osmfish_st``: ``obs['x_coord', 'y_coord']`` (float32); ``obsm['spatial'] = [x_coord, y_coord]``.
        - ``osmfish_ref``: counts only.

    Raises
    ------
    ValueError
        If ``name`` is not a shipped example.

    Examples
    --------
    >>> adata = load_example("dlpfc_151673")  # doctest: +SKIP
    >>> adata.obs["layer_guess_reordered"].value_counts()  # doctest: +SKIP
    """
    if name not in EXAMPLES:
        raise ValueError(f"`name`={name!r} is not a shipped example; choose one of {sorted(EXAMPLES)}.")
    entry = EXAMPLES[name]
    location = extdata_dir() / entry["path"]
    adata = _read_dlpfc_example(location) if name == "dlpfc_151673" else _read_dense_example(location)
    adata.uns["example"] = {"name": name, "description": entry["description"], "citation": entry["citation"]}
    return adata


def _read_dlpfc_example(folder: Path) -> ad.AnnData:
    with lzma.open(folder / DLPFC_FILES["counts"], "rb") as handle:
        counts = scipy.io.mmread(handle)  # genes x spots
    genes = pd.read_csv(folder / DLPFC_FILES["genes"])
    spots = pd.read_csv(folder / DLPFC_FILES["spots"], keep_default_na=False, index_col="barcode")
    spots.index.name = None
    spots["layer_guess_reordered"] = spots["layer_guess_reordered"].astype("category")
    var = pd.DataFrame({"gene_ids": genes["gene_id"].to_numpy()}, index=genes["gene_id"].to_numpy())
    adata = ad.AnnData(X=sp.csr_matrix(counts.T, dtype=np.float32), obs=spots, var=var)
    adata.obsm["spatial"] = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64)
    return adata


def _read_dense_example(file: Path) -> ad.AnnData:
    table = pd.read_csv(file, index_col="cell", dtype={"cell": str})
    table.index.name = None
    coords = [c for c in ("x_coord", "y_coord") if c in table.columns]
    obs = table[coords].astype(np.float32)
    counts = table.drop(columns=coords)
    adata = ad.AnnData(X=sp.csr_matrix(counts.to_numpy(dtype=np.float32)), obs=obs, var=pd.DataFrame(index=counts.columns))
    if coords:
        adata.obsm["spatial"] = obs[coords].to_numpy(dtype=np.float64)
    return adata
