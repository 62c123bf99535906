"""Agreement between two labellings of the same spots/cells: ARI, AMI, NMI and homogeneity."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

MISSING_LABELS = frozenset({"", "na", "nan", "none", "null"})


def _as_labels(values: Sequence[object] | np.ndarray | pd.Series, name: str) -> pd.Series:
    series = pd.Series(np.asarray(values, dtype=object), dtype=object)
    if series.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional.")
    return series


def _is_missing(labels: pd.Series) -> np.ndarray:
    text = labels.astype(str).str.strip().str.lower()
    return (labels.isna() | text.isin(MISSING_LABELS)).to_numpy()


def clustering_scores(truth: Sequence[object] | np.ndarray | pd.Series, pred: Sequence[object] | np.ndarray | pd.Series) -> dict[str, float]:
    """Score a predicted labelling against a reference labelling.

    Spots whose reference label is missing (``None``, NaN, or the strings ``"NA"``, ``"nan"``, ``""``)
    are excluded first, as in the DiffusionST/DenoiseST DLPFC protocol.

    Parameters
    ----------
    truth
        Reference labels, one per observation.
    pred
        Predicted labels, same length and order as ``truth``.

    Returns
    -------
    dict
        ``ari`` (adjusted Rand index), ``ami`` (adjusted mutual information, arithmetic normalisation),
        ``nmi`` (normalised mutual information, arithmetic mean, as scikit-learn and the SpaLSTF code),
        ``homo`` (homogeneity of the predicted clusters w.r.t. the reference) and ``n_scored``.

    Raises
    ------
    ValueError
        If the lengths differ, a predicted label is missing where the reference has one, or nothing is left
        to score.
    """
    truth_s = _as_labels(truth, "truth")
    pred_s = _as_labels(pred, "pred")
    if len(truth_s) != len(pred_s):
        raise ValueError(f"`truth` and `pred` must have the same length, got {len(truth_s)} and {len(pred_s)}.")
    keep = ~_is_missing(truth_s)
    if not keep.any():
        raise ValueError("Every reference label is missing (NA); nothing to score.")
    if _is_missing(pred_s)[keep].any():
        raise ValueError("`pred` has missing labels for observations that have a reference label.")
    t = truth_s[keep].astype(str).to_numpy()
    p = pred_s[keep].astype(str).to_numpy()
    return {
        "ari": float(skm.adjusted_rand_score(t, p)),
        "ami": float(skm.adjusted_mutual_info_score(t, p)),
        "nmi": float(skm.normalized_mutual_info_score(t, p)),
        "homo": float(skm.homogeneity_score(t, p)),
        "n_scored": int(keep.sum()),
    }
