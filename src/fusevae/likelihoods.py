"""Per-modality likelihoods p(x_m | z), each returning nats summed over the modality's dims.

Decoder outputs carry leading sample dimensions (K, ..., B); data has shape (B, *event)
and broadcasts against them, so importance samples never copy the data.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_REGISTRY: dict[str, type[Likelihood]] = {}


class Likelihood(nn.Module, ABC):
    """Maps decoder output to a distribution over one modality."""

    name: str = ""
    #: how many decoder outputs per data element (2 for a learned per-pixel scale)
    params_per_element: int = 1

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _REGISTRY[cls.name] = cls

    def __init__(self, event_ndim: int) -> None:
        super().__init__()
        self.event_ndim = event_ndim

    def _sum_event(self, t: Tensor) -> Tensor:
        return t.flatten(start_dim=t.dim() - self.event_ndim).sum(-1) if self.event_ndim else t

    def param_shape(self, event_shape: tuple[int, ...], num_classes: int = 0) -> tuple[int, ...]:
        """Shape of the decoder output that parameterises one data item."""
        return (self.params_per_element, *event_shape) if self.params_per_element > 1 else event_shape

    @abstractmethod
    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x | params) summed over the event dimensions."""

    @abstractmethod
    def mean(self, params: Tensor) -> Tensor:
        """The distribution's mean, shaped like the data."""


class Bernoulli(Likelihood):
    """Bernoulli on logits; x in [0, 1] (grey levels give the usual cross-entropy)."""

    name = "bernoulli"

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        x = x.to(params.dtype)
        # x*log(sigmoid(l)) + (1-x)*log(1-sigmoid(l)) = x*l - softplus(l)
        return self._sum_event(x * params - F.softplus(params))

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)


class Categorical(Likelihood):
    """Categorical over the last decoder dimension; x holds integer class indices."""

    name = "categorical"

    def __init__(self, event_ndim: int = 0) -> None:
        super().__init__(event_ndim)

    def param_shape(self, event_shape: tuple[int, ...], num_classes: int = 0) -> tuple[int, ...]:
        if num_classes < 2:
            raise ValueError(f"a categorical likelihood needs num_classes >= 2, got {num_classes}")
        return (*event_shape, num_classes)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        logp = torch.log_softmax(params, dim=-1)
        idx = x.long().expand(logp.shape[:-1]).unsqueeze(-1)
        return self._sum_event(logp.gather(-1, idx).squeeze(-1))

    def mean(self, params: Tensor) -> Tensor:
        return torch.softmax(params, dim=-1)


class _LocationScale(Likelihood):
    """Shared code for Gaussian and Laplace: a fixed scale, or a learned one per element."""

    params_per_element = 1

    def __init__(self, event_ndim: int, scale: float | None = 1.0, min_log_scale: float = -7.0) -> None:
        super().__init__(event_ndim)
        self.learn_scale = scale is None
        self.params_per_element = 2 if self.learn_scale else 1
        self.fixed_log_scale = 0.0 if scale is None else math.log(scale)
        self.min_log_scale = min_log_scale

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        if not self.learn_scale:
            return params, torch.full_like(params, self.fixed_log_scale)
        # learned scale: decoder output has shape (..., 2, *event)
        loc, raw = params.unbind(dim=params.dim() - self.event_ndim - 1)
        # softplus floor: the scale cannot collapse to zero and send log p to +inf
        log_scale = self.min_log_scale + F.softplus(raw - self.min_log_scale)
        return loc, log_scale

    def mean(self, params: Tensor) -> Tensor:
        return self._split(params)[0]


class Gaussian(_LocationScale):
    name = "gaussian"

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        loc, log_scale = self._split(params)
        z = (x - loc) * torch.exp(-log_scale)
        return self._sum_event(-0.5 * z**2 - log_scale - 0.5 * math.log(2 * math.pi))


class Laplace(_LocationScale):
    name = "laplace"

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        loc, log_scale = self._split(params)
        return self._sum_event(-(x - loc).abs() * torch.exp(-log_scale) - log_scale - math.log(2.0))


def make_likelihood(name: str, event_ndim: int, scale: float | None = 1.0) -> Likelihood:
    """Build a likelihood by name: bernoulli, categorical, gaussian, laplace."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {sorted(_REGISTRY)}")
    cls = _REGISTRY[name]
    if issubclass(cls, _LocationScale):
        return cls(event_ndim, scale=scale)
    return cls(event_ndim)
