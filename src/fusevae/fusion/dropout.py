"""Latent component dropout (LCD, sensor-fusion eq. 13-14) as a wrapper around any expert fusion."""

from __future__ import annotations

import torch
from torch import Tensor

from ..distributions import DiagGaussian, Posterior
from .base import Fusion, component_mask


class LatentComponentDropout(Fusion):
    """During training, each latent component of each present expert reverts to the prior with probability alpha.

    Eq. 13-14 replace the dropped (mu_ij, sigma_ij^2) by the prior's (0, 1). We hide the
    component from the fusion instead (a per-dimension mask), which is what "simulate a
    missing modality" means for every fusion: identical for RBCM (a prior-valued expert has
    beta = 0) and for MoE (the component falls back to the prior), and for PoE and BCE it
    avoids counting the prior twice. alpha = 0 is the identity; alpha = 1 gives the prior.
    In evaluation mode the wrapper is the identity.
    """

    def __init__(self, inner: Fusion, alpha: float) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"latent component dropout alpha must be in [0, 1], got {alpha}")
        if inner.consumes != "experts":
            raise ValueError(
                "latent component dropout drops components of Gaussian experts; this fusion reads embeddings"
            )
        self.inner = inner
        self.alpha = alpha
        self.consumes = inner.consumes
        self.mixture = inner.mixture

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> Posterior:
        if not self.training or self.alpha == 0.0 or not isinstance(inputs, DiagGaussian):
            return self.inner(inputs, mask)
        m = component_mask(mask, inputs.mu)
        keep = torch.rand(m.shape, device=m.device) >= self.alpha  # m_i ~ B(1 - alpha), eq. 13
        return self.inner(inputs, m & keep)
