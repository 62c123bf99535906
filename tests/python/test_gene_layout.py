"""Where genes sit on the spot images: the Hilbert curve, the correlation order and the round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spatialdiffusion.gene_layout import correlation_order, gene_pixels, hilbert_curve, locality_curve
from spatialdiffusion.methods.diffusionst_stages import enhance_diffusion
from spatialdiffusion.preprocess import from_images, to_images
from spatialdiffusion.presets import diffusionst_config


def _steps(curve: np.ndarray, side: int) -> np.ndarray:
    rows, cols = np.divmod(curve, side)
    return np.abs(np.diff(rows)) + np.abs(np.diff(cols))


@pytest.mark.parametrize("order", [0, 1, 2, 3, 6])
def test_hilbert_curve_visits_every_pixel_once_by_edge_steps(order: int) -> None:
    side = 1 << order
    curve = hilbert_curve(order)
    np.testing.assert_array_equal(np.sort(curve), np.arange(side * side))
    assert np.all(_steps(curve, side) == 1)
    if order >= 2:  # every aligned 2x2 block is one run of 4 consecutive pixels
        rows, cols = np.divmod(curve, side)
        blocks = (rows // 2) * side + cols // 2
        assert np.all(blocks.reshape(-1, 4) == blocks.reshape(-1, 4)[:, :1])


def test_locality_curve_on_a_side_that_is_not_a_power_of_two() -> None:
    side = 24  # blocks of 8x8, visited row by row
    curve = locality_curve(side)
    np.testing.assert_array_equal(np.sort(curve), np.arange(side * side))
    rows, cols = np.divmod(curve, side)
    blocks = (rows // 8) * 3 + cols // 8
    np.testing.assert_array_equal(blocks, np.repeat(np.arange(9), 64))
    assert np.mean(_steps(curve, side) == 1) > 0.99
    np.testing.assert_array_equal(locality_curve(64), hilbert_curve(6))


def test_correlation_order_puts_co_varying_genes_together() -> None:
    rng = np.random.default_rng(0)
    programmes = rng.normal(size=(200, 3))
    group = np.arange(30) % 3  # the input interleaves the three groups of genes
    matrix = programmes[:, group] + 0.3 * rng.normal(size=(200, 30))
    matrix[:, 5] = 1.0  # a constant gene must not break the correlation
    order = correlation_order(matrix)
    np.testing.assert_array_equal(np.sort(order), np.arange(30))
    varying = order[order != 5]
    assert np.count_nonzero(np.diff(group[varying])) == 2  # three contiguous runs


def test_gene_pixels_and_the_image_round_trip() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(6, 50)).astype(np.float32)
    np.testing.assert_array_equal(gene_pixels(matrix, 8, "file"), np.arange(50))
    pixels = gene_pixels(matrix, 8, "clustered")
    assert len(np.unique(pixels)) == 50 and pixels.min() >= 0 and pixels.max() < 64
    images = to_images(matrix, 8, pixels)
    assert images.shape == (6, 1, 8, 8)
    row, col = divmod(int(pixels[17]), 8)
    assert images[2, 0, row, col] == matrix[2, 17]
    assert np.count_nonzero(images.reshape(6, -1)[:, np.setdiff1d(np.arange(64), pixels)]) == 0
    np.testing.assert_array_equal(from_images(images, 50, pixels), matrix)
    with pytest.raises(ValueError, match="`layout` must be one of"):
        gene_pixels(matrix, 8, "spiral")
    with pytest.raises(ValueError, match="gene_layout"):
        diffusionst_config("fast", torch.device("cpu"), gene_layout="spiral")


def test_enhancement_with_clustered_layout_returns_each_gene_to_its_column() -> None:
    rng = np.random.default_rng(2)
    programmes = rng.normal(size=(60, 4))
    matrix = (programmes[:, np.arange(80) % 4] + 0.5 * rng.normal(size=(60, 80))) * np.linspace(0.5, 4, 80)
    matrix = (matrix + np.linspace(-5, 5, 80)).astype(np.float32)
    config = diffusionst_config("fast", torch.device("cpu"), train_epochs=1, batch_size=16, gene_layout="clustered")[1]
    enhanced, _ = enhance_diffusion(matrix, config, seed=0, device=torch.device("cpu"), verbose=False)
    assert enhanced.shape == matrix.shape and np.all(np.isfinite(enhanced))
    per_gene = [np.corrcoef(enhanced[:, j], matrix[:, j])[0, 1] for j in range(80)]
    assert min(per_gene) > 0.5
