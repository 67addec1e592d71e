"""Importance-sampled log-likelihoods (SMVAE Table 1), batched over K in memory-bounded chunks."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.batch import Batch
from ..data.tensor_dataset import MultimodalTensorDataset
from ..distributions import DiagGaussian, standard_normal_log_prob
from ..model import MultimodalVAE

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes of decoder activations per chunk
PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def network_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast for the networks at `precision` ("32", "bf16", "16"); densities stay in float32.

    Low precision runs the encoders and decoders' matrix multiplies in bf16/fp16, about twice
    as fast on CPUs with native bf16; the log-weights and their log-sum-exp stay in float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def subset_mask(model: MultimodalVAE, names: Sequence[str], like: Tensor) -> Tensor:
    """Row mask (B, M) selecting `names` among the present modalities of each sample."""
    unknown = sorted(set(names) - set(model.names))
    if unknown:
        raise ValueError(f"unknown modality {unknown}; this model has {list(model.names)}")
    chosen = torch.tensor([n in names for n in model.names], device=like.device)
    return like & chosen


def _chunk_size(model: MultimodalVAE, names: Sequence[str], batch_size: int, budget: int) -> int:
    # floats held per (sample, data point): the widest activations of each decoder run
    width = sum(sum(model.nets[n].cfg.decoder_hidden) + math.prod(model.nets[n].param_shape) for n in names)
    return max(1, budget // (4 * 3 * width * max(1, batch_size)))


@torch.no_grad()
def importance_log_likelihoods(
    model: MultimodalVAE,
    batch: Batch,
    proposal: Sequence[str],
    targets: Mapping[str, Sequence[str]],
    k: int = 1000,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    precision: str = "32",
) -> dict[str, Tensor]:
    """log (1/K) sum_k p(z_k) prod_{m in T} p(x_m | z_k) / q(z_k | x_P), z_k ~ q(z | x_P).

    One set of K samples from the proposal q(z | x_P) serves every target set T; an empty
    proposal means the prior. Samples are drawn in chunks sized to `memory_budget` and
    combined with a running log-sum-exp, so memory does not grow with K. `precision`
    "bf16" / "16" runs the networks under autocast (see `network_precision`).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    with network_precision(precision, batch.mask.device):
        return _importance_log_likelihoods(model, batch, proposal, targets, k, memory_budget)


def _importance_log_likelihoods(
    model: MultimodalVAE,
    batch: Batch,
    proposal: Sequence[str],
    targets: Mapping[str, Sequence[str]],
    k: int,
    memory_budget: int,
) -> dict[str, Tensor]:
    needed = sorted({n for names in targets.values() for n in names}, key=model.names.index)
    q = model.fuse(model.encode(batch), subset_mask(model, proposal, batch.mask))
    chunk = _chunk_size(model, needed, len(batch), memory_budget)
    partial: dict[str, list[Tensor]] = {t: [] for t in targets}
    for start in range(0, k, chunk):
        kc = min(chunk, k - start)
        z = q.rsample(kc)  # (kc, B, D)
        log_ratio = standard_normal_log_prob(z) - q.log_prob(z)
        lls = model.log_likelihoods(z, batch, needed)
        for t, names in targets.items():
            log_w = log_ratio + sum((lls[n] for n in names), torch.zeros_like(log_ratio))
            partial[t].append(torch.logsumexp(log_w, dim=0))
    return {t: torch.logsumexp(torch.stack(v), 0) - math.log(k) for t, v in partial.items()}


@torch.no_grad()
def likelihood_table(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    primary: str,
    condition: str,
    k: int = 1000,
    n: int | None = None,
    batch_size: int = 250,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = True,
    precision: str = "32",
) -> dict[str, dict[str, float]]:
    """SMVAE Table 1 for one model: log p(x,y), log p(x), log p(x|y) under q(z|x,y) and q(z|x).

    log p(x|y) = log p(x,y) - log p(y), with log p(y) = log E_{p(z)}[p(y|z)] from K prior
    samples, as the paper defines it. Means over the first n test items (all when None).
    """
    model.eval()
    total = len(dataset) if n is None else min(n, len(dataset))
    device = next(model.parameters()).device
    x, y = primary, condition
    sums: dict[str, dict[str, float]] = {"q(z|x,y)": {}, "q(z|x)": {}}
    per_item: dict[str, list[Tensor]] = {}
    starts = range(0, total, batch_size)
    bar = tqdm(starts, desc=f"log-likelihoods K={k}", disable=not progress, leave=False)
    for s in bar:
        batch = dataset[torch.arange(s, min(s + batch_size, total))].to(device)
        log_py = importance_log_likelihoods(model, batch, [], {"y": [y]}, k, memory_budget, precision)["y"]
        per_item.setdefault("log p(y)", []).append(log_py)
        for label, proposal in (("q(z|x,y)", [x, y]), ("q(z|x)", [x])):
            r = importance_log_likelihoods(
                model, batch, proposal, {"xy": [x, y], "x": [x]}, k, memory_budget, precision
            )
            per_item.setdefault(f"{label}/log p(x,y)", []).append(r["xy"])
            per_item.setdefault(f"{label}/log p(x)", []).append(r["x"])
            per_item.setdefault(f"{label}/log p(x|y)", []).append(r["xy"] - log_py)
    for key, parts in per_item.items():
        values = torch.cat(parts)
        if not bool(torch.isfinite(values).all()):
            raise FloatingPointError(f"{key}: non-finite log-likelihood for some test items")
        if "/" in key:
            label, metric = key.split("/")
            sums[label][metric] = float(values.mean())
            sums[label][metric + " se"] = float(values.std() / math.sqrt(len(values)))
    sums["log p(y)"] = {"mean": float(torch.cat(per_item["log p(y)"]).mean())}
    sums["setup"] = {"k": k, "n": total, "precision": precision}
    return sums


@torch.no_grad()
def joint_elbo(model: MultimodalVAE, batch: Batch) -> Tensor:
    """The plain joint ELBO (beta = 1, unit weights, one sample) of every present modality: (B,).

    Closed-form KL for a Gaussian posterior, one-sample Monte Carlo KL for a mixture.
    """
    q = model.fuse(model.encode(batch), batch.mask)
    z = q.rsample()
    lls = model.log_likelihoods(z, batch)
    rec = sum(ll * batch.mask[:, i] for i, ll in enumerate(lls.values()))
    if isinstance(q, DiagGaussian):
        return rec - q.kl_standard_normal()
    return rec + standard_normal_log_prob(z) - q.log_prob(z)
