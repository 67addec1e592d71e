"""Joint posteriors formed from unimodal Gaussian experts q(z | x_m) = N(mu_m, sigma_m^2).

Every fusion here is a pure tensor function of the stacked experts (N, M, D) and a mask;
absent experts never contribute, and a row with no expert gets the prior N(0, I).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import ModelConfig
from ..distributions import DiagGaussian, Posterior, UniformMixture
from ..subsets import nonempty_subsets, within
from .base import Fusion, component_mask, modality_mask, require_experts
from .registry import register_fusion


def product_of_experts(experts: DiagGaussian, mask: Tensor, prior: Tensor | None = None) -> DiagGaussian:
    """N(0, I) x prod_{i in S} q_i: precision T = 1 + sum_i sigma_i^-2, mean = T^-1 sum_i sigma_i^-2 mu_i.

    In log space (logsumexp of log-precisions) so that confident experts cannot overflow;
    absent experts get log-precision -inf and so contribute exactly 0. Works on any
    leading batch shape: experts (..., M, D), mask (..., M, D). `prior`, booleans that broadcast
    against the leading shape (...), says which products include the N(0, I) expert (all by
    default); a product with no expert takes it anyway, so it stays a Gaussian.
    """
    mu, logvar = experts.mu, experts.logvar
    log_prec = torch.where(mask, -logvar, float("-inf"))
    prior = torch.zeros_like(log_prec[..., :1, :]) if prior is None else _prior_log_prec(log_prec, mask, prior)
    all_log_prec = torch.cat([prior, log_prec], dim=-2)  # (..., 1+M, D)
    log_total = torch.logsumexp(all_log_prec, dim=-2)  # log T
    share = torch.exp(all_log_prec[..., 1:, :] - log_total.unsqueeze(-2))  # each expert's share of T
    return DiagGaussian((share * mu).sum(-2), -log_total)


def _prior_log_prec(log_prec: Tensor, mask: Tensor, prior: Tensor) -> Tensor:
    """The N(0, I) expert's log-precision (0) where `prior` or where no expert is present, else -inf."""
    take = prior.unsqueeze(-1).unsqueeze(-1) | ~mask.any(-2, keepdim=True)  # (..., 1, D)
    return torch.where(take, 0.0, float("-inf")).to(log_prec.dtype).expand_as(log_prec[..., :1, :])


class ProductOfExperts(Fusion):
    """MVAE's product of Gaussian experts with a N(0, I) prior expert (Wu & Goodman 2018, eq. 3)."""

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        experts = require_experts(inputs, "poe")
        return product_of_experts(experts, component_mask(mask, experts.mu))


class RobustBayesianCommittee(Fusion):
    """RBCM (sensor-fusion eq. 5-9), per latent dimension j and expert i:

        beta_ij = 1/2 (log sigma_p^2 - log sigma_ij^2)                       (the paper's choice, [20])
        T_j     = sum_i beta_ij sigma_ij^-2 + (1 - sum_i beta_ij) sigma_p^-2  (eq. 8)
        mu_j    = T_j^-1 sum_i beta_ij sigma_ij^-2 mu_ij                      (eq. 7, prior mean 0)

    With the prior N(0, I) and that beta, every term beta_ij (sigma_ij^-2 - 1) is >= 0, so
    T_j >= 1: the precision is always positive and an expert equal to the prior has beta 0.
    A fixed `beta` (1 gives the Bayesian committee machine: sum_i sigma_i^-2 - (M-1)) can make
    T_j <= 0, which no Gaussian has; there T_j is raised to the smallest precision the model
    allows, exp(-logvar_max), and the mean uses that raised precision. Rows may lose mass
    this way, so fixed betas are for analysis; the paper's beta never needs it.
    """

    def __init__(self, beta: float | None = None, logvar_max: float = 6.0) -> None:
        super().__init__()
        self.beta = beta
        self.min_precision = float(torch.exp(torch.tensor(-logvar_max)))

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        experts = require_experts(inputs, "rbcm")
        m = component_mask(mask, experts.mu)
        if self.beta is None:
            beta = -0.5 * experts.logvar  # 1/2 (log 1 - log sigma^2), eq. 9 per dimension
        else:
            beta = torch.full_like(experts.logvar, self.beta)
        beta = beta * m
        weight = beta * torch.exp(-experts.logvar)  # beta_ij sigma_ij^-2
        precision = weight.sum(-2) + (1.0 - beta.sum(-2))  # eq. 8 with sigma_p = 1
        precision = precision.clamp_min(self.min_precision)
        mu = (weight * experts.mu).sum(-2) / precision  # eq. 7
        return DiagGaussian(mu, -torch.log(precision))


