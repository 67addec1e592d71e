"""Evaluation metrics."""

from .likelihood import importance_log_likelihoods, joint_elbo, likelihood_table

__all__ = ["importance_log_likelihoods", "joint_elbo", "likelihood_table"]
