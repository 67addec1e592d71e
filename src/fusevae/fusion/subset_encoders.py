"""Subset encoders (JMVAE, M2VAE): a separate encoder network for each subset of modalities a model needs.

The per-modality feature layers are the modality encoders the model already runs once (M2VAE
Table 2: "2x784-2x128-2x64", one stack per modality); each subset S has its own head that reads the
concatenated features of S in a fixed modality order ("concat-64-2") and gives mu and a bounded
log-variance. With `own_features` (MultiVae's JMVAE joint encoder) the heads of subsets of two or
more modalities read features from their own copy of each modality's encoder, so that the
reconstruction through the joint posterior does not train the single-modality encoders' features;
the model then hands over (N, 2M, E), the shared features first. M2VAE needs every non-empty
subset (2^M - 1 heads); JMVAE the full set, the leave-one-out subsets its KL terms tie to it, and
each single modality. Unlike a set function, a subset without a head has no posterior: asking for
one is an error that names it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..distributions import DiagGaussian, bounded_logvar
from .base import Fusion, gaussian_head
from .registry import register_fusion

SUBSET_CHOICES = ("all", "jmvae", "singles")


def needed_subsets(m: int, which: str) -> list[tuple[int, ...]]:
    """Modality index tuples that get an encoder, smallest first.

    "all": every non-empty subset (M2VAE). "jmvae": each single modality, each leave-one-out subset
    (the KL partners of M2VAE appendix 6.1.1) and the full set; for M = 2 that is all three.
    "singles": each single modality and the full set (tVAE).
    """
    if which == "all":
        return [c for r in range(1, m + 1) for c in itertools.combinations(range(m), r)]
    if which == "jmvae":
        loo = [c for c in itertools.combinations(range(m), m - 1) if c]
        return sorted(dict.fromkeys([(i,) for i in range(m)] + loo + [tuple(range(m))]), key=lambda c: (len(c), c))
    if which == "singles":
        return [(i,) for i in range(m)] + ([tuple(range(m))] if m > 1 else [])
    raise ValueError(f"fusion.subsets must be one of {SUBSET_CHOICES}, got {which!r}")


class SubsetEncoders(Fusion):
    """q(z | x_S) = N(mu_S, sigma_S^2) from the head of subset S over concat(e_m, m in S)."""

    consumes = "embeddings"

    def __init__(
        self,
        names: tuple[str, ...],
        embed_dim: int,
        latent_dim: int,
        which: str,
        logvar_min: float,
        logvar_max: float,
        hidden: Sequence[int] = (64,),
        single_hidden: Sequence[int] | None = None,
        own_features: bool = False,
    ) -> None:
        super().__init__()
        self.names = names
        self.own_features = own_features
        self.subsets = needed_subsets(len(names), which)
        self.heads = nn.ModuleDict(
            {
                self._key(s): gaussian_head(
                    len(s) * embed_dim, hidden if len(s) > 1 or single_hidden is None else single_hidden, latent_dim
                )
                for s in self.subsets
            }
        )
        self.register_buffer("_bits", 2 ** torch.arange(len(names)), persistent=False)
        self.latent_dim = latent_dim
        self.logvar_min, self.logvar_max = logvar_min, logvar_max

    def _key(self, subset: tuple[int, ...]) -> str:
        return "+".join(self.names[i] for i in subset)

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        if isinstance(inputs, DiagGaussian):
            raise TypeError("subset encoders read modality embeddings, got Gaussian experts")
        if mask.dim() != 2:
            raise ValueError(f"subset encoders take a modality mask (N, M), got shape {tuple(mask.shape)}")
        m_count = len(self.names)
        rows_expected = (2 if self.own_features else 1) * m_count  # own_features: the shared rows, then the own
        if inputs.shape[1] != rows_expected:
            raise ValueError(f"subset encoders read {rows_expected} feature rows per item, got {inputs.shape[1]}")
        codes = (mask.long() * self._bits).sum(-1)  # (N,): the subset of each row as a bitmask
        mu = inputs.new_zeros(inputs.shape[0], self.latent_dim)
        logvar = torch.zeros_like(mu)  # rows with an empty subset keep the prior N(0, I)
        covered = codes == 0
        for s in self.subsets:
            rows = codes == sum(1 << i for i in s)
            if not bool(rows.any()):
                continue
            covered = covered | rows
            idx = torch.nonzero(rows).flatten()
            offset = m_count if self.own_features and len(s) > 1 else 0  # a joint head's own features
            features = inputs.index_select(0, idx)[:, [offset + i for i in s]].flatten(1)
            m, raw = self.heads[self._key(s)](features).chunk(2, dim=-1)
            mu = mu.index_copy(0, idx, m.to(mu.dtype))
            logvar = logvar.index_copy(0, idx, bounded_logvar(raw, self.logvar_min, self.logvar_max).to(mu.dtype))
        if not bool(covered.all()):
            bad = mask[~covered][0].tolist()
            missing = "+".join(n for n, on in zip(self.names, bad) if on)
            raise ValueError(
                f"no encoder for the subset {missing!r}: this model has encoders for "
                f"{[self._key(s) for s in self.subsets]} (fusion.subsets='all' gives every subset one)"
            )
        return DiagGaussian(mu, logvar)


register_fusion(
    "subset_encoders",
    lambda cfg, e: SubsetEncoders(
        tuple(m.name for m in cfg.modalities),
        e,
        cfg.latent_dim,
        cfg.fusion.subsets,
        cfg.logvar_min,
        cfg.logvar_max,
        cfg.fusion.head_hidden,
        cfg.fusion.single_head_hidden,
        cfg.fusion.own_features,
    ),
    "embeddings",
    description="a separate encoder head for each subset a model needs (JMVAE, tVAE, M2VAE)",
    options=("subsets", "head_hidden", "single_head_hidden", "own_features"),
)
