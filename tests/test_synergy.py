"""Synergy gain against cached unimodal baselines."""

import copy

import pytest
import torch
from torch import nn

from fusevae import api
from fusevae.config import ExperimentConfig, ModalityConfig, ObjectiveConfig
from fusevae.data import MultimodalData, MultimodalTensorDataset
from fusevae.metrics import synergy as syn
from fusevae.metrics.classifier import Classifier
from fusevae.metrics.synergy import synergy, unimodal_baseline, unimodal_config

C = 10


def _judge():
    judge = Classifier((C,), C)
    judge.net = nn.Identity()  # the class of a vector is its largest entry
    return judge


def _data(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % C
    vec = nn.functional.one_hot(labels, C).float() + 0.05 * torch.randn(n, C, generator=g)
    ds = MultimodalTensorDataset({"vec": vec, "label": labels}, ("vec", "label"), labels=labels)
    return ds


def _config():
    cfg = api.make_config("mvae", "mnist", ["train.epochs=1", "model.latent_dim=4"])
    d = cfg.to_dict()
    d["model"]["modalities"][0] = ModalityConfig(
        "vec", "vector", [C], likelihood="gaussian", likelihood_scale=0.1, encoder_hidden=[32], decoder_hidden=[32]
    ).__dict__
    d["model"]["modalities"][1]["encoder_hidden"] = [32]
    d["model"]["modalities"][1]["decoder_hidden"] = [32]
    d["objective"]["weights"] = {"label": 5.0}
    return ExperimentConfig.from_dict(d)


def _multimodal_data():
    specs = _config().model.modalities
    return MultimodalData("toy", specs, _data(600, 0), _data(200, 1), _data(200, 2), "vec", "label")


def test_unimodal_config_keeps_the_modality_networks_and_budget_and_none_of_the_presets_constants():
    cfg = _config()
    u = unimodal_config(cfg, "label")
    assert [m.name for m in u.model.modalities] == ["label"] and u.objective.kind == "joint"
    assert u.model.modalities[0] == cfg.model.modalities[1] and u.model.latent_dim == cfg.model.latent_dim
    # a classical VAE as the library trains the paper's rows (beta 1, weight 1), with the baselines' own KL warm-up
    assert u.objective == ObjectiveConfig(kind="joint", warmup_fraction=1.0)  # synergy_baseline_warmup.md
    assert (u.train.epochs, u.train.limit_train, u.train.binarize) == (1, 0, cfg.train.binarize)
    assert (u.train.batch_size, u.train.lr, u.train.seed) == (128, 1e-3, 0)
    with pytest.raises(ValueError, match="unknown modality"):
        unimodal_config(cfg, "depth")


def test_every_row_and_seed_of_a_table_shares_one_baseline_per_modality_and_budget():
    """The paper reports one unimodal score per modality for all its rows: presets' constants, seeds and how a
    worker runs do not make another baseline; another budget or network does."""
    data = _multimodal_data().select(["label"])
    cfg = _config()
    other = copy.deepcopy(cfg)
    other.objective = ObjectiveConfig(kind="ecg", beta=2.5, warmup_fraction=0.4, weights={"label": 50.0})
    other.train.seed, other.train.batch_size, other.train.lr, other.train.threads = 2, 64, 3e-4, 1
    key = syn._key(unimodal_config(cfg, "label"), data)
    assert syn._key(unimodal_config(other, "label"), data) == key
    longer, wider = copy.deepcopy(cfg), copy.deepcopy(cfg)
    longer.train.epochs = 2
    wider.model.modalities[1].encoder_hidden = [64]
    assert syn._key(unimodal_config(longer, "label"), data) != key
    assert syn._key(unimodal_config(wider, "label"), data) != key


def test_a_model_identical_to_its_baseline_has_zero_synergy(tmp_path):
    data = _multimodal_data()
    base = unimodal_baseline(_config(), data, "vec", tmp_path)
    scores = synergy(base, {"vec": base}, data.test.select(["vec"]), {"vec": _judge()}, C)
    assert len(scores) == 1 and scores[0].gain == 0.0 and scores[0].joint == scores[0].unimodal > 0


def test_baselines_are_trained_once_and_cached(tmp_path, monkeypatch):
    data, cfg = _multimodal_data(), _config()
    first = unimodal_baseline(cfg, data, "label", tmp_path)
    assert first.names == ("label",)
    monkeypatch.setattr("fusevae.train.fit", lambda *a, **k: pytest.fail("trained again"))
    again = unimodal_baseline(cfg, data, "label", tmp_path)
    for (k, v), w in zip(first.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, w), k
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1  # one baseline (beside its lock file)


def test_synergy_of_a_trained_bimodal_model_against_its_baselines(tmp_path):
    data, cfg = _multimodal_data(), _config()
    from fusevae.train import fit

    fit(cfg, data, tmp_path / "run", progress=False)
    model, _ = api.load(tmp_path / "run"), None
    baselines = {m: unimodal_baseline(cfg, data, m, tmp_path / "cache") for m in ("vec", "label")}
    scores = {s.modality: s for s in synergy(model, baselines, data.test, {"vec": _judge()}, C)}
    for s in scores.values():
        assert s.gain == pytest.approx((s.joint - s.unimodal) / s.unimodal)
        assert 0.0 <= s.joint <= 1.0 and 0.0 < s.unimodal <= 1.0
    with pytest.raises(ValueError, match="must be a unimodal model"):
        synergy(model, {"vec": baselines["label"]}, data.test, {"vec": _judge()}, C)
    assert syn.SynergyScore("x", 0.5, 0.25, 1.0).gain == 1.0


def test_a_collapsed_baseline_gives_no_gain_and_says_its_rate(tmp_path):
    """A baseline whose code carries nothing about its input (q(z | x) = p(z): rate 0) reconstructs the mean item,
    so G = (S - U) / U would measure nothing: no gain is reported, and the rate says why."""
    from fusevae.distributions import DiagGaussian

    data = _multimodal_data()
    base = unimodal_baseline(_config(), data, "vec", tmp_path)
    test = data.test.select(["vec"])
    rate = syn.baseline_rates({"vec": base}, test)["vec"]
    assert rate > syn.MIN_BASELINE_RATE  # the trained toy baseline encodes something of its input
    collapsed = copy.deepcopy(base)
    collapsed.posterior = lambda batch, subset=None: DiagGaussian(
        torch.zeros(len(batch), base.latent_dim), torch.zeros(len(batch), base.latent_dim)
    )
    assert syn.baseline_rates({"vec": collapsed}, test)["vec"] == pytest.approx(0.0, abs=1e-6)
    (score,) = synergy(base, {"vec": collapsed}, test, {"vec": _judge()}, C)
    assert score.gain is None and score.rate == pytest.approx(0.0, abs=1e-6)
    assert syn.gain_of(0.5, 0.25, rate) == 1.0 and syn.gain_of(0.5, 0.25, 0.01) is None
    assert syn.gain_of(0.5, 0.0, rate) is None  # U = 0: G undefined, not an error that stops a benchmark


def test_a_collapsed_classical_baseline_is_retrained_with_its_kl_held_at_zero_first(tmp_path, monkeypatch):
    """Where the classical baseline carries nothing on the validation items, the one whose KL weight stays at 0
    for the first BASELINE_HOLD of its warm-up replaces it; a baseline that encodes its input is kept."""
    from fusevae.checkpoint import load_config

    data, cfg = _multimodal_data(), _config()
    kept = unimodal_baseline(cfg, data, "vec", tmp_path / "kept")
    assert syn.baseline_hold(kept) == 0.0 and len(list((tmp_path / "kept").glob("unimodal-*/"))) == 1
    seen = []

    def rates(baselines, dataset, batch_size=512):  # the classical baseline collapsed on validation items
        ((m, b),) = baselines.items()
        seen.append(len(dataset))
        return {m: 0.0 if syn.baseline_hold(b) == 0.0 else 5.0}

    monkeypatch.setattr(syn, "baseline_rates", rates)
    base = unimodal_baseline(cfg, data, "vec", tmp_path / "held")
    assert syn.baseline_hold(base) == syn.BASELINE_HOLD > 0
    assert seen == [len(data.valid)]  # decided on validation items, never test
    (classical, held) = sorted(
        (tmp_path / "held").glob("unimodal-*/"), key=lambda p: load_config(p).objective.warmup_hold
    )
    assert load_config(classical).objective.warmup_hold == 0.0
    assert (
        load_config(held).objective.warmup_hold == syn.BASELINE_HOLD
        and load_config(held).objective.warmup_fraction == 1.0
    )
    (score,) = synergy(base, {"vec": base}, data.test.select(["vec"]), {"vec": _judge()}, C)
    assert score.hold == syn.BASELINE_HOLD and score.gain == 0.0


def test_the_collapse_check_reads_the_validation_items_that_have_the_modality(tmp_path):
    """Validation items that lack another modality (a sensor that failed) still count for this one's baseline."""
    full = _data(200, 1)
    mask = torch.ones(200, 2, dtype=torch.bool)
    mask[:, 1] = False  # no validation item has its label
    valid = MultimodalTensorDataset(full.data, full.modalities, mask, full.labels)
    specs = _config().model.modalities
    data = MultimodalData("toy", specs, _data(600, 0), valid, _data(200, 2), "vec", "label")
    base = unimodal_baseline(_config(), data, "vec", tmp_path)
    assert syn.baseline_hold(base) == 0.0  # it encodes its input: the classical baseline is kept
