"""MVAE's sub-sampled objective: the joint ELBO plus one ELBO per single modality."""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.batch import Batch
from ..model import MultimodalVAE
from ..subsets import nonempty_subsets, random_subsets, singles
from .base import Objective, ObjectiveOutput, masked_loss


class MVAEObjective(Objective):
    """ELBO(x_1..x_M) + sum_m ELBO(x_m) [+ ELBOs of random subsets], each reconstructing its inputs.

    Wu & Goodman (2018), section 3: with a product of experts, the single-modality terms
    train each expert to stand alone. Rows whose subset is empty (the modality is missing
    for that sample) are skipped.
    """

    options = frozenset({"random_subsets"})

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        mask = batch.mask
        parts = [mask.unsqueeze(0), singles(mask)]
        if self.cfg.random_subsets:
            table = nonempty_subsets(len(model.names), mask.device)
            parts += [random_subsets(mask, table).unsqueeze(0) for _ in range(self.cfg.random_subsets)]
        inputs = torch.cat(parts, 0)  # (S, B, M)
        valid = inputs.any(-1)
        # each ELBO reconstructs its inputs: the joint row decodes all, single m decodes only m
        everything = frozenset(model.names)
        decode_sets = [everything] + [frozenset([n]) for n in model.names] + [everything] * self.cfg.random_subsets
        out = self.subset_bound(model, model.encode(batch), batch, inputs, inputs, beta, decode_sets)
        return masked_loss(out.bound, valid, beta)
