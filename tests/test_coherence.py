"""Coherence: a model that carries the class through z scores 1, a random one about 1/C."""

import pytest
import torch
from torch import nn

from fusevae.config import FusionConfig, ModalityConfig, ModelConfig
from fusevae.data import MultimodalTensorDataset
from fusevae.distributions import DiagGaussian
from fusevae.metrics.classifier import Classifier
from fusevae.metrics.coherence import cross_coherence, joint_coherence, pairwise_joint_coherence
from fusevae.model import MultimodalVAE

C = 10


def _model():
    mods = [
        ModalityConfig("image", "vector", [C], likelihood="gaussian", encoder_hidden=[16], decoder_hidden=[16]),
        ModalityConfig(
            "label", "label", [], num_classes=C, likelihood="categorical", encoder_hidden=[16], decoder_hidden=[16]
        ),
    ]
    return MultimodalVAE(ModelConfig(modalities=mods, latent_dim=C, fusion=FusionConfig(kind="poe")))


def _data(n=2000):
    labels = torch.arange(n) % C
    image = nn.functional.one_hot(labels, C).float() + 0.01 * torch.randn(n, C)
    return MultimodalTensorDataset({"image": image, "label": labels}, ("image", "label"), labels=labels)


def _argmax_judge():
    judge = Classifier((C,), C)
    judge.net = nn.Identity()  # logits = the vector itself: its class is its largest entry
    return judge


def _copying(model):
    """Encoders put z near 5 * onehot(class) and decoders read the class back from z."""

    def posterior(data, subset=None):
        batch = model.as_batch(data)
        cls = batch.data["label"] if subset == ["label"] else batch.data["image"].argmax(-1)
        return DiagGaussian(5.0 * nn.functional.one_hot(cls, C).float(), torch.full((len(cls), C), -8.0))

    model.posterior = posterior
    for name in model.names:
        model.nets[name].decoder = nn.Linear(C, C)
        with torch.no_grad():
            model.nets[name].decoder.weight.copy_(torch.eye(C))
            model.nets[name].decoder.bias.zero_()
    return model


def test_a_model_that_copies_the_class_is_fully_coherent():
    model, data = _copying(_model()), _data()
    judges = {"image": _argmax_judge()}
    scores = {(s.inputs, s.target): s for s in cross_coherence(model, data, judges)}
    assert set(scores) == {(("image",), "label"), (("label",), "image")}
    for s in scores.values():
        assert s.micro == 1.0 and s.macro == 1.0 and s.n == len(data)
    assert joint_coherence(model, judges, n=3000) == 1.0


def test_pairwise_joint_coherence_scores_each_pair_from_the_same_prior_samples():
    mods = [ModalityConfig(n, "vector", [C], likelihood="gaussian", encoder_hidden=[16]) for n in "abc"]
    model = MultimodalVAE(ModelConfig(modalities=mods, latent_dim=C, fusion=FusionConfig(kind="poe")))
    shift = torch.roll(torch.eye(C), 1, 0)  # c decodes class k + 1 where a and b decode k
    for name, weight in (("a", torch.eye(C)), ("b", torch.eye(C)), ("c", shift)):
        model.nets[name].decoder = nn.Linear(C, C)
        with torch.no_grad():
            model.nets[name].decoder.weight.copy_(weight)
            model.nets[name].decoder.bias.zero_()
    judges = {n: _argmax_judge() for n in "abc"}
    pairs = pairwise_joint_coherence(model, judges, n=2000)
    assert pairs == {("a", "b"): 1.0, ("a", "c"): 0.0, ("b", "c"): 0.0}
    assert joint_coherence(model, judges, n=2000) == 0.0
    torch.manual_seed(0)
    random = MultimodalVAE(ModelConfig(modalities=mods, latent_dim=C, fusion=FusionConfig(kind="poe")))
    every = joint_coherence(random, judges, n=2000, seed=4)
    assert all(every <= v for v in pairwise_joint_coherence(random, judges, n=2000, seed=4).values())


def test_a_random_decoder_is_coherent_by_chance_only():
    model, data = _model(), _data()
    scores = cross_coherence(model, data, {"image": _argmax_judge()}, seed=1)
    for s in scores:
        assert s.micro == pytest.approx(1 / C, abs=0.05) and s.macro == pytest.approx(1 / C, abs=0.05)


def test_items_missing_an_input_are_left_out_and_seeds_repeat():
    model, data = _model(), _data(400)
    mask = data.mask.clone()
    mask[:100, 0] = False  # image missing from the first 100 items
    holed = MultimodalTensorDataset(data.data, data.modalities, mask, data.labels)
    judges = {"image": _argmax_judge()}
    by_inputs = {s.inputs: s for s in cross_coherence(model, holed, judges, subsets=[["image"], ["label"]])}
    assert by_inputs[("image",)].n == 300 and by_inputs[("label",)].n == 400
    a = cross_coherence(model, data, judges, seed=3)
    b = cross_coherence(model, data, judges, seed=3)
    assert [s.micro for s in a] == [s.micro for s in b]


def test_coherence_rejects_what_it_cannot_score():
    model, data = _model(), _data(50)
    with pytest.raises(ValueError, match="unknown modalities"):
        cross_coherence(model, data, {"depth": _argmax_judge()})
    with pytest.raises(ValueError, match="at least two judged"):
        joint_coherence(model, {})
    with pytest.raises(ValueError, match="must name at least one"):
        cross_coherence(model, data, {}, subsets=[["radar"]])


def test_pairwise_joint_coherence_is_refused_by_name_on_two_modalities(mnist):
    from fusevae.evaluation import check_metrics

    with pytest.raises(ValueError, match="joint_pairs.*three or more"):
        check_metrics(["joint_pairs"], mnist)
    assert "joint_pairs" not in check_metrics(["all"], mnist) and "coherence" in check_metrics(["all"], mnist)
