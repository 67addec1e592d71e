"""Training objectives: which subsets a step evaluates, what each reconstructs, which estimator."""

from __future__ import annotations

from ..config import ObjectiveConfig
from ..model import MultimodalVAE
from .base import Objective, ObjectiveOutput
from .estimators import ELBO, IWAE, Estimator, make_estimator
from .mvae import MVAEObjective
from .smvae import SMVAEObjective

OBJECTIVES: dict[str, type[Objective]] = {"mvae": MVAEObjective, "smvae": SMVAEObjective}


def make_objective(cfg: ObjectiveConfig, model: MultimodalVAE) -> Objective:
    if cfg.kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {cfg.kind!r}; expected one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[cfg.kind](cfg, model)


__all__ = [
    "ELBO",
    "IWAE",
    "OBJECTIVES",
    "Estimator",
    "MVAEObjective",
    "Objective",
    "ObjectiveOutput",
    "SMVAEObjective",
    "make_estimator",
    "make_objective",
]
