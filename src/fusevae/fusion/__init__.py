"""Joint posteriors: how q(z | x_S) is formed for any subset S of modalities."""

from __future__ import annotations

from ..config import ModelConfig
from .base import Fusion
from .experts import ProductOfExperts
from .set_attention import SetAttention

FUSIONS = ("poe", "set_attention")


def make_fusion(cfg: ModelConfig, embed_dim: int) -> Fusion:
    kind = cfg.fusion.kind
    if kind == "poe":
        return ProductOfExperts()
    if kind == "set_attention":
        return SetAttention(embed_dim, cfg.latent_dim, cfg.fusion.heads, cfg.logvar_min, cfg.logvar_max)
    raise ValueError(f"unknown fusion {kind!r}; expected one of {FUSIONS}")


__all__ = ["FUSIONS", "Fusion", "ProductOfExperts", "SetAttention", "make_fusion"]
