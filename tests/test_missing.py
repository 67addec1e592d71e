"""Coherence with a sensor missing at test time: each item is encoded from what it has left."""

import pytest
import torch
from torch import nn

from fusevae.config import ModalityConfig
from fusevae.data import MultimodalTensorDataset
from fusevae.external import ExternalModel
from fusevae.metrics.missing import coherence_with_missing

SPECS = [
    ModalityConfig(name="x", kind="vector", shape=[2], likelihood="gaussian"),
    ModalityConfig(name="label", kind="label", shape=[], num_classes=10, likelihood="categorical"),
]


class Logits(nn.Module):
    def forward(self, z):
        return 100.0 * z


class Mean(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(10, 2)

    def forward(self, z):
        return self.lin(z)


def _model() -> ExternalModel:
    """z is exactly the one-hot class when the label is given, and the wrong class (y + 1) from x alone."""

    def posterior(data, subset):
        y = data["label"] if "label" in subset else (data["x"][:, 0].long() + 1) % 10
        mu = torch.nn.functional.one_hot(y, 10).float()
        return mu, torch.full_like(mu, -40.0)

    return ExternalModel(SPECS, 10, posterior, {"x": Mean(), "label": Logits()})


def test_the_score_falls_exactly_with_the_share_of_items_that_lost_the_sensor():
    n = 400
    y = torch.arange(n) % 10
    data = MultimodalTensorDataset({"x": torch.stack([y.float(), y.float()], 1), "label": y}, ("x", "label"), labels=y)
    scores = coherence_with_missing(_model(), data, {}, rates=(0.0, 0.25, 0.5), seed=3, batch_size=64)
    by = {(s.dropped, s.rate, s.target): s for s in scores}
    assert len(scores) == 2 * 3  # each dropped sensor x each rate, the label judged (x has no judge)
    assert by["label", 0.0, "label"].micro == 1.0
    for r in (0.25, 0.5):
        kept = data.drop_modalities({"label": r}, 3).mask[:, 1].float().mean()
        assert by["label", r, "label"].micro == pytest.approx(float(kept))  # the others are all wrong
        assert 0 < float(kept) < 1
        assert by["x", r, "label"].micro == 1.0  # losing x costs nothing: the label carries the class
    # nothing dropped is one pass shared by every sensor's 0 % row: each gets the joint posterior's score
    alone = coherence_with_missing(_model(), data, {}, rates=(0.0,), seed=3, batch_size=64)
    assert [(s.dropped, s.rate, s.micro, s.n) for s in alone] == [("x", 0.0, 1.0, n), ("label", 0.0, 1.0, n)]
    with pytest.raises(ValueError, match="rates"):
        coherence_with_missing(_model(), data, {}, rates=(1.0,))
