"""The objective interface and the shared subset bound every objective is built from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..distributions import DiagGaussian
from ..model import Encoded, MultimodalVAE
from .estimators import Estimator, make_estimator


@dataclass
class ObjectiveOutput:
    loss: Tensor
    logs: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class SubsetBound:
    bound: Tensor  # (S, B) bound per subset row (weighted by lambda and beta)
    q: DiagGaussian  # q(z | x_S), batch shape (S, B)


class Objective(ABC):
    """Decides which subsets a step evaluates and what each reconstructs; returns a loss to minimise."""

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        unknown = sorted(set(cfg.weights) - set(model.names))
        if unknown:
            raise ValueError(f"objective.weights names unknown modality {unknown}; model has {list(model.names)}")
        if cfg.beta < 0 or cfg.warmup_epochs < 0:
            raise ValueError("objective.beta and objective.warmup_epochs must be >= 0")
        self.cfg = cfg
        self.names = model.names
        self.estimator: Estimator = make_estimator(cfg.estimator, cfg.k)
        self.weights = torch.tensor([cfg.weights.get(n, 1.0) for n in model.names])

    def beta(self, epoch: float) -> float:
        """KL weight, annealed linearly from 0 to beta over warmup_epochs (MVAE, SMVAE eq. 2)."""
        if self.cfg.warmup_epochs <= 0:
            return self.cfg.beta
        return self.cfg.beta * min(1.0, epoch / self.cfg.warmup_epochs)

    @abstractmethod
    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float) -> ObjectiveOutput:
        """The loss of one batch at training progress `epoch` (fractional, for warm-up)."""

    def subset_bound(
        self,
        model: MultimodalVAE,
        encoded: Encoded,
        batch: Batch,
        inputs: Tensor,
        targets: Tensor,
        beta: float,
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
        q: DiagGaussian,
        batch: Batch,
        targets: Tensor,
        beta: float,
        decode_sets: Sequence[frozenset[str]] | None = None,
    ) -> SubsetBound:
        """The estimator's bound for posteriors q (batch shape (S, B)) reconstructing `targets`."""
        z = q.rsample(self.estimator.k)  # (K, S, B, D)
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
                idx = torch.tensor(rows, device=z.device)
                lp = net.log_prob(net.decode(z.index_select(1, idx)), batch.data[name])
                rec = rec.index_add(1, idx, lp * (w[m] * targets.index_select(0, idx)[..., m]))
        return SubsetBound(self.estimator(rec, z, q, beta), q)
