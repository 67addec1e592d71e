"""fusevae: multimodal variational autoencoders as fusion x objective x estimator."""

from .config import ExperimentConfig, FusionConfig, ModalityConfig, ModelConfig, ObjectiveConfig, TrainConfig
from .data import Batch, EvaluationSpec, MultimodalData, from_arrays, load_dataset, load_spec_data, make_batch
from .distributions import DiagGaussian
from .model import MultimodalVAE
from .networks import Decoder, Encoder, NetworkContext, NetworkError, register_network
from .presets import PRESETS, preset_config

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "Batch",
    "Decoder",
    "Encoder",
    "EvaluationSpec",
    "MultimodalData",
    "NetworkContext",
    "NetworkError",
    "DiagGaussian",
    "ExperimentConfig",
    "FusionConfig",
    "ModalityConfig",
    "ModelConfig",
    "MultimodalVAE",
    "ObjectiveConfig",
    "TrainConfig",
    "from_arrays",
    "load_dataset",
    "load_spec_data",
    "make_batch",
    "preset_config",
    "register_network",
]
