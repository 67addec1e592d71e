"""One joint encoder over zero-filled inputs (JMVAE-Zero, M2VAE section 5.1.2 and Table 2).

Every modality always enters the joint encoder; one left out of a subset enters as an all-zero
input, so the encoder's first layers see their bias alone. The per-modality feature layers are the
model's modality encoders ("2x784-2x128-2x64"); one head reads their concatenation ("concat-64-2").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..distributions import DiagGaussian, bounded_logvar
from .base import Fusion, gaussian_head
from .registry import register_fusion


class ZeroFilledJoint(Fusion):
    """q(z | x_S) = N(mu, sigma^2) from one head over concat(e_m if m in S else e_m(0))."""

    consumes = "zero_filled"

    def __init__(
        self,
        m: int,
        embed_dim: int,
        latent_dim: int,
        logvar_min: float,
        logvar_max: float,
        hidden: Sequence[int] = (64,),
    ) -> None:
        super().__init__()
        self.m = m
        self.latent_dim = latent_dim
        self.head = gaussian_head(m * embed_dim, hidden, latent_dim)
        self.logvar_min, self.logvar_max = logvar_min, logvar_max

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        if isinstance(inputs, DiagGaussian) or inputs.dim() != 3 or inputs.shape[1] != 2 * self.m:
            raise TypeError("the zero-filled joint encoder reads (N, 2M, E): embeddings, then zero-input embeddings")
        if mask.dim() != 2:
            raise ValueError(f"the zero-filled joint encoder takes a modality mask (N, M), got {tuple(mask.shape)}")
        real, null = inputs[:, : self.m], inputs[:, self.m :]
        features = torch.where(mask.unsqueeze(-1), real, null).flatten(1)
        mu, raw = self.head(features).chunk(2, dim=-1)
        logvar = bounded_logvar(raw, self.logvar_min, self.logvar_max)
        # a row with no modality has no evidence: the prior, as for every fusion
        empty = ~mask.any(-1, keepdim=True)
        return DiagGaussian(mu.masked_fill(empty, 0.0), logvar.masked_fill(empty, 0.0))


register_fusion(
    "zero_fill",
    lambda cfg, e: ZeroFilledJoint(
        len(cfg.modalities), e, cfg.latent_dim, cfg.logvar_min, cfg.logvar_max, cfg.fusion.head_hidden
    ),
    "zero_filled",
    description="one joint encoder fed zeros for missing modalities (JMVAE-Zero)",
    options=("head_hidden",),
)
