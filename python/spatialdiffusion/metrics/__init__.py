"""Evaluation metrics: clustering agreement (both methods) and per-gene imputation accuracy (SpaLSTF)."""

from .clustering import clustering_scores

__all__ = ["clustering_scores"]
