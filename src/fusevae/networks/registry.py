"""Network families by name: `mlp`, `conv`, `sequence` and the ones users register.

A family builds a modality's encoder and decoder from a `NetworkContext` and JSON keyword
options. The config records only the family's name and those options, so a run rebuilds its
networks from the registry (or from an importable "package.module:factory") and loads the
weights from safetensors; nothing is ever unpickled.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from ..config import ModalityConfig


class NetworkError(ValueError):
    """A network family is unknown, cannot be imported, or built a module that breaks the contract."""


@dataclass(frozen=True)
class NetworkContext:
    """What a factory knows when it builds one modality's encoder or decoder."""

    spec: ModalityConfig  # the modality: name, kind, event shape, classes, likelihood
    latent_dim: int  # D: the decoder's input size
    param_shape: tuple[int, ...]  # the decoder's output shape per item (the likelihood's parameters)
    activation: str  # the model's default hidden activation

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.shape)


@runtime_checkable
class Encoder(Protocol):
    """x (B, *event_shape) -> embedding (B, E). Integer data (labels, tokens) arrives as int64."""

    def __call__(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Decoder(Protocol):
    """z (N, D) -> likelihood parameters (N, *param_shape).

    The library flattens every leading dimension (K samples, subsets, batch) into N before the
    call and restores them after, so a decoder only ever sees a plain batch.
    """

    def __call__(self, z: Tensor) -> Tensor: ...


Factory = Callable[..., nn.Module]  # factory(ctx: NetworkContext, **options) -> nn.Module


@dataclass(frozen=True)
class NetworkFamily:
    """An encoder factory and a decoder factory under one name; either may be absent."""

    name: str
    encoder: Factory | None = None
    decoder: Factory | None = None
    description: str = ""


_FAMILIES: dict[str, NetworkFamily] = {}
BUILTIN = ("mlp", "conv", "sequence")


def register_network(
    name: str,
    encoder: Factory | None = None,
    decoder: Factory | None = None,
    description: str = "",
    overwrite: bool = False,
) -> NetworkFamily:
    """Register a network family: `factory(ctx, **options) -> nn.Module` for the encoder and/or decoder.

    A config then selects it per modality (`network`, or `encoder` / `decoder` for one role)
    and records its options as JSON. Registering a user's name again replaces it (a notebook cell
    run twice); replacing a built-in family (mlp, conv, sequence) needs `overwrite=True`.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise NetworkError(f"a network name is a non-empty string without ':', got {name!r}")
    if encoder is None and decoder is None:
        raise NetworkError(f"network {name!r}: give an encoder factory, a decoder factory or both")
    for role, f in (("encoder", encoder), ("decoder", decoder)):
        if f is not None and not callable(f):
            raise NetworkError(f"network {name!r}: the {role} factory must be callable, got {type(f).__name__}")
    if name in BUILTIN and name in _FAMILIES and not overwrite:
        raise NetworkError(f"network {name!r} is a built-in family; pass overwrite=True to replace it")
    family = NetworkFamily(name, encoder, decoder, description)
    _FAMILIES[name] = family
    return family


def registered_networks() -> dict[str, NetworkFamily]:
    return dict(_FAMILIES)


def resolve_factory(name: str, role: str, modality: str) -> Factory:
    """The `role` ("encoder" / "decoder") factory of family `name`, registered or "package.module:factory"."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise NetworkError(f"modality {modality!r}: cannot import the {role} network {name!r} ({e})") from None
        if isinstance(obj, NetworkFamily):
            obj = getattr(obj, role)
            if obj is None:
                raise NetworkError(f"modality {modality!r}: network {name!r} has no {role}")
        if not callable(obj):
            raise NetworkError(f"modality {modality!r}: {name!r} is not a callable factory")
        return obj
    if name not in _FAMILIES:
        raise NetworkError(
            f"modality {modality!r}: unknown {role} network {name!r}; registered: {sorted(_FAMILIES)}. "
            "Register it with fusevae.register_network before building or loading the model, "
            "or name an importable 'package.module:factory'"
        )
    factory = getattr(_FAMILIES[name], role)
    if factory is None:
        raise NetworkError(f"modality {modality!r}: network {name!r} has no {role} factory")
    return factory


def build(name: str, role: str, ctx: NetworkContext, options: dict[str, Any]) -> nn.Module:
    """Call the factory, naming the modality and network when it fails or returns no nn.Module."""
    factory = resolve_factory(name, role, ctx.spec.name)
    try:
        module = factory(ctx, **options)
    except NetworkError:
        raise
    except (TypeError, ValueError) as e:
        raise NetworkError(f"modality {ctx.spec.name!r}: the {role} network {name!r} failed to build: {e}") from None
    if not isinstance(module, nn.Module):
        raise NetworkError(
            f"modality {ctx.spec.name!r}: the {role} network {name!r} returned {type(module).__name__}, "
            "expected a torch.nn.Module"
        )
    return module
