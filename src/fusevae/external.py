"""Models trained elsewhere, scored by fusevae's own evaluator: one estimator and one set of judges for all.

A peer library's model (MultiVae, multi-view-AE, your own code) needs to give fusevae's metrics
only two things: q(z | x_S) for a subset S, as the mean and log-variance of a diagonal Gaussian
or of the components of a uniform mixture, and a decoder per modality mapping z to the parameters
of that modality's likelihood (Bernoulli or categorical logits, a Gaussian or Laplace mean, ...).
log p(x_m | z) is then fusevae's likelihood of those parameters, so the log-likelihood table, the
coherence and the latent probes of an `ExternalModel` are the same functions as for a fusevae model.
The prior is N(0, I): a model trained with a learned prior is not scored correctly here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .config import ModalityConfig
from .data.batch import Batch, BatchError, make_batch
from .distributions import DiagGaussian, Posterior, UniformMixture
from .likelihoods import make_likelihood
from .modalities import activation_floats
from .subsets import named_subsets

Gaussian = tuple[Tensor, Tensor]  # (mu, logvar), each (B, D)
# posterior(data, subset) -> one Gaussian, or the components of a uniform mixture; data holds the rows to encode
PosteriorFn = Callable[[Mapping[str, Tensor], tuple[str, ...]], Gaussian | Sequence[Gaussian]]


class ExternalModality(nn.Module):
    """One modality of an external model: its spec, its decoder z -> likelihood parameters, and the likelihood."""

    def __init__(self, cfg: ModalityConfig, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.event_shape = tuple(cfg.shape)
        self.likelihood = make_likelihood(cfg.likelihood, len(self.event_shape), cfg.likelihood_scale)
        self.param_shape = self.likelihood.param_shape(self.event_shape, cfg.num_classes)
        self.decoder = decoder
        with torch.no_grad(), activation_floats(decoder) as floats:
            out = decoder(torch.zeros(2, latent_dim, device=_device(decoder)))
        if not isinstance(out, Tensor) or out.shape[0] != 2 or math.prod(out.shape[1:]) != math.prod(self.param_shape):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"modality {cfg.name!r}: the decoder must map (N, {latent_dim}) to (N, *{self.param_shape}) "
                f"for the {cfg.likelihood} likelihood, got {got} for N=2"
            )
        self.decoder_floats = max(floats[0], math.prod(self.param_shape))  # as a fusevae decoder's (chunk sizes)

    def decode(self, z: Tensor) -> Tensor:
        lead = z.shape[:-1]
        return self.decoder(z.reshape(-1, z.shape[-1])).float().reshape(*lead, *self.param_shape)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        return self.likelihood.log_prob(params, x)

    def mean(self, params: Tensor) -> Tensor:
        return self.likelihood.mean(params)


class ExternalModel(nn.Module):
    """An outside model behind the interface fusevae's metrics read (`likelihood_table`, coherence, latent maps).

    `specs`: the modalities (name, kind, shape, likelihood, classes) in the model's order; `posterior`:
    q(z | x_S) for a subset S (see PosteriorFn); `decoders[m]`: z (N, D) -> the parameters of m's
    likelihood; `subsets`: the subsets it has a posterior for (None: every non-empty one).
    Rows of a batch that condition on different subsets are encoded group by group.
    """

    def __init__(
        self,
        specs: Sequence[ModalityConfig],
        latent_dim: int,
        posterior: PosteriorFn,
        decoders: Mapping[str, nn.Module],
        subsets: Sequence[Sequence[str]] | None = None,
    ) -> None:
        super().__init__()
        self.names: tuple[str, ...] = tuple(s.name for s in specs)
        missing = sorted(set(self.names) - set(decoders))
        if missing:
            raise ValueError(f"no decoder for modalities {missing}")
        self.latent_dim = latent_dim
        self.nets = nn.ModuleDict({s.name: ExternalModality(s, decoders[s.name], latent_dim) for s in specs})
        self._posterior = posterior
        every = named_subsets(self.names)
        if subsets is None:
            self._subsets = every
        else:
            chosen = {tuple(n for n in self.names if n in s) for s in subsets}
            self._subsets = [s for s in every if s in chosen]

    def encodable_subsets(self) -> list[tuple[str, ...]]:
        return list(self._subsets)

    def as_batch(self, data: Mapping[str, Tensor] | Batch) -> Batch:
        device = next(self.parameters()).device
        if isinstance(data, Batch):
            return data.to(device)
        return make_batch({k: v.to(device) for k, v in data.items()}, self.names)

    def encode(self, batch: Batch) -> Batch:
        """Nothing is encoded ahead: `fuse` calls the outside posterior once per subset it meets."""
        return batch

    def fuse(self, batch: Batch, subsets: Tensor) -> Posterior:
        """q(z | x_S) for subset masks (..., B, M), grouping rows by subset; an empty subset is the prior."""
        lead, (b, m) = subsets.shape[:-2], subsets.shape[-2:]
        flat = subsets.reshape(-1, m)
        rows = torch.arange(flat.shape[0], device=flat.device) % b  # the batch item each row encodes
        parts: list[tuple[Tensor, list[Gaussian]]] = []
        for pattern in torch.unique(flat, dim=0):
            where = torch.nonzero((flat == pattern).all(-1)).flatten()
            subset = tuple(n for n, on in zip(self.names, pattern.tolist(), strict=True) if on)
            if not subset:
                zeros = torch.zeros(len(where), self.latent_dim, device=flat.device)
                parts.append((where, [(zeros, zeros)]))
                continue
            if subset not in self._subsets:
                raise ValueError(f"this model has no posterior for {list(subset)}; it has {self._subsets}")
            data = {k: v[rows[where]] for k, v in batch.data.items()}
            out = self._posterior(data, subset)
            components = [out] if isinstance(out, tuple) and isinstance(out[0], Tensor) else list(out)
            parts.append((where, [(mu.float(), logvar.float()) for mu, logvar in components]))
        width = max(len(c) for _, c in parts)
        mu = torch.zeros(flat.shape[0], width, self.latent_dim, device=flat.device)
        logvar = torch.zeros_like(mu)
        present = torch.zeros(flat.shape[0], width, dtype=torch.bool, device=flat.device)
        for where, components in parts:
            for c, (m_c, lv_c) in enumerate(components):
                if m_c.shape != (len(where), self.latent_dim) or lv_c.shape != m_c.shape:
                    raise BatchError(
                        f"posterior must return (mu, logvar) of shape ({len(where)}, {self.latent_dim}), "
                        f"got {tuple(m_c.shape)} and {tuple(lv_c.shape)}"
                    )
                mu[where, c], logvar[where, c], present[where, c] = m_c, lv_c, True
        if width == 1:
            return DiagGaussian(mu[:, 0], logvar[:, 0]).reshape_batch(*lead, b)
        return UniformMixture(DiagGaussian(mu, logvar), present).reshape_batch(*lead, b)

    def posterior(self, data: Mapping[str, Tensor] | Batch, subset: Sequence[str] | None = None) -> Posterior:
        batch = self.as_batch(data)
        mask = batch.mask
        if subset is not None:
            mask = mask & torch.tensor([n in subset for n in self.names], device=mask.device)
        return self.fuse(batch, mask)

    def decode(self, z: Tensor, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        return {n: self.nets[n].decode(z) for n in (names or self.names)}

    def log_likelihoods(self, z: Tensor, batch: Batch, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        names = names or self.names
        return {n: self.nets[n].log_prob(self.nets[n].decode(z), batch.data[n]) for n in names}


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
