"""Issue 16's comparable protocol: binarised MNIST by default, each preset's own constants, validation scoring."""

import hashlib
import subprocess
import sys
import warnings

import pytest
import torch

from fusevae import api
from fusevae.benchmark import BenchmarkConfig, protocol
from fusevae.data import IndexBatchSampler, load_dataset
from fusevae.evaluation import EvaluationSettings, Evaluator
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.presets import CONSTANTS, LIBRARY, PRESETS

_HASH = (
    "import hashlib; from fusevae.data import load_dataset; d = load_dataset('mnist', binarize=True); "
    "print(hashlib.sha256(d.test.data['image'].numpy().tobytes() + d.valid.data['image'].numpy().tobytes())"
    ".hexdigest())"
)


def test_the_binarised_test_set_is_the_same_in_every_process():
    d = load_dataset("mnist", binarize=True)
    here = hashlib.sha256(d.test.data["image"].numpy().tobytes() + d.valid.data["image"].numpy().tobytes())
    there = subprocess.run([sys.executable, "-c", _HASH], capture_output=True, text=True, check=True).stdout.strip()
    assert here.hexdigest() == there
    assert set(d.test.data["image"][:50].unique().tolist()) == {0.0, 1.0}
    grey = load_dataset("mnist").test.data["image"]
    assert abs(float(d.test.data["image"].mean() - grey.mean())) < 2e-3  # a draw from the grey levels, not a threshold


def test_training_draws_differ_per_epoch_and_repeat_for_the_same_epoch():
    d = load_dataset("mnist", binarize=True)
    sampler = IndexBatchSampler(len(d.train), batch_size=64, shuffle=False, seed=0)  # same items every epoch

    def first_batch(epoch: int) -> torch.Tensor:
        sampler.set_epoch(epoch)
        idx, seed = next(iter(sampler))
        return d.train[idx, seed].data["image"]

    x0, x0_again, x1 = first_batch(0), first_batch(0), first_batch(1)
    assert torch.equal(x0, x0_again)  # the same epoch draws the same binary images (a resumed run is exact)
    assert not torch.equal(x0, x1)  # the next epoch binarises the same items afresh
    assert set(x1.unique().tolist()) == {0.0, 1.0}


def test_mnist_like_configs_start_binarised_and_the_user_can_turn_it_off(tmp_path):
    assert api.make_config("smvae", "mnist").train.binarize is True
    assert api.make_config("mvae", "fashion").train.binarize is True
    assert api.make_config("mvae", "mnist", ["train.binarize=false"]).train.binarize is False
    assert api.make_config("mopoe", "scenes").train.binarize is False  # depth and radar are not binary images
    cfg = api.make_config("mvae", "mnist")
    line = protocol(BenchmarkConfig(name="t", data="mnist", presets=["mvae"], seeds=[0]), cfg)
    assert "image binarised" in line and "10 epochs" in line and "batch 100" in line and "K = 1000" in line
    grey = protocol(
        BenchmarkConfig(name="t", data="mnist", presets=["mvae"], seeds=[0]),
        api.make_config("mvae", "mnist", ["train.binarize=false"]),
    )
    assert "grey levels" in grey and "not comparable" in grey
    rows = {"mmvae": api.make_config("mmvae", "mnist"), "mvae": cfg}
    mixed = protocol(BenchmarkConfig(name="t", data="mnist", presets=["mmvae", "mvae"], seeds=[0]), rows["mmvae"], rows)
    assert "batch 128 (mvae 100)" in mixed  # a row with its own batch is named with it
    assert "pooled" not in line
    pooled = protocol(BenchmarkConfig(name="t", data="mnist", presets=["mvae"], seeds=[0], judge_arch="pooled"), cfg)
    assert "images by the pooled body" in pooled


