"""Permutation-invariant set functions over modality embeddings: mean and sum pooling (deep sets).

The comparison points for SMVAE's attention: rho(pool_{m in S} e_m), with the same
residual form and linear head as the attention fusion so only the pooling differs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..distributions import DiagGaussian, bounded_logvar
from .base import Fusion
from .registry import register_fusion


class Pooling(Fusion):
    """g = h + f_s(h), h = mean or sum of the present embeddings; a linear head gives mu, log sigma^2."""

    consumes = "embeddings"

    def __init__(self, embed_dim: int, latent_dim: int, reduce: str, logvar_min: float, logvar_max: float) -> None:
        super().__init__()
        if reduce not in ("mean", "sum"):
            raise ValueError(f"pooling reduce must be 'mean' or 'sum', got {reduce!r}")
        self.reduce = reduce
        self.f_s = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.head = nn.Linear(embed_dim, 2 * latent_dim)
        self.logvar_min, self.logvar_max = logvar_min, logvar_max

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        if isinstance(inputs, DiagGaussian):
            raise TypeError(f"{self.reduce} pooling reads modality embeddings, got Gaussian experts")
        if mask.dim() != 2:
            raise ValueError(f"{self.reduce} pooling takes a modality mask (N, M), got shape {tuple(mask.shape)}")
        w = mask.to(inputs.dtype).unsqueeze(-1)
        h = (inputs * w).sum(1)
        if self.reduce == "mean":
            h = h / w.sum(1).clamp_min(1.0)
        g = h + self.f_s(h)
        mu, raw = self.head(g).chunk(2, dim=-1)
        logvar = bounded_logvar(raw, self.logvar_min, self.logvar_max)
        keep = mask.any(1, keepdim=True)
        return DiagGaussian(torch.where(keep, mu, 0.0), torch.where(keep, logvar, 0.0))


for _reduce in ("mean", "sum"):
    register_fusion(
        _reduce,
        lambda cfg, e, r=_reduce: Pooling(e, cfg.latent_dim, r, cfg.logvar_min, cfg.logvar_max),
        "embeddings",
        description=f"{_reduce} pooling of the modality embeddings",
    )
