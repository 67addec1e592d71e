"""fusevae: multimodal variational autoencoders as fusion x objective x estimator."""

from .config import ExperimentConfig, FusionConfig, ModalityConfig, ModelConfig, ObjectiveConfig, TrainConfig
from .data import Batch, load_dataset, make_batch
from .distributions import DiagGaussian
from .model import MultimodalVAE
from .presets import PRESETS, preset_config

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "Batch",
    "DiagGaussian",
    "ExperimentConfig",
    "FusionConfig",
    "ModalityConfig",
    "ModelConfig",
    "MultimodalVAE",
    "ObjectiveConfig",
    "TrainConfig",
    "load_dataset",
    "make_batch",
    "preset_config",
]