def test_each_preset_carries_its_own_constants_and_cites_them():
    for name, build in PRESETS.items():
        c = CONSTANTS[name]
        cfg = api.make_config(name, "mnist")
        assert c.source and c.source in (build.__doc__ or ""), name
        assert cfg.train.lr == c.lr and cfg.train.batch_size == c.batch_size, name
        assert cfg.objective.warmup_fraction == c.warmup_fraction, name
        assert cfg.objective.warmup_epochs == c.warmup_epochs, name
        assert not (c.warmup_fraction and c.warmup_epochs), name  # one schedule, not two
        assert cfg.objective.beta == c.beta, name
        expected = {"label": c.label_weight} if c.label_weight != 1 else {}
        assert cfg.objective.weights == expected, name
    # each preset's own values, not one global default: MVAE's batch with lambda and schedule chosen on validation
    # data, JMVAE's alpha and schedule, MMVAE without either
    for name in ("mvae", "smvae"):  # a warm-up over 10 epochs, chosen at 30 epochs on validation data
        cfg = api.make_config(name, "mnist")
        assert cfg.objective.weights == {} and cfg.objective.warmup_epochs == 10, name
        assert cfg.objective.warmup_fraction == 0 and cfg.train.batch_size == 100, name
        assert "mnist_warmup_e30.md" in CONSTANTS[name].source  # the 30-epoch choice says on what data
    for name in ("mvae", "smvae"):  # constants chosen by the library say on what data
        assert "VALIDATION" in CONSTANTS[name].source and "mnist_label_weight_warmup.md" in CONSTANTS[name].source
    jmvae = api.make_config("jmvae", "mnist")
    assert jmvae.objective.alpha == 0.1 and jmvae.objective.warmup_fraction == 0.4 and jmvae.objective.weights == {}
    mmvae = api.make_config("mmvae", "mnist")
    assert mmvae.objective.weights == {} and mmvae.objective.warmup_fraction == 0 and mmvae.objective.k == 20
    assert api.make_config("mopoe", "mnist").objective.weights == {}
    assert [n for n, c in CONSTANTS.items() if c.label_weight != 1] == []  # no preset reweights the label
    free = api.make_config(None, "mnist", fusion="rbcm", scheme="ecg")
    assert free.objective.weights == {} and free.objective.warmup_fraction == LIBRARY.warmup_fraction


def test_another_axis_keeps_the_presets_constants():
    cfg = api.make_config("jmvae", "mnist", fusion="rbcm")
    assert cfg.model.fusion.kind == "rbcm" and cfg.objective.weights == {}
    assert cfg.objective.warmup_fraction == 0.4 and cfg.train.batch_size == 100


@pytest.mark.parametrize("epochs", [10, 30])
def test_a_warmup_share_scales_with_the_budget(epochs):
    cfg = api.make_config("jmvae", "mnist", [f"train.epochs={epochs}"])
    objective = make_objective(cfg.objective, MultimodalVAE(cfg.model), epochs=epochs)
    assert objective.warmup_epochs == pytest.approx(0.4 * epochs)
    assert objective.beta(0.2 * epochs) == pytest.approx(0.5)
    assert objective.beta(0.4 * epochs) == objective.beta(epochs) == 1.0


@pytest.mark.parametrize("name", ["mvae", "smvae"])
def test_a_fixed_warmup_is_the_whole_of_a_short_budget_and_says_so_when_longer(name):
    model = MultimodalVAE(api.make_config(name, "mnist").model)
    for epochs in (10, 30):
        cfg = api.make_config(name, "mnist", [f"train.epochs={epochs}"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning where the warm-up fits the budget
            objective = make_objective(cfg.objective, model, epochs=epochs)
        assert objective.warmup_epochs == 10 and objective.beta(5) == pytest.approx(0.5) and objective.beta(10) == 1.0
    cfg = api.make_config(name, "mnist", ["train.epochs=4"])
    with pytest.warns(UserWarning, match="warmup_epochs = 10 is longer than the 4-epoch budget.*ends at 0.4"):
        objective = make_objective(cfg.objective, model, epochs=4)
    assert objective.beta(4) == pytest.approx(0.4)


def test_a_fixed_warmup_beside_the_presets_share_is_one_clear_error():
    with pytest.raises(ValueError, match="warmup_fraction = 0.4 .* set the other one to 0"):
        api.make_config("jmvae", "mnist", ["objective.warmup_epochs=5"])
    cfg = api.make_config("jmvae", "mnist", ["objective.warmup_epochs=5", "objective.warmup_fraction=0"])
    assert cfg.objective.warmup_epochs == 5


def test_constants_can_be_chosen_on_the_validation_set():
    data = load_dataset("mnist", binarize=True)
    assert Evaluator(data, "unused", EvaluationSettings(split="valid")).scored is data.valid
    assert Evaluator(data, "unused").scored is data.test
    with pytest.raises(ValueError, match="split"):
        EvaluationSettings(split="train")


def test_mnist_60k_trains_on_all_training_images_and_keeps_the_test_protocol():
    full, base = load_dataset("mnist-60k", binarize=True), load_dataset("mnist", binarize=True)
    assert (len(full.train), len(full.valid), len(full.test)) == (60000, 10000, 10000)
    assert full.train.binarize == ("image",) and not full.valid.binarize  # dynamic in training, fixed elsewhere
    assert torch.equal(full.test.data["image"], base.test.data["image"])  # scored on the same binarised test set
    assert torch.equal(full.valid.data["image"], base.valid.data["image"])
    # the first 50,000 are mnist's training items, the last 10,000 its validation items in grey (binarised per draw)
    assert torch.equal(full.train.data["image"][:50000], base.train.data["image"])
    assert torch.equal(full.train.labels[50000:], base.valid.labels)
    grey = load_dataset("mnist").valid.data["image"]
    assert torch.equal(full.train.data["image"][50000:], grey)
    assert api.make_config("jmvae", "mnist-60k").train.binarize is True
