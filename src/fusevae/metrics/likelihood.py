"""Importance-sampled log-likelihoods (SMVAE Table 1 for any modalities), batched over K in memory-bounded chunks."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.batch import Batch
from ..data.dataset import EvaluationSpec, Subset
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
    width = sum(model.nets[n].decoder_floats for n in names)  # measured on the model's dry run
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
    return mixture_log_likelihoods(model, batch, [proposal], targets, k, memory_budget, precision)


@torch.no_grad()
def mixture_log_likelihoods(
    model: MultimodalVAE,
    batch: Batch,
    proposals: Sequence[Sequence[str]],
    targets: Mapping[str, Sequence[str]],
    k: int = 1000,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    precision: str = "32",
) -> dict[str, Tensor]:
    """Importance sampling from the equal mixture of the proposals q(z | x_P1), ..., q(z | x_PJ).

    K samples are split between the components (n_j of them from q_j) and every one is weighted
    against the whole mixture, sum_j (n_j / K) q_j(z): the "balance heuristic" of multiple importance
    sampling (Veach & Guibas 1995; Owen & Zhou 2000, J. Am. Stat. Assoc. 95:135), an unbiased
    estimate of p(x_T) whose weights are never larger than K / n_j times those of any one component
    alone. So a mixture is about as good as its best component, up to log J nats for J components,
    however poor the others: a defensive proposal for a model whose own q(z | x_B) is off.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not proposals:
        raise ValueError("a mixture needs at least one proposal")
    with network_precision(precision, batch.mask.device):
        return _mixture_log_likelihoods(model, batch, proposals, targets, k, memory_budget)


