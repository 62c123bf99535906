"""Spatial domain plots: spots drawn at their tissue coordinates, coloured by label.

Figures are drawn with matplotlib's object API on the headless Agg canvas, so plotting works on
servers and never touches pyplot's global state.
"""

from __future__ import annotations

import os
from typing import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.optimize import linear_sum_assignment

from .metrics.clustering import MISSING_LABELS

__all__ = ["domain_palette", "pl_domains", "plot_domains"]

MISSING_COLOR = "#d0d0d0"
"""Colour of spots whose label is missing (None, NaN or text such as ``"NA"``)."""


def _labels(values: Sequence[object] | np.ndarray | pd.Series, name: str, n_spots: int) -> pd.Series:
    series = pd.Series(np.asarray(values, dtype=object))
    if len(series) != n_spots:
        raise ValueError(f"`{name}` has {len(series)} labels but `coords` has {n_spots} spots; they must match.")
    missing = series.isna() | series.astype(str).str.strip().str.lower().isin(MISSING_LABELS)
    return series.astype(str).where(~missing, None)


def _sorted_categories(labels: pd.Series) -> list[str]:
    """Distinct labels, numerically when they all look like numbers (so "10" follows "9")."""
    distinct = labels.dropna().unique().tolist()
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def domain_palette(categories: Sequence[str]) -> dict[str, str]:
    """A fixed categorical colour per label.

    Parameters
    ----------
    categories
        The labels, in the order their colours should be assigned.

    Returns
    -------
    dict
        Label -> hex colour: ``tab10`` for up to 10 labels, ``tab20`` up to 20, then evenly spaced
        ``turbo`` colours. The same categories always get the same colours.
    """
    n = len(categories)
    if n <= 10:
        colors = [colormaps["tab10"](i) for i in range(n)]
    elif n <= 20:
        colors = [colormaps["tab20"](i) for i in range(n)]
    else:
        colors = [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]
    return {str(c): to_hex(color) for c, color in zip(categories, colors)}


def _aligned_palette(pred: pd.Series, truth: pd.Series, truth_palette: dict[str, str]) -> dict[str, str]:
    """Colour each predicted domain like the reference label it overlaps most (one-to-one matching).

    Predicted domains left without a partner get colours the reference does not use.
    """
    pred_categories = _sorted_categories(pred)
    truth_categories = list(truth_palette)
    both = (pred.notna() & truth.notna()).to_numpy()
    overlap = pd.crosstab(pred[both], truth[both]).reindex(index=pred_categories, columns=truth_categories, fill_value=0)
    rows, cols = linear_sum_assignment(-overlap.to_numpy())
    matched = {pred_categories[r]: truth_palette[truth_categories[c]] for r, c in zip(rows, cols)}
    pool = domain_palette([str(i) for i in range(len(pred_categories) + len(truth_categories))]).values()
    spare = iter([color for color in pool if color not in truth_palette.values()])
    return {category: matched.get(category) or next(spare) for category in pred_categories}


def _default_spot_size(coords: np.ndarray, width_inches: float) -> float:
    """Marker area (points²) that lets neighbouring spots nearly touch on a panel ``width_inches`` wide."""
    span = float(np.ptp(coords, axis=0).max()) or 1.0
    spacing = np.sqrt(span**2 / max(len(coords), 1)) * 0.9
    diameter_points = spacing / span * width_inches * 72
    return float(np.clip(diameter_points**2, 0.5, 200.0))


def _draw_panel(ax, coords: np.ndarray, labels: pd.Series, palette: dict[str, str], title: str, size: float) -> None:
    missing = labels.isna().to_numpy()
    if missing.any():
        ax.scatter(coords[missing, 0], coords[missing, 1], s=size, c=MISSING_COLOR, linewidths=0, label="NA")
    for category, color in palette.items():
        mask = (labels == category).to_numpy()
        if mask.any():
            ax.scatter(coords[mask, 0], coords[mask, 1], s=size, c=color, linewidths=0)
    handles = [Line2D([], [], marker="o", linestyle="", color=color, label=category) for category, color in palette.items()]
    if missing.any():
        handles.append(Line2D([], [], marker="o", linestyle="", color=MISSING_COLOR, label="NA"))
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8, markerscale=1.2)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)


