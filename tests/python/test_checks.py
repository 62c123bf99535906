"""Input checks both methods run (spatialdiffusion.checks), and how each method's entry points report them."""

from __future__ import annotations

import re
import warnings

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from spatialdiffusion import diffusionst, diffusionst_arrays, evaluate_spalstf, spalstf, spalstf_arrays
from spatialdiffusion.checks import check_coords, check_counts, check_gene_list, check_unique_genes
from spatialdiffusion.io import load_example


STOP = {"preset": "no such preset", "verbose": False}
"""An unknown preset fails right after the input checks: a check that is missing fails its test at once
instead of starting a run."""


@pytest.fixture(scope="module")
def dlpfc() -> ad.AnnData:
    """The shipped DLPFC 151673 example (3639 spots x 5000 genes); tests copy it before changing it."""
    return load_example("dlpfc_151673")


@pytest.fixture(scope="module")
def osmfish() -> tuple[ad.AnnData, ad.AnnData]:
    """The shipped osmFISH spatial data (coordinates in obs x_coord/y_coord) and its Allen reference."""
    return load_example("osmfish_st"), load_example("osmfish_ref")


# ---- counts and coordinates ------------------------------------------------------------------


def test_counts_must_be_counts() -> None:
    with pytest.raises(ValueError, match="non-integer"):
        check_counts(np.array([[0.5, 1.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="negative"):
        check_counts(np.array([[-1.0, 1.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="NaN"):
        check_counts(np.array([[np.nan, 1.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="empty"):
        check_counts(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="2-D"):
        check_counts(np.arange(3))
    with pytest.raises(TypeError, match="numbers"):
        check_counts(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="raw counts"):
        check_counts("counts.csv")
    out = check_counts(sp.csr_matrix(np.array([[0, 2], [3, 0]])))
    assert out.dtype == np.float32 and sp.isspmatrix_csr(out)


def test_coords_checks_name_the_problem() -> None:
    with pytest.raises(ValueError, match="must be an n x 2 array"):
        check_coords(np.zeros((4, 3)), 4)
    with pytest.raises(ValueError, match="has 3 rows"):
        check_coords(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="NaN"):
        check_coords(np.array([[0, np.nan], [1, 1]]), 2)
    with pytest.raises(ValueError, match="must be an n x 2 array"):
        check_coords(None, 2)


def test_coords_all_at_one_position_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Every one of the 3 spots \(cells\) in `xy` is at the same position \(2, 5\)"):
        check_coords(np.tile([2.0, 5.0], (3, 1)), 3, "xy")
    assert check_coords(np.array([[0.0, 1.0], [0.0, 2.0]]), 2).shape == (2, 2)  # spots on a line are fine
    assert check_coords(np.array([[4.0, 4.0]]), 1).shape == (1, 2)  # a single spot has nothing to compare with


def test_diffusionst_names_where_the_collapsed_coordinates_came_from(dlpfc: ad.AnnData) -> None:
    adata = dlpfc.copy()
    adata.obsm["spatial"] = np.ones((adata.n_obs, 2))
    with pytest.raises(ValueError, match=re.escape("in `adata.obsm['spatial']` is at the same position (1, 1)")):
        diffusionst(adata, n_clusters=7, **STOP)
    del adata.obsm["spatial"]
    adata.obs["x"], adata.obs["y"] = 3.0, 4.0
    with pytest.raises(ValueError, match=re.escape("in `adata.obs[['x', 'y']]` is at the same position (3, 4)")):
        diffusionst(adata, n_clusters=7, **STOP)
    with pytest.raises(ValueError, match=re.escape("Every one of the 3639 spots (cells) in `coords`")):
        diffusionst_arrays(dlpfc.X, np.zeros((dlpfc.n_obs, 2)), **STOP)
    assert "diffusionst_domain" not in adata.obs  # refused before any work


def test_spalstf_names_where_the_collapsed_coordinates_came_from(osmfish: tuple[ad.AnnData, ad.AnnData]) -> None:
    st, ref = osmfish
    st = st.copy()
    st.obsm["spatial"] = np.zeros((st.n_obs, 2))
    with pytest.raises(ValueError, match=re.escape("in `adata_st.obsm['spatial']` is at the same position (0, 0)")):
        spalstf(st, ref, genes=["Gad2"], **STOP)
    del st.obsm["spatial"]
    st.obs["x_coord"] = st.obs["y_coord"] = 7.0
    with pytest.raises(ValueError, match=re.escape("in `adata_st.obs[['x_coord', 'y_coord']]` is at the same position (7, 7)")):
        evaluate_spalstf(st, ref, **STOP)
    with pytest.raises(ValueError, match=re.escape("in `st_coords` is at the same position")):
        spalstf_arrays(st.X, list(st.var_names), ref.X, list(ref.var_names), st_coords=np.zeros((st.n_obs, 2)), **STOP)


# ---- gene names ------------------------------------------------------------------------------


def test_gene_list_is_a_list_of_names() -> None:
    assert check_gene_list(np.array(["a", "b"]), "genes") == ["a", "b"]
    with pytest.raises(TypeError, match=re.escape("got the single string 'Gad2'; write ['Gad2']")):
        check_gene_list("Gad2", "genes")
    with pytest.raises(TypeError, match="must be a list of gene names, got int"):
        check_gene_list(3, "genes")


def test_repeated_gene_names_say_how_to_make_them_unique() -> None:
    check_unique_genes(["A", "a", "B"], "genes")  # distinct when case counts
    with pytest.raises(ValueError, match=re.escape("`adata.var_names` has 1 duplicated name(s), e.g. ['A']: make them "
                                                   "unique first, e.g. with `adata.var_names_make_unique()`.")):
        check_unique_genes(["A", "B", "A"], "adata.var_names")
    with pytest.raises(ValueError, match=re.escape("appending '-1', '-2', ... to the repeats")):
        check_unique_genes(["A", "A"], "st_genes")
    with pytest.raises(ValueError, match=re.escape("1 name(s) that differ only in case, e.g. [['GAD2', 'Gad2']]")):
        check_unique_genes(["Gad2", "B", "GAD2"], "ref_genes", ignore_case=True)
    with pytest.warns(UserWarning, match=re.escape("`names` has 1 duplicated name(s), e.g. ['A']: make them unique first")):
        check_unique_genes(["A", "A"], "names", consequence="Only the report is affected.")


def test_diffusionst_warns_about_repeated_gene_names(dlpfc: ad.AnnData) -> None:
    adata = dlpfc.copy()
    names = list(adata.var_names)
    names[1] = names[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's own warning about the repeat
        adata.var_names = names
    # DiffusionST works on columns, so a repeat only warns (then the unknown preset stops the run)
    with pytest.warns(UserWarning, match=re.escape("`adata.var_names_make_unique()`. DiffusionST works on the columns")):
        with pytest.raises(ValueError, match="preset"):
            diffusionst(adata, n_clusters=7, **STOP)
    with pytest.warns(UserWarning, match=re.escape(f"`gene_names` has 1 duplicated name(s), e.g. [{names[0]!r}]")):
        with pytest.raises(ValueError, match="preset"):
            diffusionst_arrays(dlpfc.X, dlpfc.obsm["spatial"], names, **STOP)


def test_spalstf_refuses_repeated_gene_names(osmfish: tuple[ad.AnnData, ad.AnnData]) -> None:
    # SpaLSTF matches genes by name (case-insensitively), so a repeat would make the match ambiguous: an error
    st, ref = osmfish
    st_dup = st.copy()
    st_dup.var_names = ["Gad2", *st.var_names[1:-1], "GAD2"]
    with pytest.raises(ValueError, match=re.escape("`adata_st.var_names` has 1 name(s) that differ only in case, e.g. "
                                                   "[['GAD2', 'Gad2']]")):
        spalstf(st_dup, ref, genes=["Vip"], **STOP)
    ref_dup = ref.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_dup.var_names = ["Gad2", "Gad2", *ref.var_names[2:]]
    with pytest.raises(ValueError, match=re.escape("`adata_ref.var_names` has 1 duplicated name(s), e.g. ['Gad2']: make "
                                                   "them unique first, e.g. with `adata_ref.var_names_make_unique()`")):
        evaluate_spalstf(st, ref_dup, **STOP)
    with pytest.raises(ValueError, match=re.escape("`ref_genes` has 1 duplicated name(s)")):
        spalstf_arrays(st.X, list(st.var_names), ref.X, list(ref_dup.var_names), genes=["Vip"], **STOP)
    with pytest.raises(ValueError, match=re.escape("`genes` has 1 name(s) that differ only in case, e.g. [['VIP', 'Vip']]")):
        spalstf(st, ref, genes=["Vip", "VIP"], verbose=False)
