"""Posteriors and prior: diagonal Gaussians (bounded log-variance) and uniform mixtures of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)
LOW_PRECISION = (torch.bfloat16, torch.float16)


def full_precision(t: Tensor) -> Tensor:
    """t in float32 when a bf16/fp16 autocast region produced it, else unchanged (float64 stays)."""
    return t.float() if t.dtype in LOW_PRECISION else t


def bounded_logvar(raw: Tensor, low: float, high: float) -> Tensor:
    """Map an unconstrained network output to a log-variance in (low, high).

    Two softplus hinges keep the map the identity well inside the interval, so
    gradients are untouched there, while saturating smoothly at the edges. This is
    why an attention head cannot overflow exp(logvar) at lr 1e-3: the variance
    never leaves [e^low, e^high] and its gradient never becomes exactly zero.
    """
    raw = full_precision(raw)
    upper = high - F.softplus(high - raw)
    return low + F.softplus(upper - low)


@dataclass
class DiagGaussian:
    """N(mu, diag(exp(logvar))) over the last dimension; batch shape is mu.shape[:-1]."""

    mu: Tensor
    logvar: Tensor

    def __post_init__(self) -> None:
        # networks may run in bf16/fp16 under autocast; densities, KLs and fusion stay in float32
        self.mu = full_precision(self.mu)
        self.logvar = full_precision(self.logvar)

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

    @property
    def mean(self) -> Tensor:
        return self.mu

    def detach(self) -> DiagGaussian:
        return DiagGaussian(self.mu.detach(), self.logvar.detach())

    def reshape_batch(self, *shape: int) -> DiagGaussian:
        """The same distributions with batch shape `shape` (the latent dimension is kept)."""
        d = self.mu.shape[-1]
        return DiagGaussian(self.mu.reshape(*shape, d), self.logvar.reshape(*shape, d))

    @staticmethod
    def standard(shape: tuple[int, ...], like: Tensor) -> DiagGaussian:
        zeros = torch.zeros(shape, dtype=like.dtype, device=like.device)
        return DiagGaussian(zeros, zeros.clone())


@dataclass
class UniformMixture:
    """A uniform mixture of diagonal Gaussians over the present components (MMVAE's MoE, MoPoE).

    `components` has batch shape (*batch, C); `present` (*batch, C) marks which of the C
    components exist for each row, and each present one has weight 1 / (number present).
    A row with no present component is the prior N(0, I).
    """

    components: DiagGaussian
    present: Tensor

    def __post_init__(self) -> None:
        empty = ~self.present.any(-1, keepdim=True)
        # on the CPU reading `any` is free and skips the work; on an accelerator it would stall the device
        if self.present.device.type != "cpu" or bool(empty.any()):
            # no evidence: the first component becomes the prior and the only one present
            first = torch.zeros_like(self.present)
            first[..., 0] = True
            prior_row = (empty & first).unsqueeze(-1)
            self.components = DiagGaussian(
                torch.where(prior_row, 0.0, self.components.mu), torch.where(prior_row, 0.0, self.components.logvar)
            )
            self.present = self.present | (empty & first)

    @property
    def counts(self) -> Tensor:
        """Number of present components per row, (*batch,)."""
        return self.present.sum(-1)

    @property
    def mean(self) -> Tensor:
        w = self.present.to(self.components.mu.dtype).unsqueeze(-1)
        return (self.components.mu * w).sum(-2) / w.sum(-2)

    def stratified_sample(self, k: int) -> tuple[Tensor, Tensor]:
        """k samples per row, spread evenly over the present components (MMVAE's stratified sampling).

        Sample i of a row with n present components comes from its ((i + u) mod n)-th
        present component, u uniform per row: each component gets k/n samples when n
        divides k, and every sample is marginally a draw from the mixture otherwise, so
        (1/k) sum_i f(z_i) stays unbiased. Returns z (k, *batch, D) and the component index
        of each sample (k, *batch).
        """
        n = self.counts  # (*batch,)
        offset = (torch.rand(n.shape, device=n.device) * n).long()
        rank = (torch.arange(k, device=n.device).view(k, *([1] * n.dim())) + offset) % n  # (k, *batch)
        # indices of the present components first, in order
        order = torch.argsort((~self.present).to(torch.int8), dim=-1, stable=True)  # (*batch, C)
        comp = order.unsqueeze(0).expand(k, *order.shape).gather(-1, rank.unsqueeze(-1)).squeeze(-1)
        d = self.components.mu.shape[-1]
        idx = comp.unsqueeze(-1).unsqueeze(-1).expand(*comp.shape, 1, d)
        mu = self.components.mu.unsqueeze(0).expand(k, *self.components.mu.shape).gather(-2, idx).squeeze(-2)
        logvar = self.components.logvar.unsqueeze(0).expand(k, *self.components.logvar.shape).gather(-2, idx)
        eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar.squeeze(-2)) * eps, comp

    def rsample(self, k: int | None = None) -> Tensor:
        z, _ = self.stratified_sample(1 if k is None else k)
        return z[0] if k is None else z

    def log_prob(self, z: Tensor) -> Tensor:
        """log (1/n) sum_{c present} N(z; mu_c, sigma_c^2); z (..., *batch, D) broadcasts on the left."""
        per_comp = self.components.log_prob(z.unsqueeze(-2))  # (..., *batch, C)
        per_comp = per_comp.masked_fill(~self.present, float("-inf"))
        return torch.logsumexp(per_comp, -1) - torch.log(self.counts.to(z.dtype))

    def detach(self) -> UniformMixture:
        return UniformMixture(self.components.detach(), self.present)

    def reshape_batch(self, *shape: int) -> UniformMixture:
        c = self.present.shape[-1]
        return UniformMixture(self.components.reshape_batch(*shape, c), self.present.reshape(*shape, c))

    def single(self) -> DiagGaussian:
        """The one present component of each row (rows with one component, e.g. MoE of one modality).

        The check that no row mixes several components reads the device, so it runs on the CPU only.
        """
        if self.present.device.type == "cpu" and bool((self.counts > 1).any()):
            raise ValueError("single(): some rows mix several components")
        idx = self.present.to(torch.int8).argmax(-1)  # (*batch,)
        g = idx.unsqueeze(-1).unsqueeze(-1).expand(*idx.shape, 1, self.components.mu.shape[-1])
        return DiagGaussian(
            self.components.mu.gather(-2, g).squeeze(-2), self.components.logvar.gather(-2, g).squeeze(-2)
        )


Posterior = DiagGaussian | UniformMixture


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)
