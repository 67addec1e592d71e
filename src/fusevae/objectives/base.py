"""The objective interface and the shared subset bound every objective is built from."""

from __future__ import annotations

import dataclasses
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..config import ObjectiveConfig, warmup_length
from ..data.batch import Batch
from ..distributions import Posterior
from ..fusion import mixture_components
from ..model import Encoded, MultimodalVAE
from .estimators import Estimator, make_estimator


@dataclass
class ObjectiveOutput:
    loss: Tensor
    logs: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class SubsetBound:
    bound: Tensor  # (S, B) bound per subset row (weighted by lambda and beta)
    q: Posterior  # q(z | x_S), batch shape (S, B)


class Objective(ABC):
    """Decides which subsets a step evaluates and what each reconstructs; returns a loss to minimise.

    `options` names the ObjectiveConfig fields only this scheme reads: setting any other
    scheme's option to a non-default value is an error, not a silent no-op.
    """

    options: frozenset[str] = frozenset()
    # fields every scheme reads
    common = frozenset(
        {
            "kind",
            "estimator",
            "k",
            "variant",
            "mixture_kl",
            "beta",
            "warmup_epochs",
            "warmup_fraction",
            "warmup_hold",
            "weights",
        }
    )

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        defaults = ObjectiveConfig()
        for f in dataclasses.fields(cfg):
            if f.name in self.common or f.name in self.options:
                continue
            if getattr(cfg, f.name) != getattr(defaults, f.name):
                from . import OBJECTIVES  # the registry, complete once the package is imported

                owners = sorted(k for k, c in OBJECTIVES.items() if f.name in c.options)
                raise ValueError(
                    f"objective.{f.name} is an option of the {' / '.join(owners)} scheme, not of {cfg.kind!r}; "
                    f"leave it at {getattr(defaults, f.name)!r}"
                )
        self.check_estimator(cfg, model)
        unknown = sorted(set(cfg.weights) - set(model.names))
        if unknown:
            raise ValueError(f"objective.weights names unknown modality {unknown}; model has {list(model.names)}")
        if cfg.beta < 0 or cfg.warmup_epochs < 0 or cfg.warmup_fraction < 0:
            raise ValueError("objective.beta, objective.warmup_epochs and objective.warmup_fraction must be >= 0")
        if cfg.warmup_epochs > 0 and cfg.warmup_fraction > 0:
            raise ValueError(
                f"objective.warmup_epochs = {cfg.warmup_epochs:g} (a fixed length) and objective.warmup_fraction = "
                f"{cfg.warmup_fraction:g} (a share of train.epochs, often the preset's) are both set: set the other "
                "one to 0"
            )
        if not 0.0 <= cfg.warmup_hold < 1.0:
            raise ValueError(f"objective.warmup_hold is a share of the warm-up in [0, 1), got {cfg.warmup_hold:g}")
        if cfg.warmup_hold > 0 and cfg.warmup_epochs == 0 and cfg.warmup_fraction == 0:
            raise ValueError(
                f"objective.warmup_hold = {cfg.warmup_hold:g} holds the KL weight at 0 for a share of the warm-up, "
                "but there is none: set objective.warmup_fraction or objective.warmup_epochs"
            )
        self.cfg = cfg
        self.names = model.names
        self.epochs: float | None = None
        self._beta_by_code = self._subset_betas(cfg, model)
        self.estimator: Estimator = make_estimator(cfg.estimator, cfg.k, cfg.variant, cfg.mixture_kl)
        self.weights = torch.tensor([cfg.weights.get(n, 1.0) for n in model.names])

    def set_epochs(self, epochs: float | None) -> None:
        """The training length in epochs, for schemes that schedule by it (tvae) and for a warm-up share.

        A fixed warm-up longer than the budget (a preset's 10 epochs in a 3-epoch run) never reaches beta:
        that is said, once, rather than left to be found in the results.
        """
        self.epochs = epochs
        if epochs is not None and 0 < epochs < self.cfg.warmup_epochs:
            warnings.warn(
                f"objective.warmup_epochs = {self.cfg.warmup_epochs:g} is longer than the {epochs:g}-epoch budget: "
                f"the KL weight ends at {epochs / self.cfg.warmup_epochs:.2g} of beta. Set objective.warmup_epochs "
                "(or objective.warmup_epochs=0 and objective.warmup_fraction, a share of the budget) to change it",
                stacklevel=2,
            )

    @staticmethod
    def _subset_betas(cfg: ObjectiveConfig, model: MultimodalVAE) -> Tensor | None:
        """beta of every reconstructed set, indexed by its bitmask (2^M,), or None when beta is one number.

        beta_S = beta_norm * D_S / D_z (M2VAE section 3): the paper writes beta_norm = beta * D_x / D_z, but its
        own numbers (beta_norm = 0.01 gives beta ~ 4 for 784 pixels and D_z = 2) and Higgins et al.'s
        definition both give beta = beta_norm * D_x / D_z, which is what this computes.
        """
        if cfg.beta_norm is None and not cfg.subset_beta:
            return None
        if cfg.beta_norm is not None:
            if cfg.beta_norm <= 0:
                raise ValueError(f"objective.beta_norm must be > 0, got {cfg.beta_norm}")
            if cfg.beta != 1.0:
                raise ValueError("set objective.beta or objective.beta_norm, not both: beta_norm sets each set's beta")
        names = model.names
        sizes = [
            float(math.prod(n.cfg.shape)) if n.cfg.kind != "label" else float(n.cfg.num_classes)
            for n in (model.nets[k] for k in names)
        ]
        table = torch.empty(2 ** len(names))
        for code in range(len(table)):
            members = [i for i in range(len(names)) if code >> i & 1]
            d = sum(sizes[i] for i in members)
            table[code] = cfg.beta if cfg.beta_norm is None else cfg.beta_norm * d / model.latent_dim
        for key, value in cfg.subset_beta.items():
            parts = key.split("+")
            unknown = sorted(set(parts) - set(names))
            if unknown or len(set(parts)) != len(parts):
                raise ValueError(
                    f"objective.subset_beta: {key!r} is not a subset of the modalities {list(names)} "
                    "(name a subset as its modalities joined by '+', e.g. 'image+label')"
                )
            if value < 0:
                raise ValueError(f"objective.subset_beta[{key!r}] must be >= 0, got {value}")
            table[sum(1 << names.index(p) for p in parts)] = value
        return table

    @property
    def warmup_epochs(self) -> float:
        """The warm-up's length in epochs: warmup_epochs, or warmup_fraction of the training budget."""
        if self.cfg.warmup_fraction > 0 and self.epochs is None:
            raise ValueError("objective.warmup_fraction needs the training length: make_objective(..., epochs=)")
        return warmup_length(self.cfg.warmup_fraction, self.cfg.warmup_epochs, self.epochs or 0.0)

    def warmup(self, epoch: float | Tensor) -> float | Tensor:
        """The KL weight's warm-up factor: 0 for the first `warmup_hold` of the warm-up, then linear to 1 at its end."""
        length = self.warmup_epochs
        if length <= 0:
            return 1.0
        hold = self.cfg.warmup_hold * length
        if isinstance(epoch, Tensor):
            return ((epoch - hold) / (length - hold)).clamp(0.0, 1.0)
        return min(1.0, max(0.0, (epoch - hold) / (length - hold)))

    def set_betas(self, targets: Tensor, epoch: float | Tensor) -> float | Tensor:
        """The KL weight of each row (S, B) whose reconstructed set is `targets` (S, B, M), warm-up included.

        One number (beta times the warm-up) unless beta_norm or subset_beta give each set its own.
        """
        if self._beta_by_code is None:
            return self.beta(epoch)
        bits = 2 ** torch.arange(targets.shape[-1], device=targets.device)
        codes = (targets.long() * bits).sum(-1)
        return self._beta_by_code.to(targets.device)[codes] * self.warmup(epoch)

    def _rows_index(self, rows: list[int], device: torch.device) -> Tensor:
        """The row indices as a tensor on `device`, built once: no host-to-device copy per step."""
        cache: dict[tuple, Tensor] = self.__dict__.setdefault("_index_cache", {})
        key = (tuple(rows), device)
        if key not in cache:
            cache[key] = torch.tensor(rows, device=device)
        return cache[key]

    def posterior_is_mixture(self, model: MultimodalVAE) -> bool:
        """Whether this scheme's posteriors are mixtures (MoE, MoPoE, or the stratified scheme)."""
        return model.fusion.mixture

    def mixture_components(self, model: MultimodalVAE) -> int:
        """The most components a posterior of this scheme can have."""
        return mixture_components(model.cfg.fusion.kind, len(model.names))

    def check_estimator(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        if cfg.mixture_kl != "sampled" and not (cfg.estimator == "elbo" and cfg.variant == "looser"):
            raise ValueError(
                "objective.mixture_kl chooses the KL term of the 'looser' ELBO of a mixture posterior; "
                f"estimator {cfg.estimator!r} with variant {cfg.variant!r} has none: leave it at 'sampled'"
            )
        if cfg.variant == "looser":
            if not self.posterior_is_mixture(model):
                raise ValueError(
                    f"objective.variant='looser' averages per-component bounds of a mixture posterior; "
                    f"fusion {model.cfg.fusion.kind!r} with scheme {cfg.kind!r} gives a single Gaussian"
                )
            if cfg.estimator != "elbo" and cfg.k < self.mixture_components(model):
                raise ValueError(
                    f"objective.variant='looser' needs a sample in every mixture component: "
                    f"k={cfg.k} < {self.mixture_components(model)} components"
                )

    def beta(self, epoch: float | Tensor) -> float | Tensor:
        """KL weight, annealed linearly from 0 to beta over warmup_epochs (MVAE, SMVAE eq. 2).

        `epoch` may be a 0-d tensor, as a compiled step passes it, so that a changing value
        does not recompile the step.
        """
        return self.cfg.beta * self.warmup(epoch)

    @abstractmethod
    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        """The loss of one batch at training progress `epoch` (fractional, for warm-up)."""

    def subset_bound(
        self,
        model: MultimodalVAE,
        encoded: Encoded,
        batch: Batch,
        inputs: Tensor,
        targets: Tensor,
        beta: float | Tensor,
        decode_sets: Sequence[frozenset[str]] | None = None,
    ) -> SubsetBound:
        """Bound of log p(x_T | ...) for each row's input subset S and target set T, masks (S, B, M).

        Fusion and decoding run on the widened batch S*B; the encoders are not re-run.
        `decode_sets[s]`, when the objective knows it, names the only modalities subset row s
        can target, so decoders skip the rows where they cannot matter.
        """
        return self.bound_given_posterior(model, model.fuse(encoded, inputs), batch, targets, beta, decode_sets)

    def bound_given_posterior(
        self,
        model: MultimodalVAE,
        q: Posterior,
        batch: Batch,
        targets: Tensor,
        beta: float | Tensor,
        decode_sets: Sequence[frozenset[str]] | None = None,
    ) -> SubsetBound:
        """The estimator's bound for posteriors q (batch shape (S, B)) reconstructing `targets`."""
        z, comp = self.estimator.sample(q)  # (K, S, B, D), component per sample for a mixture
        w = self.weights.to(z.device)
        rec = z.new_zeros(z.shape[:-1])
        n_rows = z.shape[1]
        for m, name in enumerate(model.names):
            if name not in batch.data:  # absent for the whole batch: never a target
                continue
            rows = [s for s in range(n_rows) if decode_sets is None or name in decode_sets[s]]
            if not rows:
                continue
            net = model.nets[name]
            if len(rows) == n_rows:
                lp = net.log_prob(net.decode(z), batch.data[name])  # (K, S, B)
                rec = rec + lp * (w[m] * targets[..., m])
            else:
                idx = self._rows_index(rows, z.device)
                lp = net.log_prob(net.decode(z.index_select(1, idx)), batch.data[name])
                rec = rec.index_add(1, idx, lp * (w[m] * targets.index_select(0, idx)[..., m]))
        return SubsetBound(self.estimator(rec, z, comp, q, beta), q)


def masked_loss(bound: Tensor, valid: Tensor, beta: float | Tensor) -> ObjectiveOutput:
    """Loss = - mean over the batch of the summed bounds of the valid subset rows (S, B)."""
    total = (bound * valid).sum(0)
    return ObjectiveOutput(-total.mean(), {"bound": total.mean().detach(), "beta": torch.as_tensor(beta)})
