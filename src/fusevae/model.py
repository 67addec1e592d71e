"""MultimodalVAE: per-modality networks + a fusion; encode once, fuse any subsets, decode."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .data.batch import Batch, BatchError, make_batch
from .distributions import DiagGaussian, Posterior, bounded_logvar, full_precision
from .fusion import make_fusion
from .modalities import ModalityNets
from .subsets import named_subsets
from .validation import check_batch, check_subset

Encoded = DiagGaussian | Tensor


class MultimodalVAE(nn.Module):
    """A multimodal VAE with one latent z ~ N(0, I) and a decoder per modality.

    `encode` runs every modality's encoder once; `fuse` forms q(z | x_S) for any stack of
    subset masks on top of that single encoding, which is what lets objectives and
    metrics evaluate many subsets for the price of one encoding.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        names = [m.name for m in cfg.modalities]
        if not names:
            raise ValueError("a model needs at least one modality")
        if cfg.latent_dim < 1:
            raise ValueError(f"model.latent_dim must be >= 1, got {cfg.latent_dim}")
        if len(set(names)) != len(names):
            raise ValueError(f"modality names must be unique, got {names}")
        self.names: tuple[str, ...] = tuple(names)
        self.nets = nn.ModuleDict(
            {m.name: ModalityNets(m, cfg.latent_dim, cfg.activation, cfg.decoder_activation) for m in cfg.modalities}
        )
        dims = {n: self.nets[n].embed_dim for n in names}
        width = max(dims.values())
        self.fusion = make_fusion(cfg, width)
        # a set function reads one embedding size: networks of other sizes get a linear projection to the largest
        self.projections = nn.ModuleDict(
            {n: nn.Linear(d, width) for n, d in dims.items() if d != width}
            if self.fusion.consumes in ("embeddings", "zero_filled")
            else {}
        )
        if self.fusion.consumes == "experts":
            # one Gaussian expert q(z | x_m) per modality
            self.expert_heads = nn.ModuleDict({n: nn.Linear(d, 2 * cfg.latent_dim) for n, d in dims.items()})
        # the joint heads' own copy of every encoder (and projection), starting from the shared weights
        self.own_features = getattr(self.fusion, "own_features", False)
        self.joint_encoders = nn.ModuleDict(
            {n: copy.deepcopy(self.nets[n].encoder) for n in names} if self.own_features else {}
        )
        self.joint_projections = copy.deepcopy(self.projections) if self.own_features else nn.ModuleDict()

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    # -- inference ---------------------------------------------------------------------
    def encode(self, batch: Batch) -> Encoded:
        """Each modality's encoder, run once: stacked embeddings (B, M, E) or experts (B, M, D).

        A fusion that reads zero-filled inputs (JMVAE-Zero) gets (B, 2M, E): the embeddings, then
        the embedding of a zero input of each modality, which stands in for any modality left out.
        """
        embeddings = [self._embed(n, batch.data[n]) if n in batch.data else None for n in self.names]
        ref = next(e for e in embeddings if e is not None)
        if self.fusion.consumes == "zero_filled":
            nulls = torch.stack([self._project(n, self.nets[n].null_embedding()).to(ref.dtype) for n in self.names])
            real = [e if e is not None else nulls[i].expand_as(ref) for i, e in enumerate(embeddings)]
            return torch.cat([torch.stack(real, 1), nulls.unsqueeze(0).expand(ref.shape[0], -1, -1)], 1)
        if self.fusion.consumes == "embeddings":
            stacked = torch.stack([e if e is not None else torch.zeros_like(ref) for e in embeddings], dim=1)
            if not self.own_features:
                return stacked
            # (B, 2M, E): the shared features, then the joint heads' own (subset_encoders with own_features)
            own = [self._embed_own(n, batch.data[n]) if n in batch.data else torch.zeros_like(ref) for n in self.names]
            return torch.cat([stacked, torch.stack(own, dim=1)], dim=1)
        mus, logvars = [], []
        for n, e in zip(self.names, embeddings, strict=True):
            if e is None:
                zeros = full_precision(ref.new_zeros(ref.shape[0], self.latent_dim))
                mus.append(zeros)
                logvars.append(zeros)
                continue
            mu, raw = full_precision(self.expert_heads[n](e)).chunk(2, dim=-1)
            mus.append(mu)
            logvars.append(bounded_logvar(raw, self.cfg.logvar_min, self.cfg.logvar_max))
        return DiagGaussian(torch.stack(mus, 1), torch.stack(logvars, 1))

    def _project(self, name: str, e: Tensor) -> Tensor:
        return self.projections[name](e) if name in self.projections else e

    def _embed(self, name: str, x: Tensor) -> Tensor:
        """Modality `name`'s embedding (B, E), projected to the fusion's width where its network's differs."""
        return self._project(name, self.nets[name].encode(x))

    def _embed_own(self, name: str, x: Tensor) -> Tensor:
        """Modality `name`'s embedding by the joint heads' own copy of its encoder (fusion.own_features)."""
        e = self.nets[name].encode(x, self.joint_encoders[name])
        return self.joint_projections[name](e) if name in self.joint_projections else e

    def fuse(self, encoded: Encoded, subsets: Tensor) -> Posterior:
        """q(z | x_S) for subset masks `subsets` of shape (..., B, M); returns batch shape (..., B)."""
        lead = subsets.shape[:-2]
        b, m = subsets.shape[-2:]
        flat = subsets.reshape(-1, b, m)
        s = flat.shape[0]
        if isinstance(encoded, DiagGaussian):
            widened: Encoded = DiagGaussian(_widen(encoded.mu, s), _widen(encoded.logvar, s))
        else:
            widened = _widen(encoded, s)
        return self.fusion(widened, flat.reshape(s * b, m)).reshape_batch(*lead, b)

    def encodable_subsets(self) -> list[tuple[str, ...]]:
        """The non-empty subsets this model has a posterior for, smallest first, names in model order.

        Every subset for a fusion of experts or a set function; for subset encoders (JMVAE, tVAE,
        M2VAE) only those with a head.
        """
        heads = getattr(self.fusion, "subsets", None)
        if heads is not None:
            return [tuple(self.names[i] for i in s) for s in heads]
        return named_subsets(self.names)

    # -- generation ----------------------------------------------------------------------
    def decode(self, z: Tensor, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Likelihood parameters for each named modality, keeping z's leading shape."""
        return {n: self.nets[n].decode(z) for n in (names or self.names)}

    def log_likelihoods(self, z: Tensor, batch: Batch, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """log p(x_m | z) for each named modality; z has shape (..., B, D)."""
        names = names or self.names
        return {n: self.nets[n].log_prob(self.nets[n].decode(z), batch.data[n]) for n in names}

    # -- user API ----------------------------------------------------------------------
    def as_batch(self, data: Mapping[str, Tensor] | Batch) -> Batch:
        """A checked Batch on the model's device: shapes, dtypes, values and mask against the config.

        Real-valued inputs take the model's float type (`Batch.to`); integer inputs keep theirs and are checked."""
        if isinstance(data, Batch):
            batch = data
        else:
            if not isinstance(data, Mapping):
                raise BatchError(f"expected a mapping modality name -> tensor or a Batch, got {type(data).__name__}")
            batch = make_batch({k: _tensor(k, v) for k, v in data.items()}, self.names)
        param = next(self.parameters())
        batch = batch.to(param.device, param.dtype)
        check_batch(self.cfg, batch, "input")
        return batch

    def posterior(self, data: Mapping[str, Tensor] | Batch, subset: Sequence[str] | None = None) -> Posterior:
        """q(z | x_S) for the given modalities (all present ones when subset is None)."""
        batch = self.as_batch(data)
        mask = batch.mask
        check_subset(self.names, subset)
        if subset is not None:
            chosen = torch.tensor([n in subset for n in self.names], device=mask.device)
            mask = mask & chosen
        return self.fuse(self.encode(batch), mask)

    @torch.no_grad()
    def reconstruct(self, data: Mapping[str, Tensor] | Batch, subset: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Means of p(x_m | z) at the posterior mean of q(z | x_S), for every modality."""
        q = self.posterior(data, subset)
        return {n: self.nets[n].mean(p) for n, p in self.decode(q.mean).items()}

    @torch.no_grad()
    def generate(self, data: Mapping[str, Tensor] | Batch, n_samples: int = 1) -> dict[str, Tensor]:
        """Cross-generation: z ~ q(z | given modalities), decoded means of all, shape (n_samples, B, ...)."""
        _at_least_one("n_samples", n_samples)
        q = self.posterior(data)
        z = q.rsample(n_samples)
        return {n: self.nets[n].mean(p) for n, p in self.decode(z).items()}

    @torch.no_grad()
    def sample(self, n: int) -> dict[str, Tensor]:
        """Unconditional samples: z ~ N(0, I), decoded means of every modality."""
        _at_least_one("n", n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, device=device)
        return {name: self.nets[name].mean(p) for name, p in self.decode(z).items()}


def _at_least_one(name: str, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {n!r}")


def _tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise BatchError(f"modality {name!r}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def _widen(t: Tensor, s: int) -> Tensor:
    """(B, M, ...) -> (S*B, M, ...) without re-running any encoder."""
    if s == 1:
        return t
    return t.unsqueeze(0).expand(s, *t.shape).reshape(s * t.shape[0], *t.shape[1:])
