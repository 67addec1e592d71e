"""Fusions by name: each entry says how to build it from the model config, what it reads and its mixture size.

Adding a fusion is one file with its class and one `register_fusion` call; `make_fusion` and the
presets look a fusion's metadata up here instead of in a chain of names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import ModelConfig
from .base import Fusion

Builder = Callable[[ModelConfig, int], Fusion]  # (model config, embedding size) -> fusion


def single(m: int) -> int:
    """A single Gaussian posterior: one component whatever the number of modalities."""
    return 1


@dataclass(frozen=True)
class FusionEntry:
    name: str
    build: Builder
    consumes: str  # "experts", "embeddings" or "zero_filled": what the model hands the fusion
    components: Callable[[int], int] = single  # mixture components for M modalities (1: not a mixture)
    description: str = ""
    # the FusionConfig fields this fusion reads besides `kind`; make_fusion refuses them set on any other fusion
    options: tuple[str, ...] = ()


_FUSIONS: dict[str, FusionEntry] = {}


def register_fusion(
    name: str,
    build: Builder,
    consumes: str,
    components: Callable[[int], int] = single,
    description: str = "",
    options: tuple[str, ...] = (),
) -> FusionEntry:
    if consumes not in ("experts", "embeddings", "zero_filled"):
        raise ValueError(f"fusion {name!r}: consumes must be experts, embeddings or zero_filled, got {consumes!r}")
    if name in _FUSIONS:
        raise ValueError(f"fusion {name!r} is already registered")
    entry = FusionEntry(name, build, consumes, components, description, tuple(options))
    _FUSIONS[name] = entry
    return entry


def fusion_entry(name: str) -> FusionEntry:
    if name not in _FUSIONS:
        raise ValueError(f"unknown fusion {name!r}; expected one of {sorted(_FUSIONS)}")
    return _FUSIONS[name]


def registered_fusions() -> dict[str, FusionEntry]:
    return dict(_FUSIONS)
