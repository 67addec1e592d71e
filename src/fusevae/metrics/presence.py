"""A detection-style score of generated data: average precision of each object-presence bit (sensor-fusion Table III).

The sensor-fusion paper scores a generated depth or image by an object detector's mAP. Where a data set's class
is a bitmask of presence attributes (the scenes' layout label: which ground quadrants hold an object,
`MultimodalData.class_bits`), the same kind of score follows from the judge: for inputs S and a target t, one
z ~ q(z | x_S) per item is decoded into t, the judge's class probabilities give the probability that each
attribute is present (the sum over the classes with its bit set), and each attribute's average precision over
the items is taken against the truth; mAP is their mean. Unlike exact-match coherence it gives credit for every
object placed right and ranks by confidence, as a detector's AP does; a generator that ignores its inputs
scores each attribute's prevalence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from torch import Tensor

from ..data.tensor_dataset import MultimodalTensorDataset
from ..model import MultimodalVAE
from .classifier import Classifier


@dataclass
class PresenceScore:
    """One cell: inputs -> target, average precision per attribute and their mean over `n` items."""

    inputs: tuple[str, ...]
    target: str
    ap: dict[str, float]
    mean_ap: float
    n: int


def bit_matrix(num_classes: int, bits: int) -> Tensor:
    """(num_classes, bits) 0/1: whether class c has attribute q, c = sum_q present_q * 2^q."""
    c = torch.arange(num_classes).unsqueeze(1)
    return ((c >> torch.arange(bits)) & 1).float()


def presence_probabilities(class_probs: Tensor, bits: int) -> Tensor:
    """P(attribute q present) = sum of the probabilities of the classes with bit q set; (N, C) -> (N, bits)."""
    return class_probs @ bit_matrix(class_probs.shape[-1], bits).to(class_probs)


def average_precisions(scores: Tensor, truth: Tensor, names: Sequence[str]) -> dict[str, float]:
    """AP of each column of `scores` (N, bits) against 0/1 `truth` (N, bits); NaN where an attribute never occurs."""
    out = {}
    for q, name in enumerate(names):
        y = truth[:, q].cpu().numpy().astype(np.int64)
        out[name] = float(average_precision_score(y, scores[:, q].cpu().numpy())) if y.any() else float("nan")
    return out


@torch.no_grad()
def presence_ap(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    bits: Sequence[str],
    subsets: Sequence[Sequence[str]] | None = None,
    batch_size: int = 512,
    seed: int = 0,
) -> list[PresenceScore]:
    """AP of each presence attribute in t generated from q(z | x_S), for each subset S and judged t outside it."""
    if dataset.labels is None or not bits:
        raise ValueError("presence AP needs class labels that are bitmasks of named attributes (class_bits)")
    names = list(model.names)
    if subsets is None:
        subsets = [s for s in model.encodable_subsets() if len(s) < len(names)]
    model.eval()
    device = next(model.parameters()).device
    truth_all = ((dataset.labels.unsqueeze(1) >> torch.arange(len(bits))) & 1).float()
    out = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for s in subsets:
            targets = [t for t in names if t in judges and t not in s]
            cols = torch.tensor([names.index(m) for m in s])
            items = torch.nonzero(dataset.mask[:, cols].all(1)).flatten()
            if not targets or not len(items):
                continue
            probs: dict[str, list[Tensor]] = {t: [] for t in targets}
            for block in items.split(batch_size):
                z = model.posterior(dataset[block].to(device), list(s)).rsample()
                params = model.decode(z, targets)
                for t in targets:
                    x = model.nets[t].mean(params[t])
                    probs[t].append(presence_probabilities(judges[t].probabilities(x), len(bits)).cpu())
            for t in targets:
                ap = average_precisions(torch.cat(probs[t]), truth_all[items], bits)
                known = [v for v in ap.values() if v == v]
                out.append(PresenceScore(tuple(s), t, ap, sum(known) / len(known), len(items)))
    return out
