"""Estimators of log p(x_T) from samples of q(z | x_S): ELBO, IWAE and DReG.

Each draws its samples from the posterior (stratified over components when the posterior
is a mixture) and turns the per-sample reconstruction terms into a bound per row. On a
mixture, IWAE and DReG come in MMVAE's two forms (Shi et al. 2019, eq. 3-4):
"tighter" log (1/K) sum_k w_k over all samples, and "looser", the mean over components
c of log (1/K_c) sum_{k in c} w_k, a lower bound of the tighter one.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from ..distributions import DiagGaussian, Posterior, UniformMixture, standard_normal_log_prob

VARIANTS = ("tighter", "looser")
MIXTURE_KL = ("sampled", "mean")  # the looser mixture ELBO's KL term


class Estimator(ABC):
    """Draws `k` samples per row and returns a bound per row from their reconstruction terms."""

    name = ""

    def __init__(self, k: int = 1, variant: str = "tighter", mixture_kl: str = "sampled") -> None:
        if k < 1:
            raise ValueError(f"{self.name}: the number of samples k must be >= 1, got {k}")
        if variant not in VARIANTS:
            raise ValueError(f"estimator variant must be one of {VARIANTS}, got {variant!r}")
        if mixture_kl not in MIXTURE_KL:
            raise ValueError(f"objective.mixture_kl must be one of {MIXTURE_KL}, got {mixture_kl!r}")
        self.k = k
        self.variant = variant
        self.mixture_kl = mixture_kl  # the looser mixture ELBO's KL term (ELBO below)

    def sample(self, q: Posterior) -> tuple[Tensor, Tensor | None]:
        """z (k, *batch, D) and, for a mixture, the component each sample came from (k, *batch)."""
        if isinstance(q, UniformMixture):
            return q.stratified_sample(self.k)
        return q.rsample(self.k), None

    @abstractmethod
    def __call__(self, rec: Tensor, z: Tensor, comp: Tensor | None, q: Posterior, beta: float | Tensor) -> Tensor:
        """rec (K, *batch): sum of weighted log p(x_m | z_k) over targets -> bound (*batch)."""


def log_weights(rec: Tensor, z: Tensor, q: Posterior, beta: float | Tensor) -> Tensor:
    """log w_k = log p(x|z_k) + beta (log p(z_k) - log q(z_k)); beta = 1 gives the importance weight."""
    return rec + beta * (standard_normal_log_prob(z) - q.log_prob(z))


class ELBO(Estimator):
    """E_q[log p(x|z)] - beta KL(q || p) (SMVAE eq. 2-3): closed-form KL for a Gaussian.

    For a mixture, "tighter" estimates KL(q || p) by Monte Carlo (log q(z) - log p(z) on the
    stratified samples); "looser" is the mean of the components' ELBOs, each with its
    closed-form KL, a lower bound by convexity of the KL (MMVAE's and MoPoE's form). Since
    every sample's component is uniform among the present ones, one sample per row already
    estimates it without bias. Its KL term is the KL of each sample's own component, or with
    `mixture_kl = "mean"` the mean over the present components, exactly (MoPoE's code): the
    same expectation, another variance (not always lower: a component's KL and its samples'
    reconstruction rise together).
    """

    name = "elbo"

    def __call__(self, rec: Tensor, z: Tensor, comp: Tensor | None, q: Posterior, beta: float | Tensor) -> Tensor:
        if isinstance(q, DiagGaussian):
            return rec.mean(0) - beta * q.kl_standard_normal()
        if self.variant == "looser" and comp is not None:
            kl = q.components.kl_standard_normal()  # (*batch, C)
            if self.mixture_kl == "mean":  # every present component's KL, exactly
                return rec.mean(0) - beta * torch.where(q.present, kl, 0.0).sum(-1) / q.counts
            kl_k = kl.unsqueeze(0).expand(comp.shape[0], *kl.shape).gather(-1, comp.unsqueeze(-1)).squeeze(-1)
            return (rec - beta * kl_k).mean(0)
        return log_weights(rec, z, q, beta).mean(0)


class IWAE(Estimator):
    """log (1/K) sum_k p(x|z_k) p(z_k)^beta / q(z_k)^beta, z_k ~ q (Burda et al. 2016, eq. 8)."""

    name = "iwae"

    def __call__(self, rec: Tensor, z: Tensor, comp: Tensor | None, q: Posterior, beta: float | Tensor) -> Tensor:
        return _bound(log_weights(rec, z, q, beta), comp, q, self.variant)


class DReG(Estimator):
    """The IWAE bound with the doubly reparameterised encoder gradient (Tucker et al. 2019, eq. 7).

    Value: the IWAE bound. Gradient: decoders get the IWAE gradient sum_k w~_k d log w_k;
    the encoder gets sum_k w~_k^2 (d log w_k / d z_k)(d z_k / d phi), with the score-function
    term removed by holding q's parameters fixed inside log q(z_k). Implemented as a
    surrogate whose value is the bound, plus a hook that scales the gradient reaching z_k
    by w~_k once more.
    """

    name = "dreg"

    def __call__(self, rec: Tensor, z: Tensor, comp: Tensor | None, q: Posterior, beta: float | Tensor) -> Tensor:
        lw = log_weights(rec, z, q.detach(), beta)  # q's parameters fixed: no score-function term
        value = _bound(lw.detach(), comp, q, self.variant)
        if not z.requires_grad:
            return value
        with torch.no_grad():
            within, share = _normalised_weights(lw, comp, q, self.variant)
        z.register_hook(lambda g: g * within.unsqueeze(-1))
        surrogate = (share * within * lw).sum(0)
        return value + (surrogate - surrogate.detach())


def _bound(lw: Tensor, comp: Tensor | None, q: Posterior, variant: str) -> Tensor:
    k = lw.shape[0]
    if variant == "tighter" or comp is None or not isinstance(q, UniformMixture):
        return torch.logsumexp(lw, 0) - math.log(k)
    onehot, counts = _groups(comp, q)
    per_comp = torch.logsumexp(torch.where(onehot, lw.unsqueeze(-1), float("-inf")), 0) - counts.clamp_min(1).log()
    used = counts > 0
    return torch.where(used, per_comp, 0.0).sum(-1) / used.sum(-1)


def _groups(comp: Tensor, q: UniformMixture) -> tuple[Tensor, Tensor]:
    onehot = F.one_hot(comp, q.present.shape[-1]).bool()  # (K, *batch, C)
    return onehot, onehot.sum(0).to(torch.float32)


def _normalised_weights(lw: Tensor, comp: Tensor | None, q: Posterior, variant: str) -> tuple[Tensor, Tensor]:
    """w~_k normalised within the log-sum-exp it belongs to, and that sum's share of the bound."""
    if variant == "tighter" or comp is None or not isinstance(q, UniformMixture):
        return torch.softmax(lw, 0), torch.ones_like(lw)
    onehot, counts = _groups(comp, q)
    lse = torch.logsumexp(torch.where(onehot, lw.unsqueeze(-1), float("-inf")), 0)  # (*batch, C)
    own = lse.unsqueeze(0).expand_as(onehot.float()).gather(-1, comp.unsqueeze(-1)).squeeze(-1)
    used = (counts > 0).sum(-1).to(lw.dtype)
    return torch.exp(lw - own), (1.0 / used).expand_as(lw)


ESTIMATORS: dict[str, type[Estimator]] = {"elbo": ELBO, "iwae": IWAE, "dreg": DReG}


def make_estimator(name: str, k: int, variant: str = "tighter", mixture_kl: str = "sampled") -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; expected one of {sorted(ESTIMATORS)}")
    return ESTIMATORS[name](k, variant, mixture_kl)
