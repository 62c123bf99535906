"""Evaluation metrics: clustering agreement (both methods) and per-gene imputation accuracy (SpaLSTF)."""

from .clustering import clustering_scores
from .imputation import gene_scores, imputation_cluster_scores, js, leiden_labels, rmse, spcc, ssim

__all__ = ["clustering_scores", "gene_scores", "imputation_cluster_scores", "leiden_labels", "spcc", "ssim", "rmse", "js"]
