"""JMVAE-Zero and tVAE, the M2VAE paper's baselines (section 5.1.2, Table 2)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..model import MultimodalVAE
from ..subsets import singles
from .base import Objective, ObjectiveOutput, masked_loss


def zero_augmented_rows(mask: Tensor) -> tuple[Tensor, Tensor]:
    """The JMVAE-Zero training set of a batch: each item as it is, plus a copy per present modality
    that keeps only that modality (the others fed as zeros), when the item has two or more.

    Returns input masks (1 + M, B, M) and which rows are items of the augmented set (1 + M, B): a
    complete item of M modalities gives 1 + M rows, an item with one modality gives one.
    """
    copies = singles(mask)  # (M, B, M)
    valid = torch.cat([mask.any(-1, keepdim=True).T, copies.any(-1) & (mask.sum(-1) >= 2).unsqueeze(0)])
    rows = torch.cat([mask.unsqueeze(0), copies])
    rows = torch.where(valid.unsqueeze(-1), rows, mask.unsqueeze(0))  # rows left out: any encodable set
    return rows, valid


class JMVAEZeroObjective(Objective):
    """JMVAE-Zero: the joint ELBO over the augmented set, every row reconstructing the whole item.

    With fusion.kind='zero_fill' the one joint encoder sees a left-out modality as an all-zero
    input (M2VAE section 5.1.2); each single-modality copy must still reconstruct every present
    modality of its item (as in Ngiam et al.'s bimodal training), which is what lets the joint
    encoder infer from one modality. The augmented set is formed per batch, so an epoch covers
    each original item once, with its 1 + M rows.
    """

    options = frozenset({"beta_norm"})

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        rows, valid = zero_augmented_rows(batch.mask)
        targets = batch.mask.unsqueeze(0).expand_as(rows)
        betas = self.set_betas(targets, epoch)
        out = self.subset_bound(model, model.encode(batch), batch, rows, targets, betas)
        return masked_loss(out.bound, valid, self.beta(epoch))


class TVAEObjective(Objective):
    """tVAE (Vedantam et al. 2018, as M2VAE section 5.1.2 trains it) in two stages within one run.

    Stage 1 (the first joint_fraction of the epochs): the joint VAE, q(z | X) with every decoder,
    by the joint ELBO. Stage 2: the decoders and the joint encoder are frozen ("pinned") and each
    single-modality encoder q(z | x_m) learns by its own ELBO through its modality's frozen decoder,
    which is what makes it land where the joint encoder put that item. Needs subset encoders with
    separate single-modality heads (fusion.kind='subset_encoders', fusion.subsets='singles' or
    'all'); the per-modality feature layers are shared with the joint encoder, so they are frozen
    too and a single-modality encoder is its own head over them.
    """

    options = frozenset({"beta_norm", "joint_fraction"})

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        if model.cfg.fusion.kind != "subset_encoders":
            raise ValueError(
                "scheme 'tvae' trains separate single-modality encoders after the joint one: it needs "
                f"fusion.kind='subset_encoders' (fusion.subsets='singles'), not {model.cfg.fusion.kind!r}"
            )
        if not 0.0 < cfg.joint_fraction < 1.0:
            fraction = cfg.joint_fraction
            raise ValueError(f"objective.joint_fraction must be in (0, 1) so both stages train, got {fraction}")
        self.single_heads = tuple(f"fusion.heads.{n}." for n in model.names)
        self._stage = 0

    def stage(self, epoch: float | Tensor) -> int:
        """1 while the joint VAE trains, 2 once the single-modality encoders do."""
        if self.epochs is None:
            raise ValueError("scheme 'tvae' schedules its stages by the training length: make_objective(..., epochs=)")
        return 1 if float(epoch) < self.cfg.joint_fraction * self.epochs else 2

    def _freeze(self, model: MultimodalVAE, stage: int) -> None:
        # parameters without a gradient are skipped by the optimiser: frozen, with their moments untouched
        for name, p in model.named_parameters():
            p.requires_grad_(stage == 1 or name.startswith(self.single_heads))
        self._stage = stage

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        stage = self.stage(epoch)
        if stage != self._stage:
            self._freeze(model, stage)
        mask = batch.mask
        inputs = mask.unsqueeze(0) if stage == 1 else singles(mask)  # (1 or M, B, M)
        out = self.subset_bound(model, model.encode(batch), batch, inputs, inputs, self.set_betas(inputs, epoch))
        result = masked_loss(out.bound, inputs.any(-1), self.beta(epoch))
        result.logs["stage"] = torch.as_tensor(float(stage))
        return result
