"""How far to trust each imputed gene: scores on reference cells the model never saw, and the neighbour blend.

A share of the reference cells is held out of training (:func:`split_reference`). After training, the
model imputes their target genes from their observed genes, and :func:`validate` scores each gene by the
Spearman correlation of the imputation with the measured values, next to the same score of the mean of the
reference neighbours (the ``k`` training cells nearest in observed genes). The scores are a cheap internal
check: they see the model's error on the reference's own platform, not the shift between the reference and
the spatial assay.

With ``reference_blend="validated"`` the imputation of each gene becomes ``w * model + (1 - w) * neighbours``,
``w`` in ``{0, 0.1, ..., 1}`` chosen per gene to maximise that held-out correlation (:func:`blend_weights`).
``reference_blend="auto"`` does so only when the held-out cells can speak for the spatial cells: when the
spatial cells lie as close to the reference as the held-out reference cells do
(:func:`reference_distance_ratio` at most :data:`MAX_BLEND_DISTANCE_RATIO`). Across platforms (smFISH
against scRNA-seq) the spatial cells lie far from every reference cell, the neighbour average carries the
platform's shift, and the model's output is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from sklearn.neighbors import NearestNeighbors

from .._utils import check_positive_int
from ..metrics.imputation import spcc
from ._data import normalize, to_lognorm

MAX_VALIDATION_CELLS = 2000
"""At most this many reference cells are held out, whatever the fraction: enough for stable correlations."""
MIN_VALIDATION_CELLS = 30
"""Fewer held-out cells (or fewer left to train on) than this and no validation is run."""
BLEND_NEIGHBOURS = 50
"""Reference cells averaged by the neighbour estimate that the validation scores and the blend uses."""
REFERENCE_BLENDS = ("auto", "none", "validated")
MAX_BLEND_DISTANCE_RATIO = 1.5
"""``reference_blend="auto"`` blends only up to this :func:`reference_distance_ratio`. Held-out reference
cells have ratio 1 by construction; spatial data from the reference's own platform stays close to it (0.99
for STARmap, 1.01 for Visium in ``benchmarks/RESULTS.md``), smFISH against scRNA-seq lies far above it (3.7)."""
DISTANCE_CELLS = 2000
"""At most this many spatial cells (drawn with the run's seed) enter :func:`reference_distance_ratio`."""
BLEND_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)

ImputeHeldOut = Callable[[np.ndarray], np.ndarray]
"""Held-out observed counts (cells x observed genes) to their imputed target genes, log-normalised."""


