"""Joint posteriors: how q(z | x_S) is formed for any subset S of modalities."""

from __future__ import annotations

from ..config import ModelConfig
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


def make_fusion(cfg: ModelConfig, embed_dim: int) -> Fusion:
    """The fusion named by cfg.fusion, wrapped in latent component dropout when lcd_alpha > 0."""
    f = cfg.fusion
    entry = fusion_entry(f.kind)
    if f.rbcm_beta is not None and f.kind != "rbcm":
        raise ValueError(f"fusion.rbcm_beta only applies to the rbcm fusion, not {f.kind!r}")
    if f.subsets != "all" and f.kind != "subset_encoders":
        raise ValueError(f"fusion.subsets only applies to the subset_encoders fusion, not {f.kind!r}")
    if f.prior_expert != "every" and f.kind != "mopoe":
        raise ValueError(f"fusion.prior_expert only applies to the mopoe fusion, not {f.kind!r}")
    if list(f.head_hidden) != [64] and f.kind not in ("subset_encoders", "zero_fill"):
        raise ValueError(
            f"fusion.head_hidden only applies to the subset_encoders and zero_fill fusions, not {f.kind!r}"
        )
    if f.single_head_hidden is not None and f.kind != "subset_encoders":
        raise ValueError(f"fusion.single_head_hidden only applies to the subset_encoders fusion, not {f.kind!r}")
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
