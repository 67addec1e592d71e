"""Cross-reconstruction error: how far a modality generated from other modalities lies from the real one.

SMVAE 4.3 shows each image transformation recovered from the others (edges and grayscale from the original,
colour from grayscale, the original from its occluded or watermarked copy). Its table counterpart: for a target
t and inputs S, one z ~ q(z | x_S) per item is decoded into t and the mean squared error of the likelihood's
mean against the item's x_t is averaged over the items that hold S and t (per element, so modalities of
different sizes compare). Inputs default to each modality alone (t itself gives the plain reconstruction, a
reference) and all modalities but t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..data.tensor_dataset import MultimodalTensorDataset
from ..model import MultimodalVAE

SCORED_KINDS = ("image", "vector", "timeseries")  # real-valued modalities; labels and tokens are judged instead


@dataclass
class CrossError:
    """One cell: inputs -> target, mean squared error per element over `n` items."""

    inputs: tuple[str, ...]
    target: str
    mse: float
    n: int


def default_inputs(model: MultimodalVAE, target: str) -> list[tuple[str, ...]]:
    """Each modality alone (the target itself first), then all modalities but the target, where encodable."""
    names = list(model.names)
    others = tuple(m for m in names if m != target)
    wanted = [(target,), *((m,) for m in others), *([others] if len(others) > 1 else [])]
    encodable = {tuple(s) for s in model.encodable_subsets()}
    return [s for s in wanted if s in encodable]


@torch.no_grad()
def cross_error(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    targets: Sequence[str] | None = None,
    batch_size: int = 256,
    seed: int = 0,
) -> list[CrossError]:
    """Mean squared error of each target generated from each default input set (module docstring)."""
    names = list(model.names)
    targets = list(targets) if targets is not None else [m for m in names if model.nets[m].cfg.kind in SCORED_KINDS]
    for t in targets:
        if t not in names or model.nets[t].cfg.kind not in SCORED_KINDS:
            raise ValueError(f"cross error scores real-valued modalities of the model ({SCORED_KINDS}); got {t!r}")
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for t in targets:
            for s in default_inputs(model, t):
                cols = torch.tensor([names.index(m) for m in {*s, t}])
                items = torch.nonzero(dataset.mask[:, cols].all(1)).flatten()
                if not len(items):
                    continue
                total, count = 0.0, 0
                for block in items.split(batch_size):
                    batch = dataset[block].to(device)
                    z = model.posterior(batch, list(s)).rsample()
                    mean = model.nets[t].mean(model.decode(z, [t])[t])
                    diff = (mean - batch.data[t].to(mean.dtype)).pow(2)
                    total += float(diff.sum())
                    count += diff.numel()
                out.append(CrossError(tuple(s), t, total / count, len(items)))
    return out