def check_validation_fraction(fraction: object) -> float:
    """``validation_fraction`` as a float in ``[0, 0.5]``.

    Raises
    ------
    TypeError, ValueError
        For a non-number or a value outside ``[0, 0.5]``.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"`validation_fraction` must be a number in [0, 0.5], got {type(fraction).__name__}.")
    if not 0 <= fraction <= 0.5 or not np.isfinite(fraction):
        raise ValueError(f"`validation_fraction` must lie in [0, 0.5] (0 turns the validation off), got {fraction}.")
    return float(fraction)


def check_reference_blend(blend: object, fraction: float) -> str:
    """``reference_blend`` checked against :data:`REFERENCE_BLENDS`; ``"validated"`` needs held-out cells
    (``"auto"`` without them keeps the model's output)."""
    if blend not in REFERENCE_BLENDS:
        raise ValueError(f"`reference_blend` must be one of {REFERENCE_BLENDS}, got {blend!r}.")
    if blend == "validated" and fraction == 0:
        raise ValueError("`reference_blend='validated'` chooses its weights on held-out reference cells; "
                         "set `validation_fraction` above 0.")
    return str(blend)


def split_reference(n_cells: int, fraction: float, seed: int) -> np.ndarray | None:
    """Indices (sorted) of the reference cells held out of training, or ``None`` when there are too few.

    ``round(fraction * n_cells)`` cells, at most :data:`MAX_VALIDATION_CELLS`, drawn with ``seed``; ``None``
    when ``fraction`` is 0 or the held-out or remaining cells would number fewer than
    :data:`MIN_VALIDATION_CELLS`.
    """
    n_held = min(MAX_VALIDATION_CELLS, int(round(fraction * n_cells)))
    if fraction == 0 or n_held < MIN_VALIDATION_CELLS or n_cells - n_held < MIN_VALIDATION_CELLS:
        return None
    return np.sort(np.random.default_rng(seed).permutation(n_cells)[:n_held])


class ReferenceNeighbours:
    """The training reference cells, searchable by their observed genes in model space.

    Built once per run and shared by the neighbour average, the distance ratio and the validation, so the
    reference is indexed once.

    Parameters
    ----------
    ref_counts
        Training reference cells x (observed, then target genes), raw counts.
    n_observed
        Number of observed genes.
    k
        Neighbours of every query (capped at the number of reference cells).

    Raises
    ------
    TypeError, ValueError
        If ``k`` is not a positive integer.
    """

    def __init__(self, ref_counts: np.ndarray, n_observed: int, k: int) -> None:
        k = check_positive_int(k, "k")
        self.n_observed = n_observed
        model_space, _ = normalize(ref_counts, n_observed)
        self._target_model_space = model_space[:, n_observed:]
        self._index = NearestNeighbors(n_neighbors=min(k, len(ref_counts))).fit(model_space[:, :n_observed])

    def _neighbours_of(self, model_space: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices of the neighbours of cells already in model space (observed columns first)."""
        return self._index.kneighbors(model_space[:, :self.n_observed])

    def query(self, observed_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices of each cell's neighbours; ``observed_counts`` is cells x observed genes, raw counts."""
        return self._neighbours_of(normalize(observed_counts, self.n_observed)[0])

    def mean_distance(self, observed_counts: np.ndarray) -> np.ndarray:
        """Each cell's mean Euclidean distance to its neighbours over the observed genes, in model space."""
        return self.query(observed_counts)[0].mean(axis=1)

    def average_model_space(self, observed_counts: np.ndarray) -> np.ndarray:
        """Mean target genes of each cell's neighbours, in model space (``[-1, 1]`` per reference cell)."""
        return self._mean_targets(normalize(observed_counts, self.n_observed)[0])

    def average(self, observed_counts: np.ndarray) -> np.ndarray:
        """Mean target genes of each cell's neighbours as ``log1p(1e4 * count / observed library)`` of that cell."""
        model_space, scale = normalize(observed_counts, self.n_observed)
        return (self._mean_targets(model_space) + 1.0) / 2.0 * scale[:, 1:2]

    def _mean_targets(self, model_space: np.ndarray) -> np.ndarray:
        """Mean model-space target genes of the neighbours of cells already in model space."""
        return self._target_model_space[self._neighbours_of(model_space)[1]].mean(axis=1)


def reference_distance_ratio(neighbours: ReferenceNeighbours, observed_counts: np.ndarray, held_counts: np.ndarray,
                             seed: int) -> float:
    """How far the spatial cells lie from the reference, relative to the reference's own held-out cells.

    For each cell, the mean Euclidean distance to its nearest training reference cells over the observed
    genes (model space, as the neighbour average); the ratio of the median over spatial cells (at most
    :data:`DISTANCE_CELLS`, drawn with ``seed``) to the median over the held-out reference cells. About 1
    when the spatial cells are like reference cells the model never saw; well above 1 when the spatial assay
    differs from the reference's platform.

    Parameters
    ----------
    neighbours
        The training reference cells.
    observed_counts
        Spatial cells x observed genes, raw counts.
    held_counts
        Held-out reference cells (not trained on) x observed genes, raw counts.
    seed
        Seeds the draw of spatial cells.
    """
    if len(observed_counts) > DISTANCE_CELLS:
        observed_counts = observed_counts[np.random.default_rng(seed).choice(len(observed_counts), DISTANCE_CELLS, replace=False)]
    spatial = np.median(neighbours.mean_distance(observed_counts))
    held = np.median(neighbours.mean_distance(held_counts))
    return float(spatial / max(float(held), 1e-12))


@dataclass(frozen=True)
class Validation:
    """Held-out scores per target gene: the model's (``spcc``), the neighbour average's (``neighbour_spcc``),
    and the blend weight of the model (``model_weight``; 1 without blending)."""

    genes: list[str]
    n_cells: int
    spcc: np.ndarray
    neighbour_spcc: np.ndarray
    model_weight: np.ndarray

    def to_dict(self) -> dict[str, list]:
        """Equal-length lists keyed ``gene, validation_spcc, neighbour_validation_spcc, model_weight``."""
        def plain(values: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 4) for v in values]

        return {"gene": list(self.genes), "validation_spcc": plain(self.spcc),
                "neighbour_validation_spcc": plain(self.neighbour_spcc), "model_weight": plain(self.model_weight)}


def blend_weights(truth: np.ndarray, model: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Per gene, the weight ``w`` of :data:`BLEND_GRID` whose ``w * model + (1 - w) * neighbours`` correlates best with ``truth``.

    Ties (and genes constant in every blend) go to the larger weight, so the model is kept unless the
    neighbours do better.
    """
    scores = np.stack([spcc(truth, w * model + (1 - w) * neighbours) for w in BLEND_GRID])  # weights x genes
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    best_from_top = np.argmax(scores[::-1], axis=0)
    return BLEND_GRID[::-1][best_from_top]


def validate(
    impute: ImputeHeldOut, held_counts: np.ndarray, neighbours: ReferenceNeighbours, genes: Sequence[str], *, blend: str,
) -> Validation:
    """Score the imputation of the held-out reference cells gene by gene.

    Parameters
    ----------
    impute
        Function from held-out observed counts (cells x observed genes) to their imputed target genes on the
        ``log1p(1e4 * count / observed library)`` scale (the trained model).
    held_counts
        Held-out reference cells (not trained on) x (observed, then target genes), raw counts.
    neighbours
        The training reference cells, whose neighbour average is scored beside the model.
    genes
        Target gene names.
    blend
        ``"validated"`` fits :func:`blend_weights`; ``"none"`` keeps weight 1.
    """
    n_observed = neighbours.n_observed
    x, scale = normalize(held_counts, n_observed)
    truth = to_lognorm(x, scale)[:, n_observed:]
    model = impute(held_counts[:, :n_observed])
    average = neighbours.average(held_counts[:, :n_observed])
    weights = blend_weights(truth, model, average) if blend == "validated" else np.ones(truth.shape[1])
    return Validation(list(genes), len(held_counts), spcc(truth, model), spcc(truth, average), weights)
