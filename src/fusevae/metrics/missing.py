"""Coherence with sensors missing at test time, the setting the sensor-fusion paper is about.

Each modality m in turn is dropped from a share r of the test items (a fixed draw per seed,
`MultimodalTensorDataset.drop_modalities`); every item is encoded from what it has left,
z ~ q(z | x_present), and every judged modality is generated from that z and classified. The
score of (m, r, target) is the agreement with the items' classes over all items, so r = 0 is
the joint posterior's coherence and the drop in score as r grows is what the missing sensor costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..data.tensor_dataset import MultimodalTensorDataset
from ..model import MultimodalVAE
from .classifier import Classifier, accuracies
from .coherence import _num_classes, judged_classes, judged_names

RATES = (0.0, 0.25, 0.5)  # the shares of test items that lose the sensor (issue 17's setting)


@dataclass
class MissingScore:
    dropped: str
    rate: float
    target: str
    micro: float
    macro: float
    n: int


@torch.no_grad()
def coherence_with_missing(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    rates: Sequence[float] = RATES,
    seed: int = 0,
    batch_size: int = 500,
) -> list[MissingScore]:
    """For each modality and rate, each judged modality's coherence when generated from what the items have left."""
    if dataset.labels is None:
        raise ValueError("coherence needs the items' class labels")
    for r in rates:
        if not 0.0 <= r < 1.0:
            raise ValueError(f"missing rates must be in [0, 1), got {r}")
    model.eval()
    judged = judged_names(model, judges)
    device = next(model.parameters()).device

    def scores(test: MultimodalTensorDataset) -> dict[str, tuple[float, float]]:
        preds: dict[str, list[torch.Tensor]] = {t: [] for t in judged}
        g = torch.Generator().manual_seed(seed)
        for block in torch.arange(len(test)).split(batch_size):
            batch = test[block].to(device)
            q = model.fuse(model.encode(batch), batch.mask)
            with torch.random.fork_rng():
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
                z = q.rsample()
            params = model.decode(z, judged)
            for t in judged:
                preds[t].append(judged_classes(model, judges, t, params[t]).cpu())
        return {t: accuracies(torch.cat(preds[t]), test.labels, _num_classes(model, judges, t)) for t in judged}

    full = scores(dataset) if 0.0 in rates else {}  # nothing dropped: the same pass for every modality, run once
    out: list[MissingScore] = []
    for m in model.names:
        for r in rates:
            got = scores(dataset.drop_modalities({m: r}, seed)) if r > 0 else full
            out += [MissingScore(m, float(r), t, *got[t], len(dataset)) for t in judged]
    return out