def plot_domains(
    coords: np.ndarray,
    labels: Sequence[object] | np.ndarray | pd.Series,
    truth: Sequence[object] | np.ndarray | pd.Series | None = None,
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    spot_size: float | None = None,
) -> Figure:
    """Draw spatial domains on the tissue, optionally next to the ground truth.

    Parameters
    ----------
    coords
        ``(n_spots, 2)`` spot positions ``[x, y]`` in image orientation (for Visium,
        ``obsm['spatial'] = [pxl_col, pxl_row]``); the y axis points down as in the tissue image.
    labels
        Predicted domain of each spot.
    truth
        Reference labels drawn in a second panel on the left. Missing values and text such as ``"NA"``
        are drawn in grey. Each predicted domain then takes the colour of the reference label it
        overlaps most, so matching regions look alike.
    title
        Title of the predicted panel (default ``"Predicted domains"``).
    path
        When given, the figure is also saved there (format from the extension, e.g. ``.png``, ``.pdf``).
    spot_size
        Marker area in points²; by default chosen from the spot density so neighbours nearly touch.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot; display it in a notebook by evaluating it).

    Raises
    ------
    ValueError
        If ``coords`` is not ``(n_spots, 2)`` or has non-finite values, or the label counts differ.

    Examples
    --------
    >>> fig = plot_domains(adata.obsm["spatial"], adata.obs["diffusionst_domain"],  # doctest: +SKIP
    ...                    truth=adata.obs["layer_guess_reordered"], path="domains.png")
    """
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"`coords` must have shape (n_spots, 2), got {xy.shape}.")
    if not np.isfinite(xy).all():
        raise ValueError("`coords` has missing or infinite values.")
    pred = _labels(labels, "labels", len(xy))
    if truth is None:
        panels = [(pred, domain_palette(_sorted_categories(pred)), title or "Predicted domains")]
    else:
        reference = _labels(truth, "truth", len(xy))
        truth_palette = domain_palette(_sorted_categories(reference))
        panels = [
            (reference, truth_palette, "Ground truth"),
            (pred, _aligned_palette(pred, reference, truth_palette), title or "Predicted domains"),
        ]

    panel_inches = 4.0
    fig = Figure(figsize=(panel_inches * 1.45 * len(panels), panel_inches + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    size = spot_size if spot_size is not None else _default_spot_size(xy, panel_inches)
    for ax, (values, palette, panel_title) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        _draw_panel(ax, xy, values, palette, panel_title, size)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def pl_domains(
    adata: ad.AnnData,
    key: str,
    truth_key: str | None = None,
    *,
    basis: str = "spatial",
    title: str | None = None,
    path: str | os.PathLike | None = None,
    spot_size: float | None = None,
) -> Figure:
    """:func:`plot_domains` for an AnnData: labels from ``adata.obs``, positions from ``adata.obsm``.

    Parameters
    ----------
    adata
        Spots with coordinates in ``obsm[basis]``.
    key
        ``obs`` column with the predicted domains, e.g. ``"diffusionst_domain"``.
    truth_key
        Optional ``obs`` column with reference labels, e.g. ``"layer_guess_reordered"``.
    basis
        ``obsm`` key of the coordinates (first two columns are used).
    title
        Title of the predicted panel (default: ``key``).
    path
        Optional file to save the figure to.
    spot_size
        Marker area in points² (default: chosen from the spot density).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    KeyError
        If ``key``, ``truth_key`` or ``basis`` is absent.
    """
    for column, role in ((key, "key"), (truth_key, "truth_key")):
        if column is not None and column not in adata.obs:
            raise KeyError(f"`{role}`={column!r} is not a column of adata.obs; available: {list(adata.obs.columns)}.")
    if basis not in adata.obsm:
        raise KeyError(f"`basis`={basis!r} is not in adata.obsm; available: {list(adata.obsm.keys())}.")
    truth = adata.obs[truth_key] if truth_key is not None else None
    return plot_domains(
        np.asarray(adata.obsm[basis])[:, :2], adata.obs[key], truth, title=title or key, path=path, spot_size=spot_size
    )
