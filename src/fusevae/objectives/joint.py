"""The joint ELBO alone (no cross-generation term), and LCD, which trains that ELBO through dropout."""

from __future__ import annotations

from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..model import MultimodalVAE
from .base import Objective, ObjectiveOutput, masked_loss


class JointObjective(Objective):
    """L(x_[1:M]) of sensor-fusion eq. 4: q(z | all present modalities) reconstructs all of them."""

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        inputs = batch.mask.unsqueeze(0)  # (1, B, M)
        out = self.subset_bound(model, model.encode(batch), batch, inputs, inputs, beta)
        return masked_loss(out.bound, inputs.any(-1), beta)


class LCDObjective(JointObjective):
    """LCD (sensor-fusion eq. 13-14): the joint ELBO of eq. 4, with the fusion's latent component dropout on.

    The dropout itself lives in the fusion (fusion.lcd_alpha), so that it wraps any expert
    fusion; this scheme only checks that it is on.
    """

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        if model.cfg.fusion.lcd_alpha <= 0:
            raise ValueError(
                "scheme 'lcd' trains through latent component dropout: set model.fusion.lcd_alpha in (0, 1] "
                "(the presets use 0.1), or use scheme 'joint' for the plain joint ELBO"
            )
