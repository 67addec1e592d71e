"""Joint posteriors: how q(z | x_S) is formed for any subset S of modalities."""

from __future__ import annotations

from ..config import FusionConfig, ModelConfig
from .base import Fusion
from .dropout import LatentComponentDropout
from .experts import (
    BestComponentExpert,
    MixtureOfExperts,
    MixtureOfProductsOfExperts,
    ProductOfExperts,
    RandomComponentExpert,
    RobustBayesianCommittee,
    product_of_experts,
)
from .pooling import Pooling
from .registry import FusionEntry, fusion_entry, register_fusion, registered_fusions
from .set_attention import SetAttention
from .subset_encoders import SubsetEncoders
from .zero_fill import ZeroFilledJoint

FUSIONS: dict[str, str] = {name: e.consumes for name, e in registered_fusions().items()}  # name -> what it reads


def mixture_components(kind: str, m: int) -> int:
    """Components of the mixture posterior a fusion forms over m modalities (1: not a mixture)."""
    return fusion_entry(kind).components(m)


def owned_options() -> set[str]:
    """FusionConfig fields that belong to particular fusions: those some registry entry's `options` names."""
    return {o for e in registered_fusions().values() for o in e.options}


def make_fusion(cfg: ModelConfig, embed_dim: int) -> Fusion:
    """The fusion named by cfg.fusion, wrapped in latent component dropout when lcd_alpha > 0."""
    f = cfg.fusion
    entry = fusion_entry(f.kind)
    defaults = FusionConfig(kind=f.kind)
    for option in sorted(owned_options()):
        if getattr(f, option) != getattr(defaults, option) and option not in entry.options:
            owners = sorted(n for n, e in registered_fusions().items() if option in e.options)
            raise ValueError(
                f"fusion.{option} only applies to the {' and '.join(owners)} fusion{'s' if len(owners) > 1 else ''}, "
                f"not {f.kind!r}"
            )
    if f.lcd_alpha > 0 and entry.consumes != "experts":
        experts = sorted(n for n, e in registered_fusions().items() if e.consumes == "experts")
        raise ValueError(
            f"fusion.lcd_alpha: latent component dropout drops latent components of Gaussian experts, "
            f"but {f.kind!r} fuses modality embeddings; use {', '.join(experts)}"
        )
    fusion = entry.build(cfg, embed_dim)
    if f.lcd_alpha > 0:
        fusion = LatentComponentDropout(fusion, f.lcd_alpha)
    return fusion


__all__ = [
    "FUSIONS",
    "FusionEntry",
    "BestComponentExpert",
    "Fusion",
    "LatentComponentDropout",
    "MixtureOfExperts",
    "MixtureOfProductsOfExperts",
    "Pooling",
    "ProductOfExperts",
    "RandomComponentExpert",
    "RobustBayesianCommittee",
    "SetAttention",
    "SubsetEncoders",
    "ZeroFilledJoint",
    "fusion_entry",
    "make_fusion",
    "mixture_components",
    "product_of_experts",
    "register_fusion",
    "registered_fusions",
]
