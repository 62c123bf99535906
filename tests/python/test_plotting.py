"""Tests of spatialdiffusion.plotting on the shipped DLPFC example."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from spatialdiffusion import io as sdio
from spatialdiffusion.plotting import MISSING_COLOR, domain_palette, pl_domains, plot_domains

RELABEL = {"Layer1": "3", "Layer2": "1", "Layer3": "6", "Layer4": "2", "Layer5": "5", "Layer6": "4", "WM": "7", "NA": "7"}


@pytest.fixture(scope="module")
def dlpfc() -> ad.AnnData:
    adata = sdio.load_example("dlpfc_151673")
    truth = adata.obs["layer_guess_reordered"].astype(str)
    adata.obs["pred"] = truth.map(RELABEL).astype("category")  # a relabelled truth: a perfect clustering
    return adata


def _colors_by_label(ax) -> dict[str, str]:
    return {h.get_label(): to_hex(h.get_color()) for h in ax.get_legend().legend_handles}


def test_plot_domains_writes_a_png_with_truth_panel(dlpfc: ad.AnnData, tmp_path: Path) -> None:
    out = tmp_path / "domains.png"
    fig = plot_domains(dlpfc.obsm["spatial"], dlpfc.obs["pred"], truth=dlpfc.obs["layer_guess_reordered"], path=out)
    assert isinstance(fig, Figure)
    assert out.stat().st_size > 50_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    truth_ax, pred_ax = fig.axes[:2]
    assert [t.get_title() for t in (truth_ax, pred_ax)] == ["Ground truth", "Predicted domains"]
    # image orientation: y grows downwards; tissue keeps its shape
    assert truth_ax.yaxis_inverted() and truth_ax.get_aspect() == 1.0
    truth_colors, pred_colors = _colors_by_label(truth_ax), _colors_by_label(pred_ax)
    assert truth_colors["NA"] == MISSING_COLOR
    # every predicted domain takes the colour of the layer it reproduces
    for layer, cluster in RELABEL.items():
        if layer != "NA":
            assert pred_colors[cluster] == truth_colors[layer]


def test_plot_domains_without_truth_has_one_panel(dlpfc: ad.AnnData) -> None:
    fig = plot_domains(dlpfc.obsm["spatial"], dlpfc.obs["pred"].to_numpy(), title="K = 7")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 1
    assert fig.axes[0].get_title() == "K = 7"
    assert list(_colors_by_label(fig.axes[0])) == [str(i) for i in range(1, 8)]


def test_unmatched_predicted_domains_get_colours_unused_by_the_truth(dlpfc: ad.AnnData) -> None:
    pred = dlpfc.obs["pred"].astype(str).to_numpy().copy()
    pred[:100] = "8"  # one domain more than the truth has labels
    fig = plot_domains(dlpfc.obsm["spatial"], pred, truth=dlpfc.obs["layer_guess_reordered"])
    truth_colors, pred_colors = _colors_by_label(fig.axes[0]), _colors_by_label(fig.axes[1])
    assert pred_colors["8"] not in truth_colors.values()
    assert len(set(pred_colors.values())) == 8


def test_domain_palette_is_stable_and_distinct() -> None:
    assert domain_palette(["a", "b"]) == domain_palette(["a", "b"])
    for n in (7, 15, 30):
        assert len(set(domain_palette([str(i) for i in range(n)]).values())) == n


def test_pl_domains_reads_adata(dlpfc: ad.AnnData, tmp_path: Path) -> None:
    out = tmp_path / "adata.png"
    pl_domains(dlpfc, "pred", truth_key="layer_guess_reordered", path=out)
    assert out.stat().st_size > 50_000
    with pytest.raises(KeyError, match="truth_key"):
        pl_domains(dlpfc, "pred", truth_key="missing")
    with pytest.raises(KeyError, match="basis"):
        pl_domains(dlpfc, "pred", basis="X_umap")


def test_plot_domains_rejects_bad_input(dlpfc: ad.AnnData) -> None:
    coords = dlpfc.obsm["spatial"]
    with pytest.raises(ValueError, match="shape"):
        plot_domains(coords[:, 0], dlpfc.obs["pred"])
    with pytest.raises(ValueError, match="labels"):
        plot_domains(coords, dlpfc.obs["pred"][:10])
    with pytest.raises(ValueError, match="infinite"):
        plot_domains(np.full_like(coords, np.nan), dlpfc.obs["pred"])