def _mixture_log_likelihoods(
    model: MultimodalVAE,
    batch: Batch,
    proposals: Sequence[Sequence[str]],
    targets: Mapping[str, Sequence[str]],
    k: int,
    memory_budget: int,
) -> dict[str, Tensor]:
    needed = sorted({n for names in targets.values() for n in names}, key=model.names.index)
    encoded = model.encode(batch)
    # K split as evenly as the components allow; a component given no sample is left out of the mixture
    counts = [k // len(proposals) + (j < k % len(proposals)) for j in range(len(proposals))]
    qs = [(model.fuse(encoded, subset_mask(model, p, batch.mask)), n) for p, n in zip(proposals, counts) if n > 0]
    chunk = _chunk_size(model, needed, len(batch), memory_budget)
    partial: dict[str, list[Tensor]] = {t: [] for t in targets}
    for q, count in qs:
        for start in range(0, count, chunk):
            z = q.rsample(min(chunk, count - start))  # (kc, B, D)
            # the mixture density; with one component logsumexp returns its log q(z) exactly (weight log 1 = 0)
            log_q = torch.logsumexp(torch.stack([math.log(c / k) + p.log_prob(z) for p, c in qs]), 0)
            log_ratio = standard_normal_log_prob(z) - log_q
            lls = model.log_likelihoods(z, batch, needed)
            for t, names in targets.items():
                log_w = log_ratio + sum((lls[n] for n in names), torch.zeros_like(log_ratio))
                partial[t].append(torch.logsumexp(log_w, dim=0))
    return {t: torch.logsumexp(torch.stack(v), 0) - math.log(k) for t, v in partial.items()}


PRIOR = "prior"
CONDITIONING = ("mixture", "own")  # how log p(x_B) of a conditional is estimated: `likelihood_table`


def _names(subset: Sequence[str]) -> str:
    return ",".join(subset)


def proposal_label(subset: Sequence[str]) -> str:
    """The row label of proposal q(z | x_S): "q(z|image,label)"."""
    return f"q(z|{_names(subset)})"


def _se(values: Tensor) -> float:
    return float(values.std() / math.sqrt(len(values))) if len(values) > 1 else float("nan")


@torch.no_grad()
def likelihood_table(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    spec: EvaluationSpec,
    k: int = 1000,
    n: int | None = None,
    batch_size: int = 250,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = True,
    precision: str = "32",
    label_prior: bool = True,
    conditioning: str = "mixture",
) -> dict[str, dict[str, Any]]:
    """Importance-sampled log-likelihoods of every modality set `spec` asks for (SMVAE Table 1, generalised).

    X is every modality of the model. Each row is a proposal q(z | x_S): the full set X first, then
    `spec.proposals` (resolved for the model's modalities); a proposal the model has no posterior
    for (not in `model.encodable_subsets()`) is skipped and listed in setup["skipped proposals"].
    One set of K samples of a row serves all its targets: the joint log p(X), each marginal
    log p(x_A) of `spec.marginals`, and for each conditional (A, B) of `spec.conditionals`
    log p(x_A | x_B) = log p(x_A, x_B) - log p(x_B). log p(x_B) is estimated once per batch, not per
    row. `conditioning` "mixture" (the default) draws its K samples from the equal mixture of B's own
    posterior q(z | x_B) and the full set's q(z | x_X) (`mixture_log_likelihoods`; the prior stands in
    for q(z | x_B) when the model cannot encode B); "own" from q(z | x_B) alone (the prior when not
    encodable), as the tables of earlier versions did. Both are unbiased for p(x_B), but a model
    trained only on complete items can have a q(z | x_B) far from p(z | x_B): its log p(x_B) then
    comes out tens to hundreds of nats low and log p(x_A | x_B) as much too high (above 0 for discrete data),
    while the mixture stays within log 2 of its better component. When B holds only "label"
    modalities and `label_prior`, log p(x_B) is from K prior samples (SMVAE Table 1's log p(y)).
    setup["conditioning proposals"] names the proposal of each log p(x_B).

    Only items with every modality present are evaluated (an absent modality has no data to score):
    the first n of them (all when None). setup["n"] is the number of items used and
    setup["incomplete items"] the number of items of `dataset` left out for lacking a modality.

    Returns {row label: {metric: mean over items, metric + " se": its standard error}} with row labels
    "q(z|a,b)" and metrics "log p(a,b)", "log p(a)", "log p(a|b)"; {"log p(b)": {"mean", "proposal"}}
    for each conditioning set; and "setup": k, n, precision, modalities, skipped proposals,
    conditioning proposals, incomplete items. A non-finite value raises FloatingPointError naming it.
    """
    model.eval()
    names = model.names
    spec = spec.resolve(names)
    if tuple(dataset.modalities) != names:
        dataset = dataset.select(names)  # the model's modalities, in model order (BatchError if one is absent)
    complete = torch.nonzero(dataset.mask.all(1)).flatten()
    incomplete = len(dataset) - len(complete)
    if n is not None:
        complete = complete[:n]
    total = len(complete)
    if total == 0:
        raise ValueError(f"no test item has every modality {list(names)} present ({incomplete} lack some)")
    encodable = set(model.encodable_subsets())
    rows: list[Subset] = []
    skipped: list[str] = []
    for s in (names, *spec.proposals):
        if s in encodable:
            rows.append(s)
        else:
            skipped.append(proposal_label(s))
    if not rows:
        raise ValueError(f"the model encodes none of the proposals {skipped}")

    if conditioning not in CONDITIONING:
        raise ValueError(f"conditioning must be one of {list(CONDITIONING)}, got {conditioning!r}")
    # log p(x_B) of each conditioning set: the components of its proposal (() is the prior), how the table names it
    how_b: dict[Subset, tuple[tuple[Subset, ...], str]] = {}
    for _, b in spec.conditionals:
        if b in how_b:
            continue
        own, label = (b, proposal_label(b)) if b in encodable else ((), f"{PRIOR} ({proposal_label(b)} not encodable)")
        if label_prior and all(model.nets[m].cfg.kind == "label" for m in b):
            how_b[b] = (((),), PRIOR)
        elif conditioning == "own":
            how_b[b] = ((own,), label)
        else:
            full = proposal_label(names)
            if own:
                label = f"mixture of {label} and {full}"
            else:
                label = f"mixture of the {PRIOR} and {full} ({proposal_label(b)} not encodable)"
            how_b[b] = ((own, names), label)

    # each row's targets (modality sets scored with its samples) and its metrics: (key, target, conditioning set)
    targets: dict[str, list[str]] = {_names(names): list(names)}
    metrics: dict[str, tuple[str, Subset | None]] = {f"log p({_names(names)})": (_names(names), None)}
    for a in spec.marginals:
        targets.setdefault(_names(a), list(a))
        metrics.setdefault(f"log p({_names(a)})", (_names(a), None))
    for a, b in spec.conditionals:
        ab = [m for m in names if m in a or m in b]
        targets.setdefault(_names(ab), ab)
        metrics.setdefault(f"log p({_names(a)}|{_names(b)})", (_names(ab), b))

    device = next(model.parameters()).device
    per_item: dict[tuple[str, str], list[Tensor]] = {}
    starts = range(0, total, batch_size)
    bar = tqdm(starts, desc=f"log-likelihoods K={k}", disable=not progress, leave=False)
    for s in bar:
        batch = dataset[complete[s : s + batch_size]].to(device)
        log_pb: dict[Subset, Tensor] = {}
        for b, (components, _) in how_b.items():
            log_pb[b] = mixture_log_likelihoods(
                model, batch, [list(c) for c in components], {"b": list(b)}, k, memory_budget, precision
            )["b"]
            per_item.setdefault(("", f"log p({_names(b)})"), []).append(log_pb[b])
        for row in rows:
            r = importance_log_likelihoods(model, batch, list(row), targets, k, memory_budget, precision)
            for key, (target, b) in metrics.items():
                value = r[target] if b is None else r[target] - log_pb[b]
                per_item.setdefault((proposal_label(row), key), []).append(value)

    table: dict[str, dict[str, Any]] = {proposal_label(row): {} for row in rows}
    for (label, key), parts in per_item.items():
        values = torch.cat(parts)
        if not bool(torch.isfinite(values).all()):
            raise FloatingPointError(f"{label + '/' if label else ''}{key}: non-finite log-likelihood for some items")
        if label:
            table[label][key] = float(values.mean())
            table[label][key + " se"] = _se(values)
    for b, (_, how) in how_b.items():
        table[f"log p({_names(b)})"] = {
            "mean": float(torch.cat(per_item["", f"log p({_names(b)})"]).mean()),
            "proposal": how,
        }
    table["setup"] = {
        "k": k,
        "n": total,
        "precision": precision,
        "modalities": list(names),
        "skipped proposals": skipped,
        "conditioning proposals": {_names(b): how for b, (_, how) in how_b.items()},
        "incomplete items": incomplete,
    }
    return table


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|")


def likelihood_markdown(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table of `likelihood_table` results, one row per (model, proposal), one column per metric.

    Each cell is the mean in nats with its standard error ("-93.10 ± 0.42"); a metric a model lacks is "–".
    '|' in names is escaped. The footer states K, the test items and how each log p(x_B) was estimated.
    """
    rows = [(name, label, cols) for name, t in tables.items() for label, cols in t.items() if label.startswith("q(z|")]
    metrics = list(dict.fromkeys(key for _, _, cols in rows for key in cols if not key.endswith(" se")))
    head = ["model", "proposal", *metrics]
    lines = ["| " + " | ".join(_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    for name, label, cols in rows:
        cells = []
        for key in metrics:
            if key not in cols:
                cells.append("–")
                continue
            se = cols.get(key + " se")
            cells.append(f"{cols[key]:.2f}" + (f" ± {se:.2f}" if se is not None and math.isfinite(se) else ""))
        lines.append("| " + " | ".join(_escape(c) for c in (name, label, *cells)) + " |")
    footers: dict[str, list[str]] = {}
    for name, t in tables.items():
        footers.setdefault(_footer(t.get("setup", {})), []).append(name)
    lines.append("")
    for text, models in footers.items():
        lines.append(text if len(footers) == 1 else f"{', '.join(models)}: {text}")
    return "\n".join(lines) + "\n"


def _article(how: str) -> str:
    """'the ' before a proposal named by a noun ("the prior", "the mixture of ..."), none before q(z|...)."""
    return "the " if how.startswith((PRIOR, "mixture")) else ""


def _footer(setup: Mapping[str, Any]) -> str:
    parts = [f"K = {setup.get('k', '?')} importance samples, {setup.get('n', '?')} test items with every modality"]
    if setup.get("incomplete items"):
        parts[0] += f" ({setup['incomplete items']} items lacking a modality left out)"
    conditioning = setup.get("conditioning proposals") or {}
    if conditioning:
        froms = [f"log p({b}) from {_article(how)}{how}" for b, how in conditioning.items()]
        parts.append("conditionals use " + ", ".join(froms))
    if setup.get("skipped proposals"):
        parts.append(f"skipped (no encoder): {', '.join(setup['skipped proposals'])}")
    return _escape("; ".join(parts) + "; nats, higher is better, ± one standard error.")


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
