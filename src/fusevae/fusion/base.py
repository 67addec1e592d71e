"""The fusion interface: a joint posterior q(z | x_S) from per-modality inputs and a mask."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from torch import Tensor, nn

from ..distributions import DiagGaussian, Posterior


class Fusion(nn.Module, ABC):
    """Forms q(z | x_S) for each row's subset S, given as a boolean mask.

    `consumes` says what the model hands over: "experts" (a DiagGaussian with mu, logvar of
    shape (N, M, D), one unimodal expert per modality) or "embeddings" (a tensor (N, M, E)).
    The mask is (N, M); fusions of experts also accept (N, M, D), a mask per latent
    component, which is how latent component dropout hides single dimensions of an expert.
    Rows with an empty subset get the prior N(0, I): no evidence, no update.
    `mixture` says whether the result is a UniformMixture rather than a DiagGaussian.
    """

    consumes: str = "experts"
    mixture: bool = False

    @abstractmethod
    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> Posterior:
        """q(z | x_S) with batch shape (N,), from inputs (N, M, ...) and mask (N, M) or (N, M, D)."""


def component_mask(mask: Tensor, like: Tensor) -> Tensor:
    """A modality mask (N, M) or per-component mask (N, M, D) as (N, M, D) against experts `like`."""
    if mask.dim() == like.dim() - 1:
        return mask.unsqueeze(-1).expand_as(like)
    if mask.shape != like.shape:
        raise ValueError(f"fusion mask of shape {tuple(mask.shape)} does not fit experts {tuple(like.shape)}")
    return mask


def modality_mask(mask: Tensor) -> Tensor:
    """(N, M) presence of each modality from a (N, M) or (N, M, D) mask."""
    return mask if mask.dim() == 2 else mask.any(-1)


def require_experts(inputs: DiagGaussian | Tensor, who: str) -> DiagGaussian:
    if not isinstance(inputs, DiagGaussian):
        raise TypeError(f"{who} fuses Gaussian experts, got a plain tensor of embeddings")
    return inputs


def gaussian_head(in_dim: int, hidden: Sequence[int], latent_dim: int) -> nn.Sequential:
    """An MLP from fused features to (mu, raw log-variance): ReLU layers of the given widths, then a linear map."""
    if any(int(w) < 1 for w in hidden):
        raise ValueError(f"model.fusion.head_hidden: every width must be a positive integer, got {list(hidden)}")
    layers: list[nn.Module] = []
    width = in_dim
    for w in hidden:
        layers += [nn.Linear(width, int(w)), nn.ReLU()]
        width = int(w)
    layers.append(nn.Linear(width, 2 * latent_dim))
    return nn.Sequential(*layers)
