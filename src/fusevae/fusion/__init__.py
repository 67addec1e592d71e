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
from .set_attention import SetAttention
from .subset_encoders import SubsetEncoders
from .zero_fill import ZeroFilledJoint

# what each fusion reads: Gaussian experts per modality, or modality embeddings (set functions)
FUSIONS: dict[str, str] = {
    "poe": "experts",
    "moe": "experts",
    "mopoe": "experts",
    "rbcm": "experts",
    "bce": "experts",
    "rce": "experts",
    "set_attention": "embeddings",
    "mean": "embeddings",
    "sum": "embeddings",
    "subset_encoders": "embeddings",
    "zero_fill": "zero_filled",
}


def mixture_components(kind: str, m: int) -> int:
    """Components of the mixture posterior a fusion forms over m modalities (1: not a mixture)."""
    return {"moe": m, "mopoe": 2**m - 1}.get(kind, 1)


def make_fusion(cfg: ModelConfig, embed_dim: int) -> Fusion:
    """The fusion named by cfg.fusion, wrapped in latent component dropout when lcd_alpha > 0."""
    f = cfg.fusion
    if f.kind not in FUSIONS:
        raise ValueError(f"unknown fusion {f.kind!r}; expected one of {sorted(FUSIONS)}")
    if f.rbcm_beta is not None and f.kind != "rbcm":
        raise ValueError(f"fusion.rbcm_beta only applies to the rbcm fusion, not {f.kind!r}")
    if f.subsets != "all" and f.kind != "subset_encoders":
        raise ValueError(f"fusion.subsets only applies to the subset_encoders fusion, not {f.kind!r}")
    if f.lcd_alpha > 0 and FUSIONS[f.kind] != "experts":
        raise ValueError(
            f"fusion.lcd_alpha: latent component dropout drops latent components of Gaussian experts, "
            f"but {f.kind!r} fuses modality embeddings; use poe, moe, mopoe, rbcm, bce or rce"
        )
    fusion: Fusion
    if f.kind == "poe":
        fusion = ProductOfExperts()
    elif f.kind == "moe":
        fusion = MixtureOfExperts()
    elif f.kind == "mopoe":
        fusion = MixtureOfProductsOfExperts(len(cfg.modalities))
    elif f.kind == "rbcm":
        fusion = RobustBayesianCommittee(f.rbcm_beta, cfg.logvar_max)
    elif f.kind == "bce":
        fusion = BestComponentExpert()
    elif f.kind == "rce":
        fusion = RandomComponentExpert()
    elif f.kind == "subset_encoders":
        names = tuple(m.name for m in cfg.modalities)
        fusion = SubsetEncoders(names, embed_dim, cfg.latent_dim, f.subsets, cfg.logvar_min, cfg.logvar_max)
    elif f.kind == "zero_fill":
        fusion = ZeroFilledJoint(len(cfg.modalities), embed_dim, cfg.latent_dim, cfg.logvar_min, cfg.logvar_max)
    elif f.kind == "set_attention":
        fusion = SetAttention(embed_dim, cfg.latent_dim, f.heads, cfg.logvar_min, cfg.logvar_max)
    else:
        fusion = Pooling(embed_dim, cfg.latent_dim, f.kind, cfg.logvar_min, cfg.logvar_max)
    if f.lcd_alpha > 0:
        fusion = LatentComponentDropout(fusion, f.lcd_alpha)
    return fusion


__all__ = [
    "FUSIONS",
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
    "make_fusion",
    "mixture_components",
    "product_of_experts",
]
