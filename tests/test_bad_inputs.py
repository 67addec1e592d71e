"""Bad input at every boundary gets one error that names the problem (table-driven)."""

import pytest
import torch

from fusevae.api import make_config
from fusevae.checkpoint import CheckpointError, load_model, load_state, save_model
from fusevae.config import ConfigError, ExperimentConfig, ObjectiveConfig, apply_overrides
from fusevae.data import MultimodalTensorDataset, make_batch
from fusevae.data.batch import BatchError
from fusevae.metrics.likelihood import importance_log_likelihoods
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.objectives.estimators import IWAE

from .conftest import pickle_checkpoint, small_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultimodalVAE(small_config("poe")).eval()


def _img(n=2):
    return torch.rand(n, 1, 28, 28)


def _with(x, index, value):
    x = x.clone()
    x.view(-1)[index] = value
    return x


def _saved_run(tmp_path, model, edit=None):
    cfg = make_config("mvae", "mnist")
    cfg.model = model.cfg
    save_model(tmp_path, model, cfg)
    if edit:
        path = tmp_path / "config.json"
        path.write_text(edit(path.read_text()))
    return tmp_path


# (case, call(model, tmp_path), error type, words that must appear in the message)
CASES = [
    # configs
    (
        "unknown config field",
        lambda m, p: apply_overrides(make_config("mvae").to_dict(), ["train.epoch=3"]),
        ConfigError,
        ["epoch", "known"],
    ),
    (
        "wrong config type",
        lambda m, p: ExperimentConfig.from_dict(apply_overrides(make_config("mvae").to_dict(), ['train.epochs="ten"'])),
        ConfigError,
        ["train.epochs", "int"],
    ),
    ("override without =", lambda m, p: make_config("mvae", overrides=["train.epochs"]), ConfigError, ["KEY=VALUE"]),
    ("unknown preset", lambda m, p: make_config("mvea"), ValueError, ["unknown preset", "mvea"]),
    ("unknown fusion", lambda m, p: make_config(None, fusion="product"), ValueError, ["unknown fusion", "product"]),
    ("unknown scheme", lambda m, p: make_config(None, scheme="all"), ValueError, ["unknown scheme", "all"]),
    ("unknown estimator", lambda m, p: make_config(None, estimator="vimco"), ValueError, ["unknown estimator"]),
    (
        "lcd on an embedding fusion",
        lambda m, p: make_config(None, fusion="sum", scheme="lcd"),
        ValueError,
        ["embeddings", "lcd_alpha"],
    ),
    (
        "lambda for an unknown modality",
        lambda m, p: make_objective(ObjectiveConfig(weights={"audio": 2.0}), m),
        ValueError,
        ["audio", "unknown modality"],
    ),
    ("negative beta", lambda m, p: make_objective(ObjectiveConfig(beta=-1.0), m), ValueError, ["beta", ">= 0"]),
    ("k = 0 samples", lambda m, p: IWAE(0), ValueError, ["k", ">= 1"]),
    # batches and the model's inputs
    (
        "unknown modality in data",
        lambda m, p: m.posterior({"image": _img(), "audio": torch.rand(2, 3)}),
        BatchError,
        ["unknown modality", "audio"],
    ),
    (
        "image of the wrong shape",
        lambda m, p: m.posterior({"image": torch.rand(2, 27, 27)}),
        BatchError,
        ["'image'", "(1, 28, 28)", "(2, 27, 27)"],
    ),
    (
        "float class labels",
        lambda m, p: m.posterior({"label": torch.tensor([1.0, 2.0])}),
        BatchError,
        ["'label'", "integer"],
    ),
    (
        "label out of range",
        lambda m, p: m.posterior({"label": torch.tensor([3, 10])}),
        BatchError,
        ["'label'", "0 .. 9"],
    ),
    (
        "NaN pixel",
        lambda m, p: m.posterior({"image": _with(_img(), 5, float("nan"))}),
        BatchError,
        ["'image'", "1 NaN"],
    ),
    (
        "inf pixel",
        lambda m, p: m.posterior({"image": _with(_img(), 7, float("inf"))}),
        BatchError,
        ["'image'", "1 inf"],
    ),
    (
        "pixels outside [0, 1] for a Bernoulli likelihood",
        lambda m, p: m.posterior({"image": _img() * 255}),
        BatchError,
        ["'image'", "[0, 1]"],
    ),
    ("not a tensor", lambda m, p: m.posterior({"image": [[0.0] * 784]}), BatchError, ["'image'", "torch.Tensor"]),
    (
        "mask of the wrong shape",
        lambda m, p: make_batch({"image": _img()}, m.names, mask=torch.ones(2, 3).bool()),
        BatchError,
        ["mask", "(2, 2)"],
    ),
    (
        "mask says present but no data",
        lambda m, p: make_batch({"image": _img()}, m.names, mask=torch.ones(2, 2).bool()),
        BatchError,
        ["label", "no data"],
    ),
    (
        "batch sizes disagree",
        lambda m, p: m.posterior({"image": _img(3), "label": torch.tensor([1, 2])}),
        BatchError,
        ["disagree", "image", "label"],
    ),
    ("zero samples to generate", lambda m, p: m.generate({"image": _img()}, n_samples=0), ValueError, ["n_samples"]),
    ("a fractional sample count", lambda m, p: m.sample(2.5), ValueError, ["n must be a whole number", "2.5"]),
    ("empty subset", lambda m, p: m.posterior({"image": _img()}, subset=[]), BatchError, ["empty subset"]),
    (
        "unknown modality in subset",
        lambda m, p: m.posterior({"image": _img()}, subset=["depth"]),
        BatchError,
        ["depth", "subset"],
    ),
    (
        "an item with no modality",
        lambda m, p: MultimodalTensorDataset(
            {"image": _img(), "label": torch.tensor([1, 2])}, m.names, mask=torch.tensor([[1, 1], [0, 0]]).bool()
        ),
        BatchError,
        ["at least one present modality"],
    ),
    (
        "K = 0 in a likelihood",
        lambda m, p: importance_log_likelihoods(
            m, make_batch({"image": _img()}, m.names), ["image"], {"x": ["image"]}, k=0
        ),
        ValueError,
        ["k", ">= 1"],
    ),
    # checkpoints
    ("missing checkpoint", lambda m, p: load_state(p / "nope.ckpt"), CheckpointError, ["nope.ckpt", "no such"]),
    ("pickle checkpoint", lambda m, p: load_state(pickle_checkpoint(p)), CheckpointError, ["never unpickles"]),
    (
        "truncated checkpoint",
        lambda m, p: (p / "cut.ckpt").write_bytes(b"\x10\x00\x00") and load_state(p / "cut.ckpt"),
        CheckpointError,
        ["cut.ckpt"],
    ),
    (
        "another architecture",
        lambda m, p: load_model(_saved_run(p, m, lambda t: t.replace('"latent_dim": 8', '"latent_dim": 9'))),
        CheckpointError,
        ["shape mismatch"],
    ),
    (
        "another config version",
        lambda m, p: load_model(_saved_run(p, m, lambda t: t.replace('"version": 1', '"version": 7'))),
        CheckpointError,
        ["version 7"],
    ),
    ("not a run folder", lambda m, p: load_model(p / "empty"), CheckpointError, ["run folder"]),
]


