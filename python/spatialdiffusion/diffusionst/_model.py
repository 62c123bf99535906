"""DiffusionST: denoise, diffusion-enhance and cluster spot-level spatial transcriptomics.

:func:`diffusionst_arrays` is the array-level core (numpy in, dict of numpy out) used by the R package;
:func:`diffusionst` is the scanpy-style AnnData front end.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import (PeakGPUMemory, StageTimer, check_flag, check_key, check_positive_int, check_precision, check_seed,
                      package_versions, resolve_device, restores_global_rng, seed_everything)
from ..checks import check_coords, check_counts, check_gene_list, check_unique_genes
from ..cluster import cluster_embedding, refine_labels
from ..graph import propagation_matrix, spatial_adjacency
from ..io import check_key_added, coordinates_of, counts_of
from ._config import DiffusionSTConfig, diffusionst_config
from ._preprocess import check_library_size, image_side, normalize_log_scale, select_hvg, stable_gene_library
from ._stages import denoise_gcn, embed, enhance_diffusion, gcn_latent_dim, unet_downsampling


AUTO_ENHANCED_MAX_SPOTS = 50_000
"""Above this many spots ``return_enhanced=None`` does not return the enhanced matrix.

The matrix takes 16 kB per spot at 4096 genes (float32): 0.8 GB at this size, twice that once copied into R
as doubles. Visium sections (at most about 5,000 spots) keep it; Visium HD bins and single-cell sections of
100,000 spots and more, where it would be several GB, do not, unless asked.
"""


def resolve_return_enhanced(return_enhanced: object, n_spots: int) -> bool:
    """Whether the enhanced matrix is returned: ``return_enhanced`` itself, or for ``None`` whether
    ``n_spots`` is at most :data:`AUTO_ENHANCED_MAX_SPOTS`.

    Raises
    ------
    TypeError
        If ``return_enhanced`` is neither ``None`` nor a bool.
    """
    if return_enhanced is None:
        return n_spots <= AUTO_ENHANCED_MAX_SPOTS
    return check_flag(return_enhanced, "return_enhanced")


class _Labels(NamedTuple):
    """How the caller named each input, for error messages."""

    counts: str
    coords: str
    genes: str
    library: str


def _checked_inputs(
    counts: object, coords: object, gene_names: Sequence[str] | None, library_size: object, n_clusters: object, *, labels: _Labels
) -> tuple[sp.csr_matrix, np.ndarray, list[str] | None, np.ndarray | None, int]:
    """Check DiffusionST's inputs once, naming each as the caller knows it (``labels``).

    Returns
    -------
    tuple
        The counts as float32 CSR, the ``N x 2`` coordinates, the gene names (or ``None``), the library
        sizes (or ``None``) and ``n_clusters``.

    Raises
    ------
    TypeError, ValueError
        Naming the input that is malformed and what it should be.

    Warns
    -----
    UserWarning
        When gene names are repeated (see :func:`~spatialdiffusion.checks.check_unique_genes`).
    """
    mat = check_counts(counts, labels.counts)
    n_spots, n_genes = mat.shape
    xy = check_coords(coords, n_spots, labels.coords)
    library = None if library_size is None else check_library_size(library_size, mat, labels.library)
    n_clusters = check_positive_int(n_clusters, "n_clusters", minimum=2, maximum=max(2, n_spots - 1))
    if gene_names is not None:
        gene_names = check_gene_list(gene_names, labels.genes)
        if len(gene_names) != n_genes:
            raise ValueError(f"`{labels.genes}` has {len(gene_names)} entries but `{labels.counts}` has {n_genes} genes.")
        check_unique_genes(gene_names, labels.genes, stacklevel=3, consequence=(
            "DiffusionST works on the columns and runs as usual, but the selected genes it reports cannot all be told "
            "apart by name."))
    return mat, xy, gene_names, library, n_clusters


def diffusionst_arrays(
    counts: np.ndarray | sp.spmatrix,
    coords: np.ndarray,
    gene_names: Sequence[str] | None = None,
    *,
    n_clusters: int = 7,
    preset: str = "auto",
    device: str = "auto",
    seed: int = 0,
    cluster: bool = True,
    verbose: bool = True,
    library_size: np.ndarray | Sequence[float] | None = None,
    return_enhanced: bool | None = None,
    **overrides: object,
) -> dict:
    """Run DiffusionST on a spots x genes count matrix.

    Parameters
    ----------
    counts
        Raw UMI counts, spots x genes (dense or scipy sparse).
    coords
        ``N x 2`` spot coordinates (any unit; only distances matter).
    gene_names
        Optional gene names, used to report the selected genes.
    n_clusters
        Number of spatial domains K (7 for most DLPFC slices).
    preset
        ``"fast"`` (CPU-sized), ``"paper"`` (published sizes, for a GPU) or ``"auto"`` (``paper`` on CUDA).
    device
        ``"auto"`` (CUDA, then MPS, then CPU) or a torch device string.
    seed
        Seeds every stochastic step (network initialisation, noise, PCA, mclust): an integer in ``[0, 2**31)``,
        the range of R's ``set.seed``.
    cluster
        Cluster the embedding (mclust EEE, then refinement). The R package passes ``False`` and runs
        ``mclust`` in R itself.
    verbose
        Show progress bars.
    library_size
        Each spot's total UMI count over the whole transcriptome, for a ``counts`` matrix that holds
        only some genes (e.g. the top variable ones). DiffusionST normalises each spot by its library
        size over all genes; without this, the totals over the genes of ``counts`` stand in for it.
        Default ``None``.
    return_enhanced
        Return the ``N x G`` enhanced matrix. ``None`` (default): only for at most
        :data:`~spatialdiffusion.diffusionst.AUTO_ENHANCED_MAX_SPOTS` (50,000) spots, with a warning above
        that saying how to get it. Without it the embedding and domains are the same; only the matrix is
        dropped once its PCA is computed.
    **overrides
        Any field of :class:`~spatialdiffusion.diffusionst.DiffusionSTConfig` (e.g. ``gcn_epochs=50``).

    Returns
    -------
    dict
        ``embedding`` (N x n_pcs float32), ``enhanced`` (N x G_selected float32, or ``None`` when not
        returned, see ``return_enhanced``), ``hvg_index`` (selected
        gene columns, input order), ``genes`` (their names, if ``gene_names`` was given),
        ``domains`` and ``domains_unrefined`` (int labels ``1..K``; only when ``cluster``),
        ``cluster_backend``, ``params`` (the settings used; ``n_pcs`` and ``latent_dim`` after their caps at the
        data's size; ``return_enhanced`` the decision taken, ``return_enhanced_requested`` the argument; on CUDA
        also ``peak_gpu_memory_mib``, the most memory torch held for tensors during the run), ``timings`` (seconds
        per stage), ``stats``, ``versions``.
    """
    mat, xy, gene_names, library, n_clusters = _checked_inputs(
        counts, coords, gene_names, library_size, n_clusters,
        labels=_Labels(counts="counts", coords="coords", genes="gene_names", library="library_size"),
    )
    return _run(mat, xy, gene_names, library, n_clusters=n_clusters, preset=preset, device=device, seed=seed, cluster=cluster,
                verbose=verbose, return_enhanced=return_enhanced, overrides=overrides)


def _library_sizes(mat: sp.csr_matrix, supplied: np.ndarray | None, config: DiffusionSTConfig) -> tuple[np.ndarray | None, str]:
    """The library sizes to normalise by (``None``: the totals over the input's genes) and their source, for ``params``.

    Supplied totals win; otherwise the totals over all or over the stable input genes (``config.library_genes``),
    divided by the input genes' share of the whole transcriptome (``config.library_share``).
    """
    if supplied is not None:
        return supplied, "supplied"
    source = "stable input genes" if config.library_genes == "stable" else "input genes"
    if config.library_genes == "all" and config.library_share == 1:
        return None, source
    totals = stable_gene_library(mat) if config.library_genes == "stable" else np.asarray(mat.sum(axis=1)).ravel()
    return totals / config.library_share, source


@restores_global_rng
def _run(
    mat: sp.csr_matrix,
    xy: np.ndarray,
    gene_names: list[str] | None,
    library: np.ndarray | None,
    *,
    n_clusters: int,
    preset: str,
    device: str,
    seed: int,
    cluster: bool,
    verbose: bool,
    return_enhanced: bool | None,
    overrides: dict[str, object],
) -> dict:
    """DiffusionST on inputs already checked by :func:`_checked_inputs` (the body of both entry points)."""
    seed = check_seed(seed)
    verbose, cluster = check_flag(verbose, "verbose"), check_flag(cluster, "cluster")
    n_spots, n_genes = mat.shape
    keep_enhanced = resolve_return_enhanced(return_enhanced, n_spots)
    dev = resolve_device(device)
    preset_name, config = diffusionst_config(preset, dev, **overrides)
    check_precision(config.precision, dev)
    seed_everything(seed)
    peak_gpu_memory = PeakGPUMemory(dev)
    timer = StageTimer()
    stats: dict[str, float] = {}

    image_side(min(n_genes, config.n_top_genes), unet_downsampling(config))  # too few genes: fail before any work
    if n_spots <= config.n_neighbors:
        raise ValueError(f"DiffusionST needs more spots than `n_neighbors` ({config.n_neighbors}), got {n_spots}; "
                         "run it on a whole sample.")
    with timer("preprocess"):
        library, library_source = _library_sizes(mat, library, config)
        hvg = select_hvg(mat, config.n_top_genes)
        features = normalize_log_scale(mat, hvg, library_size=library)
    with timer("graph"):
        propagation = propagation_matrix(spatial_adjacency(xy, config.n_neighbors))
    with timer("gcn"):
        denoised, losses = denoise_gcn(features, propagation, config, counts=mat[:, hvg], seed=seed, device=dev, verbose=verbose)
        stats["gcn_first_loss"], stats["gcn_last_loss"] = losses[0], losses[-1]
    del features  # one N x G matrix fewer for the stages below
    if config.diffusion == "ddpm":
        with timer("diffusion"):  # written over the reconstruction, which nothing needs afterwards
            enhanced, diffusion_stats = enhance_diffusion(denoised, config, seed=seed, device=dev, verbose=verbose, out=denoised)
            stats.update(diffusion_stats)
    else:
        enhanced = denoised
    with timer("pca"):
        embedding = embed(enhanced, config.n_pcs, seed)
    if not keep_enhanced:
        enhanced = denoised = None  # freed before clustering
        if return_enhanced is None:
            warnings.warn(
                f"DiffusionST: {n_spots} spots is more than {AUTO_ENHANCED_MAX_SPOTS}, so the enhanced matrix "
                f"({n_spots} x {int(hvg.size)}) is not returned; the domains and embedding are. Pass "
                "return_enhanced=True to keep it.", UserWarning, stacklevel=3)
    result: dict = {
        "embedding": embedding,
        "enhanced": enhanced,
        "hvg_index": hvg.astype(np.int64),
        "genes": [str(gene_names[i]) for i in hvg] if gene_names is not None else None,
    }
    if cluster:
        with timer("cluster"):
            labels, backend = cluster_embedding(embedding, n_clusters, method=config.cluster_method, seed=seed,
                                                mclust_start=config.mclust_start)
        with timer("refine"):
            refined = refine_labels(labels, xy, config.refine_neighbors) if config.refine_neighbors else labels
        result.update(domains=refined, domains_unrefined=labels, cluster_backend=backend)
    result.update(
        params={"method": "DiffusionST", "preset": preset_name, "n_clusters": n_clusters, "seed": seed, "device": str(dev),
                "n_spots": n_spots, "n_genes_input": n_genes, "n_genes_selected": int(hvg.size),
                "library_size": library_source, "return_enhanced": keep_enhanced,
                "return_enhanced_requested": return_enhanced,
                **config.to_dict(), "n_pcs": embedding.shape[1], "latent_dim": gcn_latent_dim(config, n_spots, int(hvg.size)),
                **peak_gpu_memory.record()},
        timings={**timer.seconds, "total": timer.total},
        stats=stats,
        versions=package_versions(),
    )
    return result


def diffusionst(
    adata: ad.AnnData,
    n_clusters: int = 7,
    *,
    preset: str = "auto",
    device: str = "auto",
    seed: int = 0,
    layer: str | None = None,
    spatial_key: str = "spatial",
    library_size_key: str | None = None,
    key_added: str = "diffusionst",
    copy: bool = False,
    verbose: bool = True,
    return_enhanced: bool | None = None,
    **overrides: object,
) -> ad.AnnData | None:
    """Spatial domains of a spot-level dataset with DiffusionST (scanpy-style).

    Parameters
    ----------
    adata
        Spots x genes with raw counts in ``X`` (or in ``layers[layer]``) and coordinates in ``obsm[spatial_key]``
        (or, failing that, an ``obs`` column pair such as ``x``/``y``; see
        :func:`~spatialdiffusion.io.spatial_coordinates`).
    n_clusters
        Number of spatial domains K.
    preset, device, seed, verbose, return_enhanced, **overrides
        See :func:`diffusionst_arrays`.
    layer
        Layer holding raw counts (default ``X``).
    spatial_key
        ``obsm`` key of the coordinates.
    library_size_key
        ``obs`` column with each spot's total UMI count over the whole transcriptome, for data that
        hold only some genes (e.g. ``"total_counts"`` from ``sc.pp.calculate_qc_metrics`` run before the
        genes were subset, or spatialLIBD's ``"sum_umi"``); see ``library_size`` in
        :func:`diffusionst_arrays`. Default ``None``: the totals over the genes present.
    key_added
        Prefix of the written keys. They replace only the results of an earlier DiffusionST run under the
        same key; a key taken by other data (such as ``uns['spatial']``) is refused before any work.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes:

        - ``obs[f"{key_added}_domain"]``: categorical domain labels ``"1".."K"`` (after refinement);
        - ``obsm[f"X_{key_added}"]``: the PCA embedding that was clustered;
        - ``obsm[f"{key_added}_enhanced"]``: the enhanced expression of the selected genes, when returned
          (see ``return_enhanced``; otherwise an earlier run's matrix under this key is removed);
        - ``var[f"{key_added}_selected"]``: which genes were selected (their order = columns above);
        - ``uns[key_added]``: parameters, seed, timings per stage, diagnostics, package versions.
    """
    counts, counts_label = counts_of(adata, layer)
    key_added = check_key(key_added, "key_added")
    check_key_added(adata, key_added, "DiffusionST", {
        "obs": [f"{key_added}_domain"], "obsm": [f"X_{key_added}", f"{key_added}_enhanced"], "var": [f"{key_added}_selected"]})
    copy = check_flag(copy, "copy")
    if library_size_key is not None and library_size_key not in adata.obs:
        raise KeyError(f"adata.obs[{library_size_key!r}] not found; `library_size_key` must name an obs column of "
                       f"whole-transcriptome totals per spot. Available columns: {list(adata.obs.columns)}.")
    coords, coords_label = coordinates_of(adata, spatial_key)
    mat, coords, gene_names, library_size, n_clusters = _checked_inputs(
        counts, coords, list(adata.var_names),
        None if library_size_key is None else adata.obs[library_size_key].to_numpy(), n_clusters,
        labels=_Labels(counts=counts_label, coords=coords_label, genes="adata.var_names", library=f"adata.obs[{library_size_key!r}]"),
    )
    result = _run(mat, coords, gene_names, library_size, n_clusters=n_clusters, preset=preset, device=device, seed=seed,
                  cluster=True, verbose=verbose, return_enhanced=return_enhanced, overrides=overrides)
    target = adata.copy() if copy else adata
    selected = np.zeros(target.n_vars, dtype=bool)
    selected[result["hvg_index"]] = True
    domains = pd.Categorical(result["domains"].astype(str), categories=[str(k) for k in range(1, n_clusters + 1)])
    target.obs[f"{key_added}_domain"] = pd.Series(domains, index=target.obs_names)
    target.obsm[f"X_{key_added}"] = result["embedding"]
    if result["enhanced"] is None:
        target.obsm.pop(f"{key_added}_enhanced", None)
    else:
        target.obsm[f"{key_added}_enhanced"] = result["enhanced"]
    target.var[f"{key_added}_selected"] = selected
    target.uns[key_added] = {
        "params": {**result["params"], "library_size_key": library_size_key}, "timings": result["timings"], "stats": result["stats"],
        "versions": result["versions"], "cluster_backend": result["cluster_backend"],
        "genes": result["genes"],
    }
    return target if copy else None
