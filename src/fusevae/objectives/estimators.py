"""Estimators of log p(x_T) from samples of q(z | x_S): the ELBO and the IWAE bound."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

from ..distributions import DiagGaussian, standard_normal_log_prob


class Estimator(ABC):
    """Turns per-sample reconstruction terms into a bound; `k` samples are drawn per row."""

    name = ""

    def __init__(self, k: int = 1) -> None:
        if k < 1:
            raise ValueError(f"{self.name}: the number of samples k must be >= 1, got {k}")
        self.k = k

    @abstractmethod
    def __call__(self, rec: Tensor, z: Tensor, q: DiagGaussian, beta: float) -> Tensor:
        """rec (K, ...) reconstruction log-likelihoods of samples z (K, ..., D) from q -> bound (...)."""


class ELBO(Estimator):
    """E_q[log p(x|z)] - beta KL(q || p): Monte Carlo reconstruction, closed-form KL (SMVAE eq. 2-3)."""

    name = "elbo"

    def __call__(self, rec: Tensor, z: Tensor, q: DiagGaussian, beta: float) -> Tensor:
        return rec.mean(0) - beta * q.kl_standard_normal()


class IWAE(Estimator):
    """log (1/K) sum_k p(x|z_k) p(z_k)^beta / q(z_k)^beta, z_k ~ q (Burda et al.); beta=1 is the bound."""

    name = "iwae"

    def __call__(self, rec: Tensor, z: Tensor, q: DiagGaussian, beta: float) -> Tensor:
        log_w = rec + beta * (standard_normal_log_prob(z) - q.log_prob(z))
        return torch.logsumexp(log_w, dim=0) - math.log(self.k)


def make_estimator(name: str, k: int) -> Estimator:
    if name == "elbo":
        return ELBO(k)
    if name == "iwae":
        return IWAE(k)
    raise ValueError(f"unknown estimator {name!r}; expected 'elbo' or 'iwae'")
