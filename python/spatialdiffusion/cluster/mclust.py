"""R's ``mclust::Mclust`` called through rpy2, for Python-first use.

Never use this when R is the caller (R -> reticulate -> Python -> rpy2 aborts R); the R package runs
``Mclust`` itself on the embedding the engine returns.
"""

from __future__ import annotations

import numpy as np


class MclustUnavailableError(RuntimeError):
    """R, the R package mclust, or rpy2 cannot be used from this Python."""


_R_FIT = """
function(x, G, model, seed, start_all) {
    # Mclust evaluates a call to mclustBIC in the caller's frame, so mclust must be attached.
    suppressPackageStartupMessages(library(mclust))
    set.seed(seed)
    initialization <- if (start_all) list(subset = seq_len(nrow(x))) else list()
    fit <- mclust::Mclust(x, G = G, modelNames = model, verbose = FALSE, initialization = initialization)
    if (is.null(fit)) numeric(0) else c(fit$loglik, fit$classification)
}
"""


def mclust_available() -> bool:
    """True when rpy2 imports, R starts and the R package mclust is installed."""
    try:
        _r_fit_function()
    except MclustUnavailableError:
        return False
    return True


def _r_fit_function():  # noqa: ANN202 - returns an rpy2 closure
    try:
        import rpy2.robjects as ro
    except Exception as err:  # ImportError, or an R that fails to start
        raise MclustUnavailableError(f"rpy2 could not be loaded ({err}); install R and `pip install 'rpy2>=3.5,<3.6'`.") from err
    if not bool(ro.r('isTRUE(requireNamespace("mclust", quietly = TRUE))')[0]):
        raise MclustUnavailableError("the R package mclust is not installed; run install.packages('mclust') in R.")
    return ro.r(_R_FIT)


MCLUST_STARTS = ("subset", "all")


def mclust_fit(
    embedding: np.ndarray, n_clusters: int, *, model_name: str = "EEE", seed: int = 0, start: str = "subset"
) -> tuple[np.ndarray, float]:
    """Fit ``Mclust(embedding, G=n_clusters, modelNames=model_name)`` in R after ``set.seed(seed)``.

    Parameters
    ----------
    embedding
        Observations x features matrix (e.g. the first 10 or 20 principal components).
    n_clusters
        Number of mixture components.
    model_name
        mclust covariance model; ``"EEE"`` (shared full covariance) as DiffusionST.
    seed
        Seed for R's RNG (mclust subsamples for its initial hierarchical clustering above 2000 spots).
    start
        Spots of the hierarchical clustering that starts EM: ``"subset"`` (mclust's default: all of them
        up to 2000, else a random 2000 drawn from ``seed``) or ``"all"`` (every spot: the fit no longer
        depends on ``seed``; time and memory grow with the square of the number of spots).

    Returns
    -------
    labels, loglik
        Integer labels ``1..n_clusters`` and the fit's log-likelihood (fits of the same data, model and
        ``n_clusters`` compare by it).

    Raises
    ------
    ValueError
        If ``start`` is not ``"subset"`` or ``"all"``.
    MclustUnavailableError
        If R/mclust/rpy2 cannot be used, or mclust returns no fit.
    """
    if start not in MCLUST_STARTS:
        raise ValueError(f"`mclust_start` must be one of {MCLUST_STARTS}, got {start!r}.")
    fit = _r_fit_function()
    import rpy2.robjects as ro
    from rpy2.robjects import numpy2ri

    data = np.ascontiguousarray(embedding, dtype=np.float64)
    with (ro.default_converter + numpy2ri.converter).context():
        result = np.asarray(fit(data, int(n_clusters), model_name, int(seed), start == "all"), dtype=np.float64)
    if result.shape[0] != data.shape[0] + 1:
        raise MclustUnavailableError(f"mclust could not fit model {model_name} with {n_clusters} clusters to this embedding.")
    return result[1:].astype(np.int64), float(result[0])


def mclust_cluster(embedding: np.ndarray, n_clusters: int, *, model_name: str = "EEE", seed: int = 0, start: str = "subset") -> np.ndarray:
    """Labels of :func:`mclust_fit` (same parameters and errors): integers ``1..n_clusters``, one per observation."""
    return mclust_fit(embedding, n_clusters, model_name=model_name, seed=seed, start=start)[0]
