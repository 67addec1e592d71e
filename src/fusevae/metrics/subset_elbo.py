"""The per-subset ELBO test of M2VAE (eq. 12, Table 1): every modality decoded, one encoder per subset.

For a non-empty subset S of the modalities M,

    L_S = E_{q(z | x_S)} [ log p(x_M | z) + log p(z) - log q(z | x_S) ],   p(z) = N(0, I),

the ELBO of *all* modalities (every decoder) under the encoder of S alone. It is a lower bound on
log p(x_M) for every S, so the L_S of one model can be compared across its encoders: a subset whose
encoder loses information about the modalities it does not see scores lower (M2VAE section 5.1.2,
Figs. 4-5). It is estimated by the plain Monte Carlo average over K samples z_k ~ q(z | x_S)
(an average of the bound, not a log-mean-exp: that would be the importance-sampled likelihood of
metrics/likelihood.py). All subsets are evaluated at once, stacked as a leading dimension on top of
a single encoding of the batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..data.batch import Batch
from ..data.tensor_dataset import MultimodalTensorDataset
from ..distributions import DiagGaussian, Posterior, UniformMixture, standard_normal_log_prob
from ..model import MultimodalVAE
from .likelihood import DEFAULT_MEMORY_BUDGET, _chunk_size

DEFAULT_K = 10  # Monte Carlo samples of z per item and subset

SubsetSpec = str | Sequence[str]


def subset_name(subset: Sequence[str]) -> str:
    """'x+w': the names of a subset joined with '+' (in the order given; normalise with `normalize_subsets`)."""
    return "+".join(subset)


def normalize_subsets(model: MultimodalVAE, subsets: Sequence[SubsetSpec] | None) -> list[tuple[str, ...]]:
    """Subsets as tuples of names in model order; None gives `model.encodable_subsets()`.

    Each entry is a sequence of modality names or a string: one modality's name, or names joined
    with '+' ("x+w"). Empty, unknown, repeated-name and duplicate subsets are ValueErrors naming them.
    """
    if subsets is None:
        return model.encodable_subsets()
    if isinstance(subsets, str):
        raise ValueError(
            f"subsets must be a list of subsets, got the string {subsets!r}; write [{subsets!r}] for one subset"
        )
    out: list[tuple[str, ...]] = []
    for s in subsets:
        if isinstance(s, str):
            names = [s] if s in model.names else s.split("+")
        else:
            names = list(s)
        if not names:
            raise ValueError("a subset must name at least one modality, got an empty one")
        unknown = sorted({n for n in names if n not in model.names}, key=str)
        if unknown:
            raise ValueError(f"subset {names}: unknown modality {unknown}; this model has {list(model.names)}")
        if len(set(names)) != len(names):
            raise ValueError(f"subset {names} names a modality twice")
        ordered = tuple(n for n in model.names if n in names)
        if ordered in out:
            raise ValueError(f"subset {subset_name(ordered)!r} is given twice")
        out.append(ordered)
    if not out:
        raise ValueError("subsets is empty: give at least one subset, or None for all of them")
    return out


def sample(q: Posterior, k: int, generator: torch.Generator | None = None) -> Tensor:
    """k samples z ~ q, shape (k, *batch, D), drawn from `generator` when given.

    For a Gaussian q: z = mu + sigma * eps with eps = torch.randn((k, *batch, D), generator=generator)
    (drawn on the generator's device, then moved to q's), so a caller can reproduce z exactly. A
    mixture is sampled by its own stratified sampler under a global seed drawn from `generator`,
    the global random state restored afterwards.
    """
    if isinstance(q, DiagGaussian):
        if generator is None:
            return q.rsample(k)
        shape = (k, *q.mu.shape)
        eps = torch.randn(shape, generator=generator, dtype=q.mu.dtype, device=generator.device)
        return q.mu + q.std * eps.to(q.mu.device)
    if isinstance(q, UniformMixture):
        if generator is None:
            return q.rsample(k)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        device = q.components.mu.device
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return q.rsample(k)
    raise TypeError(f"the per-subset ELBO needs a DiagGaussian or UniformMixture posterior, got {type(q).__name__}")


@torch.no_grad()
def subset_elbos(
    model: MultimodalVAE,
    batch_or_data: Batch | Mapping[str, Tensor],
    subsets: Sequence[SubsetSpec] | None = None,
    k: int = DEFAULT_K,
    generator: torch.Generator | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> dict[str, Tensor]:
    """M2VAE eq. 12 per item: L_S = (1/K) sum_k [log p(x_M | z_k) + log p(z_k) - log q(z_k | x_S)], z_k ~ q(z | x_S).

    Returns one tensor (B,) per subset, keyed 'x+w' (names in model order), in the order of
    `subsets` (default: every subset the model can encode, smallest first). Every modality is
    decoded, so an item that lacks any modality gets NaN. The subsets share one encoding of the
    batch and are fused as a leading dimension (S, B); the K samples are drawn in chunks sized to
    `memory_budget` (the sampling is described in `sample`: eps of shape (K, S, B, D) for a
    Gaussian posterior when K fits one chunk). A mixture posterior (MoE, MoPoE) is sampled and
    scored with its own sampler and log-density. The model's train/eval mode is left as it is.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    batch = model.as_batch(batch_or_data)
    chosen = normalize_subsets(model, subsets)
    mask = batch.mask
    table = torch.tensor([[n in s for n in model.names] for s in chosen], dtype=torch.bool, device=mask.device)
    n_sub, b, m = len(chosen), mask.shape[0], mask.shape[1]
    # every row uses the subset's full mask: absent entries are zeros, finite, and their items are dropped below
    q = model.fuse(model.encode(batch), table.unsqueeze(1).expand(n_sub, b, m))
    if not isinstance(q, DiagGaussian | UniformMixture):
        raise TypeError(f"the per-subset ELBO needs a DiagGaussian or UniformMixture posterior, got {type(q).__name__}")
    chunk = _chunk_size(model, model.names, n_sub * b, memory_budget)
    total = torch.zeros(n_sub, b, dtype=torch.float32, device=mask.device)
    for start in range(0, k, chunk):
        z = sample(q, min(chunk, k - start), generator)  # (kc, S, B, D)
        lls = model.log_likelihoods(z, batch)  # every decoder: log p(x_m | z), (kc, S, B)
        log_w = sum(lls.values(), standard_normal_log_prob(z) - q.log_prob(z))
        total = total + log_w.sum(0).to(total.dtype)
    elbo = torch.where(mask.all(-1), total / k, torch.full_like(total, math.nan))
    return {subset_name(s): elbo[i] for i, s in enumerate(chosen)}


