"""Coherence as fractional agreement (sensor-fusion paper IV-B; MMVAE's cross and joint coherence).

Cross coherence: for a subset S of inputs and a modality t outside it, z ~ q(z | x_S) is decoded
into t and the generated t is classified; the score is its agreement with the item's true class.
Joint coherence: z ~ p(z) is decoded into every judged modality; the score is the fraction of
samples whose predicted classes all agree. A label modality is judged by its own decoded class;
an image-like one by a classifier the library trained on real data (metrics.classifier).
Both micro accuracy (over items) and macro accuracy (mean over classes) are reported, named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.tensor_dataset import MultimodalTensorDataset
from ..model import MultimodalVAE
from .classifier import Classifier, accuracies
from .factors import Factors, factor_agreement


@dataclass
class CoherenceScore:
    """One cross-coherence cell: inputs -> target, micro and macro accuracy over `n` items."""

    inputs: tuple[str, ...]
    target: str
    micro: float
    macro: float
    n: int
    factors: dict[str, float] = field(default_factory=dict)  # micro agreement on each factor of the class


def judged_names(model: MultimodalVAE, judges: Mapping[str, Classifier]) -> list[str]:
    """Modalities that can be scored: label modalities and those with a judge."""
    unknown = sorted(set(judges) - set(model.names))
    if unknown:
        raise ValueError(f"judges given for unknown modalities {unknown}; the model has {list(model.names)}")
    return [n for n in model.names if n in judges or model.nets[n].cfg.kind == "label"]


def judged_classes(model: MultimodalVAE, judges: Mapping[str, Classifier], name: str, params: Tensor) -> Tensor:
    """Predicted classes of decoded parameters (..., B, *param_shape) of modality `name`, shape (..., B)."""
    net = model.nets[name]
    mean = net.mean(params)
    if net.cfg.kind == "tokens":  # token probabilities (..., T, V) -> the most likely token at each position
        mean = mean.argmax(-1)
    if name in judges:
        lead = mean.shape[: mean.dim() - len(judges[name].shape)]
        return judges[name].predict(mean.reshape(-1, *judges[name].shape)).reshape(lead)
    return mean.argmax(-1)  # a label modality: its decoded class


def _num_classes(model: MultimodalVAE, judges: Mapping[str, Classifier], name: str) -> int:
    return judges[name].num_classes if name in judges else int(model.nets[name].cfg.num_classes)


@torch.no_grad()
def cross_coherence(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    subsets: Sequence[Sequence[str]] | None = None,
    batch_size: int = 512,
    seed: int = 0,
    progress: bool = False,
    factors: Factors = (),
) -> list[CoherenceScore]:
    """Agreement of t generated from z ~ q(z | x_S) with the true class, for each subset S and judged t not in S.

    subsets defaults to every non-empty proper subset of the model's modalities; items count
    when every modality of S is present in them. With `factors` (the data's `class_factors`), each cell also
    holds the agreement on each factor of the class (metrics.factors).
    """
    if dataset.labels is None:
        raise ValueError("coherence needs a data set with class labels")
    judged = judged_names(model, judges)
    names = list(model.names)
    if subsets is None:  # the proper subsets the model can encode
        subsets = [s for s in model.encodable_subsets() if len(s) < len(names)]
    subsets = [tuple(s) for s in subsets]
    for s in subsets:
        if not s or set(s) - set(names):
            raise ValueError(f"subset {list(s)} must name at least one of the model's modalities {names}")
    model.eval()
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _cross(model, dataset, judges, judged, subsets, batch_size, progress, factors)


def _cross(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    judged: list[str],
    subsets: list[tuple[str, ...]],
    batch_size: int,
    progress: bool,
    factors: Factors = (),
) -> list[CoherenceScore]:
    names, device, out = list(model.names), next(model.parameters()).device, []
    for s in tqdm(subsets, desc="cross coherence", disable=not progress, leave=False):
        targets = [t for t in judged if t not in s]
        if not targets:
            continue
        cols = torch.tensor([names.index(m) for m in s])
        items = torch.nonzero(dataset.mask[:, cols].all(1)).flatten()
        preds: dict[str, list[Tensor]] = {t: [] for t in targets}
        for block in items.split(batch_size):
            z = model.posterior(dataset[block].to(device), list(s)).rsample()  # one z ~ q(z | x_S) per item
            params = model.decode(z, targets)
            for t in targets:
                preds[t].append(judged_classes(model, judges, t, params[t]).cpu())
        truth = dataset.labels[items]  # type: ignore[index]
        for t in targets:
            if len(items):
                pred = torch.cat(preds[t])
                micro, macro = accuracies(pred, truth, _num_classes(model, judges, t))
                by_factor = factor_agreement(pred, truth, factors) if factors else {}
                out.append(CoherenceScore(tuple(s), t, micro, macro, len(items), by_factor))
    return out


@dataclass
class PriorPredictions:
    """The judged classes of every judged modality decoded from the same n prior samples z ~ p(z)."""

    modalities: list[str]
    classes: Tensor  # (J, n)

    def all_agree(self) -> float:
        """Joint coherence: the fraction of samples whose judged modalities all get the same class."""
        return int((self.classes == self.classes[:1]).all(0).sum()) / self.classes.shape[1]

    def pairs(self) -> dict[tuple[str, str], float]:
        """Joint coherence of each pair of judged modalities: with three or more the all-agree score falls with
        their number (chance 1/C^(M-1)); a pair's is comparable with a two-modality paper's (MMVAE's, the
        sensor-fusion paper's Table I)."""
        c, names = self.classes, self.modalities
        return {
            (a, b): int((c[i] == c[j]).sum()) / c.shape[1]
            for i, a in enumerate(names)
            for j, b in enumerate(names)
            if i < j
        }


@torch.no_grad()
def prior_predictions(
    model: MultimodalVAE, judges: Mapping[str, Classifier], n: int = 10_000, batch_size: int = 1024, seed: int = 0
) -> PriorPredictions:
    """Decode n prior samples (the same z for every model: seeded) into every judged modality and judge them."""
    judged = judged_names(model, judges)
    if len(judged) < 2:
        raise ValueError(f"joint coherence needs at least two judged modalities, got {judged}")
    model.eval()
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    preds = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), model.latent_dim, generator=g, device=device)
        params = model.decode(z, judged)
        preds.append(torch.stack([judged_classes(model, judges, t, params[t]) for t in judged]))
    return PriorPredictions(judged, torch.cat(preds, 1))


def joint_coherence(
    model: MultimodalVAE, judges: Mapping[str, Classifier], n: int = 10_000, batch_size: int = 1024, seed: int = 0
) -> float:
    """Fraction of prior samples z ~ p(z) whose decoded judged modalities are all given the same class."""
    return prior_predictions(model, judges, n, batch_size, seed).all_agree()


def pairwise_joint_coherence(
    model: MultimodalVAE, judges: Mapping[str, Classifier], n: int = 10_000, batch_size: int = 1024, seed: int = 0
) -> dict[tuple[str, str], float]:
    """Joint coherence of each pair of judged modalities, from the same prior samples (PriorPredictions.pairs)."""
    return prior_predictions(model, judges, n, batch_size, seed).pairs()
