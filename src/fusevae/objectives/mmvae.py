"""MMVAE's stratified objective (Shi et al. 2019, eq. 3-4) for any fusion."""

from __future__ import annotations

from torch import Tensor

from ..data.batch import Batch
from ..distributions import DiagGaussian, UniformMixture
from ..model import MultimodalVAE
from ..subsets import singles
from .base import Objective, ObjectiveOutput, masked_loss


class MMVAEObjective(Objective):
    """The bound of the uniform mixture (1/|S|) sum_{m in S} q(z | x_m), reconstructing every present modality.

    Samples are stratified over the mixture's components (each unimodal posterior gets
    K/|S| of the K samples) and combined by the estimator, whose "looser" variant is
    MMVAE's average of per-modality bounds. q(z | x_m) is the model's fusion applied to
    {m}: with the moe fusion this is MMVAE itself; with any other fusion, its unimodal
    posteriors are mixed the same way.
    """

    def posterior_is_mixture(self, model: MultimodalVAE) -> bool:
        return True

    def mixture_components(self, model: MultimodalVAE) -> int:
        return len(model.names)

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        beta = self.beta(epoch)
        mask = batch.mask
        unimodal = model.fuse(model.encode(batch), singles(mask))  # batch shape (M, B)
        if isinstance(unimodal, UniformMixture):  # a mixture fusion of one modality has one component
            unimodal = unimodal.single()
        comps = DiagGaussian(unimodal.mu.transpose(0, 1), unimodal.logvar.transpose(0, 1))  # (B, M, D)
        q = UniformMixture(comps, mask).reshape_batch(1, mask.shape[0])
        targets = mask.unsqueeze(0)
        out = self.bound_given_posterior(model, q, batch, targets, beta)
        return masked_loss(out.bound, mask.any(-1).unsqueeze(0), beta)
