"""Encoder and decoder families per modality, chosen by name in the config (see `registry`)."""

from . import conv as _conv  # noqa: F401  (registers "conv")
from . import mlp as _mlp  # noqa: F401  (registers "mlp")
from . import sequence as _sequence  # noqa: F401  (registers "sequence")
from .layers import ACTIVATIONS, activation
from .registry import (
    Decoder,
    Encoder,
    NetworkContext,
    NetworkError,
    NetworkFamily,
    build,
    register_network,
    registered_networks,
    resolve_factory,
)

__all__ = [
    "ACTIVATIONS",
    "Decoder",
    "Encoder",
    "NetworkContext",
    "NetworkError",
    "NetworkFamily",
    "activation",
    "build",
    "register_network",
    "registered_networks",
    "resolve_factory",
]
