"""The fusion interface: a joint posterior q(z | x_S) from per-modality inputs and a mask."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

from ..distributions import DiagGaussian


class Fusion(nn.Module, ABC):
    """Forms q(z | x_S) for each row's subset S, given as a boolean mask (N, M).

    `consumes` says what the model hands over: "experts" (a DiagGaussian with mu, logvar of
    shape (N, M, D), one unimodal expert per modality) or "embeddings" (a tensor (N, M, E)).
    Rows with an empty subset get the prior N(0, I): no evidence, no update.
    """

    consumes: str = "experts"

    @abstractmethod
    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        """q(z | x_S) with batch shape (N,), from inputs (N, M, ...) and mask (N, M)."""
