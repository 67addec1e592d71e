"""Cross-generation schemes: ECG (every subset, sensor-fusion eq. 12) and RMD (a random subset)."""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..model import MultimodalVAE
from ..subsets import nonempty_subsets, random_subsets, within
from .base import Objective, ObjectiveOutput, masked_loss


class CrossGeneration(Objective):
    """Subsets of the present modalities, each of whose posteriors reconstructs every present modality."""

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        self.table = nonempty_subsets(len(model.names))

    @abstractmethod
    def subsets(self, mask: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        """Input masks (S, B, M) and which rows count (S, B), for presence mask (B, M)."""

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        mask = batch.mask
        inputs, valid = self.subsets(mask, self.table.to(mask.device))
        targets = mask.unsqueeze(0).expand_as(inputs)
        out = self.subset_bound(model, model.encode(batch), batch, inputs, targets, beta)
        return masked_loss(out.bound, valid, beta)


class ECGObjective(CrossGeneration):
    """Exhaustive cross generation, sensor-fusion eq. 12:

        L_ECG = L(x_[1:M]) + sum_{j=1}^{2^M-1} E_{q(z|X_j)}[sum_i log p(x_i|z)] - KL(q(z|X_j) || p(z))

    Every non-empty subset X_j reconstructs every present modality. As eq. 12 is written,
    the full set appears twice (as L(x_[1:M]) and as one of the X_j); we keep that. For a
    sample with missing modalities, only the subsets of what it has count (the others do
    not exist for it). Encoders run once; the 2^M rows share them on a widened batch.
    """

    def subsets(self, mask: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        every = table.unsqueeze(1).expand(-1, mask.shape[0], -1)  # (2^M - 1, B, M)
        inputs = torch.cat([mask.unsqueeze(0), every & mask], 0)  # eq. 12: L(x_[1:M]) first
        valid = torch.cat([mask.any(-1).unsqueeze(0), within(table, mask)], 0)  # (2^M, B)
        return inputs, valid


class RMDObjective(CrossGeneration):
    """Random modality dropout: one non-empty subset of the present modalities per sample, drawn
    uniformly at each step, whose posterior reconstructs every present modality."""

    def subsets(self, mask: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        inputs = random_subsets(mask, table).unsqueeze(0)  # (1, B, M)
        return inputs, inputs.any(-1)
