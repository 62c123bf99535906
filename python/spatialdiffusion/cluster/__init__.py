"""Clustering of embeddings into spatial domains (mclust / Gaussian mixture) and spatial refinement."""

from .core import cluster_embedding, gmm_cluster
from .mclust import MclustUnavailableError, mclust_available, mclust_cluster, mclust_fit
from .refine import refine_labels

__all__ = ["cluster_embedding", "gmm_cluster", "mclust_cluster", "mclust_fit", "mclust_available", "MclustUnavailableError", "refine_labels"]