def complete_items(dataset: MultimodalTensorDataset, n_items: int | None = None) -> Tensor:
    """Indices of the first n_items items that have every modality (all of them when None)."""
    if n_items is not None and n_items < 1:
        raise ValueError(f"n_items must be >= 1 or None, got {n_items}")
    idx = torch.nonzero(dataset.mask.all(1)).flatten()
    if not len(idx):
        raise ValueError(
            f"no item has all of the modalities {list(dataset.modalities)}: the eq.-12 ELBO decodes every "
            "modality, so it needs items where all are present"
        )
    return idx[:n_items]


@torch.no_grad()
def subset_elbo_table(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    k: int = DEFAULT_K,
    batch_size: int = 250,
    n_items: int | None = None,
    seed: int = 0,
    subsets: Sequence[SubsetSpec] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> dict[str, float]:
    """M2VAE Table 1: the mean eq.-12 ELBO over test items, one entry per subset encoder ('x', 'w', 'x+w').

    Only items with every modality present count (eq. 12 decodes all of them); the first n_items
    of those are used (all when None), and a data set with none is a ValueError. The samples come
    from a generator seeded with `seed`, so a call is reproducible. Puts the model in eval mode.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model.eval()
    idx = complete_items(dataset, n_items)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {}
    for rows in idx.split(batch_size):
        out = subset_elbos(model, dataset[rows].to(device), subsets, k, generator, memory_budget)
        for name, v in out.items():
            parts.setdefault(name, []).append(v.cpu())
    table = {}
    for name, chunks in parts.items():
        values = torch.cat(chunks)
        if not bool(torch.isfinite(values).all()):
            raise FloatingPointError(f"subset {name!r}: non-finite ELBO for some test items")
        table[name] = float(values.double().mean())
    return table


__all__ = [
    "DEFAULT_K",
    "complete_items",
    "normalize_subsets",
    "sample",
    "subset_elbo_table",
    "subset_elbos",
    "subset_name",
]
