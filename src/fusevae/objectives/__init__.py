"""Training schemes (which subsets a step evaluates, what each reconstructs) and estimators."""

from __future__ import annotations

from ..config import ObjectiveConfig
from ..model import MultimodalVAE
from .base import Objective, ObjectiveOutput
from .cross import ECGObjective, RMDObjective
from .estimators import ELBO, ESTIMATORS, IWAE, DReG, Estimator, make_estimator
from .jmvae import JMVAEObjective
from .joint import JointObjective, LCDObjective
from .m2vae import M2VAEObjective
from .mmvae import MMVAEObjective
from .mvae import MVAEObjective
from .smvae import SMVAEObjective
from .two_stage import JMVAEZeroObjective, TVAEObjective

OBJECTIVES: dict[str, type[Objective]] = {
    "joint": JointObjective,
    "mvae": MVAEObjective,
    "ecg": ECGObjective,
    "rmd": RMDObjective,
    "lcd": LCDObjective,
    "smvae": SMVAEObjective,
    "mmvae": MMVAEObjective,
    "jmvae": JMVAEObjective,
    "jmvae_zero": JMVAEZeroObjective,
    "tvae": TVAEObjective,
    "m2vae": M2VAEObjective,
}


def make_objective(cfg: ObjectiveConfig, model: MultimodalVAE, epochs: float | None = None) -> Objective:
    """The scheme cfg.kind with its estimator; an invalid combination with the model fails here, naming why.

    `epochs`, the training length, is needed by schemes that schedule stages by it (tvae).
    """
    if cfg.kind not in OBJECTIVES:
        raise ValueError(f"unknown scheme {cfg.kind!r}; expected one of {sorted(OBJECTIVES)}")
    objective = OBJECTIVES[cfg.kind](cfg, model)
    objective.set_epochs(epochs)
    return objective


__all__ = [
    "ELBO",
    "ESTIMATORS",
    "IWAE",
    "JMVAEObjective",
    "JMVAEZeroObjective",
    "M2VAEObjective",
    "TVAEObjective",
    "OBJECTIVES",
    "DReG",
    "ECGObjective",
    "Estimator",
    "JointObjective",
    "LCDObjective",
    "MMVAEObjective",
    "MVAEObjective",
    "Objective",
    "ObjectiveOutput",
    "RMDObjective",
    "SMVAEObjective",
    "make_estimator",
    "make_objective",
]