@pytest.mark.parametrize("case,call,error,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_error(case, call, error, words, model, tmp_path):
    with pytest.raises(error) as info:
        call(model, tmp_path)
    message = str(info.value)
    for w in words:
        assert w in message, f"{case}: {w!r} missing from {message!r}"
    assert "\n" not in message.strip()  # one line


def test_the_table_is_at_least_twenty_cases():
    assert len(CASES) >= 20


def test_float64_inputs_take_the_models_float_type_and_labels_stay_integers(model):
    x, y = _img(3), torch.tensor([1, 4, 9])
    q32 = model.posterior({"image": x, "label": y})
    q64 = model.posterior({"image": x.double(), "label": y})  # numpy's float64 arrays arrive like this
    assert q64.mean.dtype == torch.float32
    torch.testing.assert_close(q64.mean, q32.mean)
    batch = make_batch({"image": x.double(), "label": y}, model.names)
    assert model.as_batch(batch).data["image"].dtype == torch.float32
    assert model.as_batch(batch).data["label"].dtype == torch.int64


def test_training_names_the_modality_that_made_the_loss_non_finite(model):
    from fusevae.validation import diagnose_non_finite

    batch = make_batch({"image": _img(), "label": torch.tensor([1, 2])}, model.names)
    with torch.no_grad():
        model.nets["label"].decoder[-1].bias.fill_(float("nan"))
    try:
        assert diagnose_non_finite(model, batch).startswith("parameter nets.label.decoder")
    finally:
        with torch.no_grad():
            model.nets["label"].decoder[-1].bias.zero_()
    batch.data["image"][0, 0, 0, 0] = float("inf")
    assert "modality 'image'" in diagnose_non_finite(model, batch)
