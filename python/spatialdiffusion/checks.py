"""Input checks that both methods run at the top of their entry points.

Each check names the argument as the caller knows it (``name``: ``"counts"``, ``"adata.X"``,
``"adata_st.var_names"`` ...), says what was expected and how to fix it. Everything here is
array-level and light (numpy, pandas, scipy): no torch, no AnnData.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


def check_counts(counts: object, name: str = "counts") -> sp.csr_matrix:
    """Validate a spots (or cells) x genes raw count matrix and return it as float32 CSR.

    Parameters
    ----------
    counts
        Dense array or scipy sparse matrix of raw UMI counts.
    name
        Argument name used in error messages.

    Raises
    ------
    TypeError
        If ``counts`` is not a 2-D numeric array or sparse matrix.
    ValueError
        If it is empty, holds NaN/inf, negative or non-integer values (e.g. already normalised or
        log-transformed data).
    """
    if sp.issparse(counts):
        mat = sp.csr_matrix(counts)
    elif isinstance(counts, (np.ndarray, pd.DataFrame)) or hasattr(counts, "__array__"):
        arr = np.asarray(counts)
        if arr.ndim != 2:
            raise TypeError(f"`{name}` must be a 2-D spots (cells) x genes matrix, got an array with {arr.ndim} dimension(s).")
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise TypeError(f"`{name}` must hold numbers, got dtype {arr.dtype}.")
        mat = sp.csr_matrix(arr)
    else:
        raise TypeError(f"`{name}` must be a numpy array or scipy sparse matrix of raw counts, got {type(counts).__name__}.")
    if mat.shape[0] == 0 or mat.shape[1] == 0:
        raise ValueError(f"`{name}` is empty (shape {mat.shape}); it needs spots (cells) as rows and genes as columns.")
    data = mat.data
    if not np.all(np.isfinite(data)):
        raise ValueError(f"`{name}` contains NaN or infinite values; pass raw counts without missing values.")
    if data.size and data.min() < 0:
        raise ValueError(f"`{name}` contains negative values ({data.min():g}); pass raw, non-negative UMI counts.")
    if data.size and not np.all(np.equal(np.mod(data, 1), 0)):
        raise ValueError(
            f"`{name}` contains non-integer values (e.g. {data[np.mod(data, 1) != 0][0]:g}); it looks normalised or "
            "log-transformed. Pass the raw integer counts (e.g. adata.layers['counts'] or the 'counts' assay)."
        )
    return mat.astype(np.float32)


def check_coords(coords: object, n_obs: int, name: str = "coords") -> np.ndarray:
    """Validate spot coordinates: an ``n_obs x 2`` finite numeric array (extra columns are an error).

    Parameters
    ----------
    coords
        Spot positions, one row per spot (cell) and two columns; anything ``numpy.asarray(coords,
        dtype=float)`` accepts.
    n_obs
        Number of spots (cells) in the count matrix, which ``coords`` must have as rows.
    name
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 ``n_obs x 2`` array.

    Raises
    ------
    ValueError
        If ``coords`` is ``None``, is not 2-D with exactly two columns, does not have ``n_obs`` rows,
        contains NaN or infinite values, or puts every one of two or more spots at the same position.
        Values that cannot be converted to float raise numpy's own ``ValueError`` (or ``TypeError``).
    """
    arr = np.asarray(coords, dtype=float) if coords is not None else None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 2:
        shape = None if arr is None else arr.shape
        raise ValueError(f"`{name}` must be an n x 2 array of spatial coordinates, one row per spot (cell), got shape {shape}.")
    if arr.shape[0] != n_obs:
        raise ValueError(f"`{name}` has {arr.shape[0]} rows but the count matrix has {n_obs} spots (cells); they must match.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values; every spot needs a finite position.")
    if n_obs > 1 and np.all(arr == arr[0]):
        raise ValueError(
            f"Every one of the {n_obs} spots (cells) in `{name}` is at the same position ({arr[0, 0]:g}, {arr[0, 1]:g}), so "
            "the spatial neighbours are meaningless. Pass the spots' real coordinates (for an AnnData, an n x 2 array in "
            "obsm['spatial'] or the one `spatial_key` names)."
        )
    return arr


def check_gene_list(value: object, name: str) -> list[str]:
    """Validate a list of gene names and return it as a list of ``str``.

    A bare string is rejected rather than read letter by letter (``genes="Gad2"`` would otherwise become
    ``["G", "a", "d", "2"]``).

    Parameters
    ----------
    value
        Any iterable of gene names.
    name
        Argument name used in error messages.

    Returns
    -------
    list of str
        The names, in the order given.

    Raises
    ------
    TypeError
        For a string or a non-iterable value.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"`{name}` must be a list of gene names, got the single string {value!r}; write [{value!r}].")
    try:
        return [str(g) for g in value]  # type: ignore[union-attr]
    except TypeError:
        raise TypeError(f"`{name}` must be a list of gene names, got {type(value).__name__}.") from None


def check_unique_genes(
    genes: Sequence[str], name: str, *, ignore_case: bool = False, consequence: str | None = None, stacklevel: int = 2
) -> None:
    """Refuse (or, with ``consequence``, warn about) gene names that occur more than once.

    Parameters
    ----------
    genes
        Gene names, as :func:`check_gene_list` returns them.
    name
        Where the names come from, used in the message. A name ending in ``.var_names`` (``"adata.var_names"``)
        makes the message suggest that AnnData's ``var_names_make_unique()``.
    ignore_case
        Also count names that differ only in case as the same gene (for a method that matches genes
        case-insensitively).
    consequence
        ``None``: raise. Otherwise warn, with this sentence saying what the repeated names affect.
    stacklevel
        Passed on to :func:`warnings.warn`, counted from the caller of this function (2: the caller's caller).

    Raises
    ------
    ValueError
        When ``consequence`` is ``None`` and a name is repeated; the message names the repeats and how to make
        the names unique.

    Warns
    -----
    UserWarning
        When ``consequence`` is given and a name is repeated.
    """
    spellings: dict[str, list[str]] = defaultdict(list)
    for gene in genes:
        spellings[gene.upper() if ignore_case else gene].append(gene)
    repeated = [names for names in spellings.values() if len(names) > 1]
    if not repeated:
        return
    exact = [names[0] for names in repeated if len(set(names)) == 1]
    by_case = [sorted(set(names)) for names in repeated if len(set(names)) > 1]
    found, fixes = [], []
    if exact:
        found.append(f"{len(exact)} duplicated name(s), e.g. {exact[:3]}")
        fixes.append(f"make them unique first, e.g. with `{name[:-len('.var_names')]}.var_names_make_unique()`"
                     if name.endswith(".var_names") else
                     "make them unique first, e.g. by appending '-1', '-2', ... to the repeats as AnnData's "
                     "`var_names_make_unique()` does")
    if by_case:
        found.append(f"{len(by_case)} name(s) that differ only in case, e.g. {by_case[:3]}, which count as one gene "
                     "because genes are matched case-insensitively")
        fixes.append("rename or drop one of each pair")
    message = f"`{name}` has {' and '.join(found)}: {'; '.join(fixes)}."
    if consequence is None:
        raise ValueError(message)
    warnings.warn(f"{message} {consequence}", UserWarning, stacklevel=stacklevel + 1)
