"""JMVAE-kl (Suzuki et al. 2016; M2VAE paper eq. 3 and appendix 6.1.1): the joint ELBO plus KL terms
that tie the encoder of every leave-one-out subset to the joint one, so that a missing modality can be
inferred from the rest."""

from __future__ import annotations

import warnings

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


TIES = ("rest", "singles", "rest+singles")


def tied_sets(mask: Tensor, ties: str) -> tuple[Tensor, Tensor]:
    """The sets whose posteriors a JMVAE step ties to q(z | X): masks (T, B, M) and which rows hold a term (T, B).

    "rest": X without m for each present m (eq. 17-18); "singles": each present m alone (Suzuki et al.);
    "rest+singles": both, a set counted once (with two present modalities the rest of one is the other alone).
    An item with one present modality has no term.
    """
    count = mask.sum(-1)  # (B,)
    rows, valid = [], []
    if ties in ("rest", "rest+singles"):
        drop = singles(mask)  # (M, B, M)
        rows.append(mask.unsqueeze(0) & ~drop)
        valid.append(drop.any(-1) & (count >= 2).unsqueeze(0))
    if ties in ("singles", "rest+singles"):
        alone = singles(mask)
        least = 3 if ties == "rest+singles" else 2  # with two present, the singles are already the rests
        rows.append(alone)
        valid.append(alone.any(-1) & (count >= least).unsqueeze(0))
    sets, ok = torch.cat(rows), torch.cat(valid)
    # rows without a term still need a set the fusion can encode: the item's own
    return torch.where(ok.unsqueeze(-1), sets, mask.unsqueeze(0)), ok


class JMVAEObjective(Objective):
    """L = ELBO(X) - alpha * sum_{m in X} KL(q(z | X) || q(z | X \\ m))  (M2VAE eq. 3; eq. 17-18 for M = 3).

    X is each item's set of present modalities; for two modalities X \\ m is the other single one
    (eq. 3). The joint ELBO reconstructs every present modality from q(z | X). Subset encoders
    with fusion.subsets='jmvae' have the encoders this needs for complete items, and for every
    pattern of missing modalities when M <= 3; any Gaussian fusion works too. An item with one
    modality has no KL term. With M >= 3, objective.ties='singles' or 'rest+singles' ties each
    single-modality encoder as well, which eq. 17-18 trains only from items that lack modalities.
    """

    options = frozenset({"alpha", "beta_norm", "ties", "anneal_ties"})

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        check_kl_tied(cfg, model)
        if cfg.ties not in TIES:
            raise ValueError(f"objective.ties must be one of {', '.join(TIES)}; got {cfg.ties!r}")
        if cfg.ties == "rest" and len(model.names) >= 3:
            warnings.warn(
                f"jmvae on {len(model.names)} modalities with objective.ties='rest' (M2VAE eq. 17-18): the "
                "single-modality encoders learn only from items that lack modalities; objective.ties=rest+singles "
                "ties them to the joint encoder as well",
                stacklevel=2,
            )

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        mask = batch.mask
        encoded = model.encode(batch)
        joint = mask.unsqueeze(0)  # (1, B, M)
        out = self.subset_bound(model, encoded, batch, joint, joint, self.set_betas(joint, epoch))
        rest, valid = tied_sets(mask, self.cfg.ties)  # (T, B, M), (T, B)
        q_rest = model.fuse(encoded, rest)
        q_joint = out.q
        if not isinstance(q_joint, DiagGaussian) or not isinstance(q_rest, DiagGaussian):
            raise TypeError("scheme 'jmvae' needs Gaussian posteriors")
        kl = kl_diag_gaussians(q_joint, q_rest) * valid
        bound = out.bound[0]
        alpha = self.cfg.alpha * self.warmup(epoch) if self.cfg.anneal_ties else self.cfg.alpha
        loss = -(bound - alpha * kl.sum(0)).mean()
        return ObjectiveOutput(
            loss,
            {"bound": bound.mean().detach(), "kl_rest": kl.sum(0).mean().detach(), "beta": torch.as_tensor(beta)},
        )
