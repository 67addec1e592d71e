"""Fusions of unimodal Gaussian experts."""

from __future__ import annotations

import torch
from torch import Tensor

from ..distributions import DiagGaussian
from .base import Fusion


class ProductOfExperts(Fusion):
    """MVAE's product of Gaussian experts with a N(0, I) prior expert.

    Precision T = 1 + sum_{i in S} exp(-logvar_i), mean = (sum_i mu_i exp(-logvar_i)) / T.
    Computed in log space (logsumexp of log-precisions) so that very confident experts
    cannot overflow; absent experts get log-precision -inf and so contribute exactly 0.
    """

    consumes = "experts"

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        if not isinstance(inputs, DiagGaussian):
            raise TypeError("ProductOfExperts fuses Gaussian experts, got a plain tensor")
        mu, logvar = inputs.mu, inputs.logvar  # (N, M, D)
        neg_inf = torch.finfo(logvar.dtype).min
        log_prec = torch.where(mask.unsqueeze(-1), -logvar, torch.full_like(logvar, neg_inf))
        prior_log_prec = torch.zeros_like(log_prec[:, :1])
        all_log_prec = torch.cat([prior_log_prec, log_prec], dim=1)  # (N, 1+M, D)
        log_total = torch.logsumexp(all_log_prec, dim=1)  # log T
        weights = torch.exp(all_log_prec - log_total.unsqueeze(1))  # each expert's share of T
        mu_all = torch.cat([torch.zeros_like(mu[:, :1]), mu], dim=1)
        fused_mu = (weights * mu_all).sum(1)
        return DiagGaussian(fused_mu, -log_total)