class BestComponentExpert(Fusion):
    """BCE (sensor-fusion eq. 10-11): per latent dimension, the present expert with the lowest variance."""

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        experts = require_experts(inputs, "bce")
        m = component_mask(mask, experts.mu)
        score = torch.where(m, experts.logvar, float("inf"))
        return _pick(experts, m, score.argmin(-2))


class RandomComponentExpert(Fusion):
    """RCE (sensor-fusion section III-A): per latent dimension, one present expert drawn uniformly.

    A fresh draw at every call, in training and evaluation alike: the randomness is the model.
    """

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        experts = require_experts(inputs, "rce")
        m = component_mask(mask, experts.mu)
        score = torch.where(m, torch.rand(m.shape, device=m.device), -1.0)
        return _pick(experts, m, score.argmax(-2))


def _pick(experts: DiagGaussian, m: Tensor, idx: Tensor) -> DiagGaussian:
    """Per dimension the expert `idx` (N, D); the prior where a dimension has no expert."""
    g = idx.unsqueeze(-2)
    mu = experts.mu.gather(-2, g).squeeze(-2)
    logvar = experts.logvar.gather(-2, g).squeeze(-2)
    some = m.any(-2)
    return DiagGaussian(torch.where(some, mu, 0.0), torch.where(some, logvar, 0.0))


class MixtureOfExperts(Fusion):
    """MMVAE's mixture of experts: (1/|S|) sum_{m in S} q(z | x_m), uniform weights.

    Per-component masks (latent component dropout) send the dropped dimensions of an
    expert to the prior, since a component alone has nothing else to fall back on.
    """

    mixture = True

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> Posterior:
        experts = require_experts(inputs, "moe")
        m = component_mask(mask, experts.mu)
        comps = DiagGaussian(torch.where(m, experts.mu, 0.0), torch.where(m, experts.logvar, 0.0))
        return UniformMixture(comps, modality_mask(mask))


class MixtureOfProductsOfExperts(Fusion):
    """MoPoE (Sutter et al. 2021): a uniform mixture over the PoEs of every non-empty subset of S.

    All 2^M - 1 subset products are formed at once as a (N, 2^M - 1, M, D) masked product;
    those not contained in the row's present set are absent components. `prior_expert`:
    "every" product includes the N(0, I) expert, or only the product of all M modalities
    ("full": Sutter et al.'s code, which MultiVae follows).
    """

    mixture = True

    def __init__(self, num_modalities: int, prior_expert: str = "every") -> None:
        super().__init__()
        if prior_expert not in ("every", "full"):
            raise ValueError(f"model.fusion.prior_expert must be 'every' or 'full', got {prior_expert!r}")
        table = nonempty_subsets(num_modalities)
        self.register_buffer("table", table, persistent=False)
        prior = table.all(-1) if prior_expert == "full" else torch.ones(len(table), dtype=torch.bool)
        self.register_buffer("prior", prior, persistent=False)  # (T,): which products take N(0, I)

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> Posterior:
        experts = require_experts(inputs, "mopoe")
        m = component_mask(mask, experts.mu)  # (N, M, D)
        table = self.table  # (T, M)
        sub = m.unsqueeze(1) & table.view(1, *table.shape, 1)  # (N, T, M, D)
        wide = DiagGaussian(experts.mu.unsqueeze(1), experts.logvar.unsqueeze(1))
        comps = product_of_experts(wide, sub, self.prior)  # (N, T, D)
        present = within(table, modality_mask(mask)).T  # (N, T): subset within S
        return UniformMixture(comps, present)


def _m(cfg: ModelConfig) -> int:
    return len(cfg.modalities)


register_fusion("poe", lambda cfg, e: ProductOfExperts(), "experts", description="product of experts with a prior")
register_fusion("moe", lambda cfg, e: MixtureOfExperts(), "experts", lambda m: m, "uniform mixture of experts")
register_fusion(
    "mopoe",
    lambda cfg, e: MixtureOfProductsOfExperts(_m(cfg), cfg.fusion.prior_expert),
    "experts",
    lambda m: 2**m - 1,
    "mixture of the products of experts of every subset",
    options=("prior_expert",),
)
register_fusion(
    "rbcm",
    lambda cfg, e: RobustBayesianCommittee(cfg.fusion.rbcm_beta, cfg.logvar_max),
    "experts",
    description="robust Bayesian committee machine (sensor-fusion eq. 5-9)",
    options=("rbcm_beta",),
)
register_fusion("bce", lambda cfg, e: BestComponentExpert(), "experts", description="best component expert (eq. 10-11)")
register_fusion("rce", lambda cfg, e: RandomComponentExpert(), "experts", description="random component expert")
