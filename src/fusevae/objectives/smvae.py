"""SMVAE's objective: a random non-empty subset, in random order, per sample (SMVAE eq. 3-4)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..distributions import DiagGaussian, Posterior
from ..model import MultimodalVAE
from ..subsets import nonempty_subsets, random_permutations, random_subsets
from .base import Objective, ObjectiveOutput


class SMVAEObjective(Objective):
    """sum over X_s ~ P(X), pi ~ S_n of L_s(pi . X_s)  (eq. 4), one subset per sample per step.

    `reconstruct="present"` decodes every present modality from the subset's posterior
    (cross-generation is trained directly); "subset" decodes only the inputs (eq. 3 as
    written). `include_full` adds the full present set's ELBO every step. `l2` is the
    L2 regularisation of the posterior's mu toward 0 and sigma toward 1 (section 3).
    """

    options = frozenset({"include_full", "reconstruct", "permute", "l2"})

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        if cfg.reconstruct not in ("present", "subset"):
            raise ValueError(f"objective.reconstruct must be 'present' or 'subset', got {cfg.reconstruct!r}")
        self.table = nonempty_subsets(len(model.names))

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        mask = batch.mask
        encoded = model.encode(batch)
        if self.table.device != mask.device:
            self.table = self.table.to(mask.device)
        inputs = random_subsets(mask, self.table).unsqueeze(0)  # (1, B, M)
        if self.cfg.include_full:
            inputs = torch.cat([inputs, mask.unsqueeze(0)], 0)
        targets = mask.unsqueeze(0).expand_as(inputs) if self.cfg.reconstruct == "present" else inputs
        if self.cfg.permute:
            # eq. 4's random order: the fusion sees each sample's modalities shuffled. Invariant
            # fusions give the same posterior (the tests check it); order-sensitive ones are
            # trained on every order. Decoding and targets keep the model's order.
            perm = random_permutations(mask.shape[0], mask.shape[1], mask.device)
            q = model.fuse(_permute(encoded, perm), inputs.gather(2, perm.expand_as(inputs)))
        else:
            q = model.fuse(encoded, inputs)
        out = self.bound_given_posterior(model, q, batch, targets, beta)
        bound = out.bound.sum(0)
        loss = -bound.mean()
        logs = {"bound": bound.mean().detach(), "beta": torch.as_tensor(beta)}
        if self.cfg.l2 > 0:
            reg = _l2(out.q)
            loss = loss + self.cfg.l2 * reg
            logs["l2"] = reg.detach()
        return ObjectiveOutput(loss, logs)


def _permute(encoded: DiagGaussian | torch.Tensor, perm: torch.Tensor) -> DiagGaussian | torch.Tensor:
    def g(t: torch.Tensor) -> torch.Tensor:
        return t.gather(1, perm.unsqueeze(-1).expand(-1, -1, t.shape[-1]))

    if isinstance(encoded, DiagGaussian):
        return DiagGaussian(g(encoded.mu), g(encoded.logvar))
    return g(encoded)


def _l2(q: Posterior) -> torch.Tensor:
    """Mean over rows of |mu|^2 + |sigma - 1|^2 (for a mixture: over its present components)."""
    if isinstance(q, DiagGaussian):
        return (q.mu**2 + (q.std - 1.0) ** 2).sum(-1).mean()
    c = q.components
    per = (c.mu**2 + (c.std - 1.0) ** 2).sum(-1)
    return ((per * q.present).sum(-1) / q.counts).mean()
