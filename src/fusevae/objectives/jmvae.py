"""JMVAE-kl (Suzuki et al. 2016; M2VAE paper eq. 3 and appendix 6.1.1): the joint ELBO plus KL terms
that tie the encoder of every leave-one-out subset to the joint one, so that a missing modality can be
inferred from the rest."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..distributions import DiagGaussian
from ..model import MultimodalVAE
from ..subsets import singles
from .base import Objective, ObjectiveOutput


def kl_diag_gaussians(p: DiagGaussian, q: DiagGaussian) -> Tensor:
    """Closed-form KL(p || q) of diagonal Gaussians, summed over the latent dimension."""
    return 0.5 * (q.logvar - p.logvar + (p.logvar.exp() + (p.mu - q.mu) ** 2) * torch.exp(-q.logvar) - 1.0).sum(-1)


def check_kl_tied(cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
    """Schemes with closed-form KL terms between posteriors (jmvae, m2vae) need Gaussians and alpha >= 0."""
    if model.fusion.mixture:
        raise ValueError(
            f"scheme {cfg.kind!r} needs Gaussian posteriors; fusion {model.cfg.fusion.kind!r} gives mixtures"
        )
    if cfg.alpha < 0:
        raise ValueError(f"objective.alpha must be >= 0, got {cfg.alpha}")


class JMVAEObjective(Objective):
    """L = ELBO(X) - alpha * sum_{m in X} KL(q(z | X) || q(z | X \\ m))  (M2VAE eq. 3; eq. 17-18 for M = 3).

    X is each item's set of present modalities; for two modalities X \\ m is the other single one
    (eq. 3). The joint ELBO reconstructs every present modality from q(z | X). Subset encoders
    with fusion.subsets='jmvae' have the encoders this needs for complete items, and for every
    pattern of missing modalities when M <= 3; any Gaussian fusion works too. An item with one
    modality has no KL term.
    """

    options = frozenset({"alpha", "beta_norm"})

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        check_kl_tied(cfg, model)

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        mask = batch.mask
        encoded = model.encode(batch)
        joint = mask.unsqueeze(0)  # (1, B, M)
        out = self.subset_bound(model, encoded, batch, joint, joint, self.set_betas(joint, epoch))
        # row m: the item's present modalities without m; a term only where m is present and others remain
        drop = singles(mask)  # (M, B, M)
        rest = mask.unsqueeze(0) & ~drop
        valid = drop.any(-1) & rest.any(-1)  # (M, B)
        rest = torch.where(valid.unsqueeze(-1), rest, mask.unsqueeze(0))  # invalid rows: any encodable set
        q_rest = model.fuse(encoded, rest)
        q_joint = out.q
        if not isinstance(q_joint, DiagGaussian) or not isinstance(q_rest, DiagGaussian):
            raise TypeError("scheme 'jmvae' needs Gaussian posteriors")
        kl = kl_diag_gaussians(q_joint, q_rest) * valid
        bound = out.bound[0]
        loss = -(bound - self.cfg.alpha * kl.sum(0)).mean()
        return ObjectiveOutput(
            loss,
            {"bound": bound.mean().detach(), "kl_rest": kl.sum(0).mean().detach(), "beta": torch.as_tensor(beta)},
        )
