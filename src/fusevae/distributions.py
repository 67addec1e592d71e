"""Diagonal Gaussians for posteriors and prior, with a numerically bounded log-variance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def bounded_logvar(raw: Tensor, low: float, high: float) -> Tensor:
    """Map an unconstrained network output to a log-variance in (low, high).

    Two softplus hinges keep the map the identity well inside the interval, so
    gradients are untouched there, while saturating smoothly at the edges. This is
    why an attention head cannot overflow exp(logvar) at lr 1e-3: the variance
    never leaves [e^low, e^high] and its gradient never becomes exactly zero.
    """
    upper = high - F.softplus(high - raw)
    return low + F.softplus(upper - low)


@dataclass
class DiagGaussian:
    """N(mu, diag(exp(logvar))) over the last dimension; batch shape is mu.shape[:-1]."""

    mu: Tensor
    logvar: Tensor

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    def rsample(self, k: int | None = None) -> Tensor:
        """Reparameterised sample (SMVAE eq. 6); with k, shape (k, *batch, D)."""
        shape = self.mu.shape if k is None else (k, *self.mu.shape)
        eps = torch.randn(shape, dtype=self.mu.dtype, device=self.mu.device)
        return self.mu + self.std * eps

    def log_prob(self, z: Tensor) -> Tensor:
        """log N(z; mu, sigma^2) summed over the latent dimension; z broadcasts on the left."""
        return -0.5 * (((z - self.mu) ** 2) * torch.exp(-self.logvar) + self.logvar + LOG_2PI).sum(-1)

    def kl_standard_normal(self) -> Tensor:
        """Closed-form KL(q || N(0, I)), summed over the latent dimension."""
        return 0.5 * (self.mu**2 + torch.exp(self.logvar) - 1.0 - self.logvar).sum(-1)

    def detach(self) -> DiagGaussian:
        return DiagGaussian(self.mu.detach(), self.logvar.detach())

    @staticmethod
    def standard(shape: tuple[int, ...], like: Tensor) -> DiagGaussian:
        zeros = torch.zeros(shape, dtype=like.dtype, device=like.device)
        return DiagGaussian(zeros, zeros.clone())


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)
