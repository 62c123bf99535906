"""Cluster an embedding into K domains: mclust EEE through rpy2, or a Gaussian-mixture fallback."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.mixture import GaussianMixture

from .mclust import MclustUnavailableError, mclust_cluster

METHODS = ("auto", "mclust", "gmm")


def gmm_cluster(embedding: np.ndarray, n_clusters: int, *, seed: int = 0) -> np.ndarray:
    """scikit-learn Gaussian mixture with one shared full covariance (the analogue of mclust EEE).

    Returns integer labels ``1..n_clusters``. The mixture (``covariance_type="tied"``) is fitted from three
    initialisations (``n_init=3``), keeping the best.

    Parameters
    ----------
    embedding
        Observations x features.
    n_clusters
        Number of mixture components (converted with ``int``).
    seed
        ``random_state`` of the mixture.

    Returns
    -------
    numpy.ndarray
        int64 labels in ``1..n_clusters``, one per observation (a component that ends up empty leaves its
        label unused).
    """
    gmm = GaussianMixture(n_components=int(n_clusters), covariance_type="tied", n_init=3, random_state=int(seed))
    return gmm.fit_predict(embedding).astype(np.int64) + 1


def cluster_embedding(
    embedding: np.ndarray, n_clusters: int, *, method: str = "auto", seed: int = 0, mclust_start: str = "subset"
) -> tuple[np.ndarray, str]:
    """Cluster ``embedding`` into ``n_clusters`` groups.

    Parameters
    ----------
    embedding
        Observations x features.
    n_clusters
        Number of clusters.
    method
        ``"mclust"`` (R's mclust EEE via rpy2; error if unavailable), ``"gmm"`` (scikit-learn tied-covariance
        Gaussian mixture) or ``"auto"`` (mclust, falling back to ``gmm`` with a warning).
    seed
        Seed for the clustering's randomness.
    mclust_start
        Spots of mclust's initial hierarchical clustering, ``"subset"`` or ``"all"`` (see
        :func:`~spatialdiffusion.cluster.mclust_cluster`); the Gaussian mixture ignores it.

    Returns
    -------
    labels, backend
        Integer labels ``1..n_clusters`` and the backend that produced them (``"mclust"`` or ``"gmm"``).

    Raises
    ------
    ValueError
        If ``method`` is not one of ``"auto"``, ``"mclust"`` or ``"gmm"``, or (unless ``method="gmm"``)
        ``mclust_start`` is not ``"subset"`` or ``"all"``.
    MclustUnavailableError
        If ``method="mclust"`` and R, mclust or rpy2 cannot be used, or mclust returns no fit.
    """
    if method not in METHODS:
        raise ValueError(f"`cluster_method` must be one of {METHODS}, got {method!r}.")
    if method == "gmm":
        return gmm_cluster(embedding, n_clusters, seed=seed), "gmm"
    try:
        return mclust_cluster(embedding, n_clusters, seed=seed, start=mclust_start), "mclust"
    except MclustUnavailableError as err:
        if method == "mclust":
            raise
        warnings.warn(
            f"R's mclust is unavailable ({err}); falling back to scikit-learn's GaussianMixture "
            "(covariance_type='tied'), which initialises differently and may give other domains.",
            RuntimeWarning,
            stacklevel=2,
        )
        return gmm_cluster(embedding, n_clusters, seed=seed), "gmm"
