"""A user's own data and networks end to end: tensors and spec files, registered and importable networks,
run folders that reload their data and refuse changed files, and bad input stopped before anything is written."""

import csv
import json
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import fusevae
from fusevae import api
from fusevae.checkpoint import load_model
from fusevae.cli import main
from fusevae.data import DataChangedError, from_arrays
from fusevae.data.spec import save_arrays
from fusevae.networks import NetworkError

FAST = ["train.batch_size=32", "train.threads=1"]


def _bars(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images with a bright bar at the class's row, a noisy force series that rises with the class, labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.uniform(0, 0.2, (n, 1, 28, 28)).astype(np.float32)
    for i, c in enumerate(labels):
        images[i, 0, 4 + 6 * c : 8 + 6 * c, :] = 0.9
    t = np.linspace(0, 1, 16, dtype=np.float32)
    force = labels[:, None, None] * t[None, :, None] + rng.normal(0, 0.05, (n, 16, 2)).astype(np.float32)
    return images, force.astype(np.float32), labels


class TinyEncoder(nn.Module):
    """A user's encoder: (B, 1, 28, 28) -> (B, 32)."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(width * 196, 32))

    def forward(self, x):
        return self.net(x)


def _tiny(ctx, width: int = 4):
    return TinyEncoder(width)


@pytest.fixture
def tiny_network():
    fusevae.register_network("test_tiny_cnn", encoder=_tiny, overwrite=True)
    yield "test_tiny_cnn"


def test_a_registered_user_network_trains_saves_and_reloads_identically(tmp_path, tiny_network):
    images, force, labels = _bars(240)
    data = from_arrays(
        {"image": images, "force": force, "digit": labels},
        specs={"image": {"encoder": tiny_network, "encoder_options": {"width": 3}}},
        labels="digit",
        seed=1,
    )
    assert [m.kind for m in data.modalities] == ["image", "timeseries", "label"]
    assert [m.network for m in data.modalities] == ["conv", "sequence", "mlp"]
    run = api.train("mvae", data=data, epochs=1, out=tmp_path / "run", progress=False, overrides=FAST)
    cfg = json.loads((run / "config.json").read_text())
    image_cfg = cfg["model"]["modalities"][0]
    assert (image_cfg["encoder"], image_cfg["encoder_options"]) == (tiny_network, {"width": 3})
    model = api.load(run)
    assert isinstance(model.nets["image"].encoder, TinyEncoder)
    batch = data.test[torch.arange(8)]
    again = api.load(run)
    assert torch.equal(model.posterior(batch).mean, again.posterior(batch).mean)
    torch.manual_seed(0)
    a = model.generate({"digit": torch.arange(4)}, n_samples=2)
    torch.manual_seed(0)
    b = again.generate({"digit": torch.arange(4)}, n_samples=2)
    assert all(torch.equal(a[k], b[k]) for k in a) and a["force"].shape == (2, 4, 16, 2)
    table = api.evaluate(run, k=5, n_test=20, progress=False, figures=False, data=data)
    assert "log p(image,force,digit)" in table["q(z|image,force,digit)"]
    with pytest.raises(ValueError, match="in-memory arrays"):
        api.evaluate(run, k=5, n_test=20, progress=False, figures=False)  # arrays cannot be reloaded by name
    other = from_arrays({"image": images, "force": force + 1, "digit": labels}, labels="digit", seed=1)
    with pytest.raises(DataChangedError, match="accept"):
        api.evaluate(run, k=5, n_test=20, progress=False, figures=False, data=other)

    from fusevae.networks import registry as reg

    saved = reg._FAMILIES.pop(tiny_network)
    try:
        with pytest.raises(NetworkError, match="unknown encoder network 'test_tiny_cnn'"):
            load_model(run)
    finally:
        reg._FAMILIES[tiny_network] = saved


def test_an_importable_factory_is_named_in_the_config_and_loads_without_registration(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def encoder(ctx, hidden=16):
                return nn.Sequential(nn.Flatten(), nn.Linear(2, hidden), nn.Tanh())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    x = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    data = from_arrays(
        {"a": x, "b": x * 2}, specs={"a": {"encoder": "my_nets:encoder", "encoder_options": {"hidden": 8}}}
    )
    run = api.train("mvae", data=data, epochs=1, out=tmp_path / "run", progress=False, overrides=FAST)
    model = api.load(run)
    assert model.nets["a"].embed_dim == 8 and model.nets["a"].networks == ("my_nets:encoder", "mlp")
    with pytest.raises(NetworkError, match="cannot import the encoder network 'nowhere:encoder'"):
        api.make_config("mvae", from_arrays({"a": x, "b": x}, specs={"a": {"encoder": "nowhere:encoder"}}))


def _spec_folder(tmp_path):
    images, force, labels = _bars(300, seed=2)
    present = np.ones(300, bool)
    present[::7] = False  # some items lack the force sensor
    save_arrays(tmp_path / "data.npz", {"pixels": images, "force": force, "force_on": present, "digit": labels})
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            name: bars
            files: data.npz
            split: [0.8, 0.1, 0.1]
            label: digit
            modalities:
              - {name: image, array: pixels, network_options: {width: 4}}
              - {name: force, mask: force_on, network_options: {hidden: 16, embed_dim: 32}}
            """
        )
    )
    return spec


def test_a_spec_file_trains_through_the_cli_and_the_run_folder_alone_evaluates_and_generates(tmp_path, capsys):
    spec = _spec_folder(tmp_path)
    run = tmp_path / "run"
    args = ["train", "smvae", "--data", str(spec), "--epochs", "1", "--out", str(run), "--no-progress"]
    assert main([*args, "--k", "5", "--n-test", "20", *[f"--set={s}" for s in FAST]]) == 0
    out = capsys.readouterr().out
    assert "log p(image,force)" in out
    record = json.loads((run / "data.json").read_text())
    assert record["kind"] == "spec" and record["name"] == "bars" and set(record["files"]) == {"data.npz"}
    assert main(["evaluate", str(run), "--k", "5", "--n-test", "20", "--no-progress", "--proposal", "force"]) == 0
    printed = capsys.readouterr().out
    assert "q(z|image,force)" in printed and "q(z|force) " in printed  # the named proposal is a row
    assert main(["generate", str(run), "--n", "2"]) == 0
    assert "cross_image.png" in capsys.readouterr().out

    # the data file changes under the run: refused by name, accepted with the flag
    images, force, labels = _bars(300, seed=3)
    save_arrays(
        tmp_path / "data.npz", {"pixels": images, "force": force, "force_on": np.ones(300, bool), "digit": labels}
    )
    assert main(["evaluate", str(run), "--k", "5", "--n-test", "20", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "data.npz" in err and "--accept-changed-data" in err
    flag = ["--accept-changed-data"]
    assert main(["evaluate", str(run), "--k", "5", "--n-test", "20", "--no-progress", *flag]) == 0


def test_every_metric_runs_on_user_data_with_three_modalities(tmp_path):
    images, force, labels = _bars(300, seed=4)
    data = from_arrays(
        {"image": images, "force": force},
        class_labels=labels,
        specs={"image": {"network_options": {"width": 4}}, "force": {"network_options": {"hidden": 16}}},
        num_classes=4,
    )
    run = api.train("mopoe", data=data, epochs=1, out=tmp_path / "run", progress=False, overrides=FAST)
    settings = fusevae.evaluation.EvaluationSettings(
        k=5, n_test=30, coherence_items=60, joint_samples=100, map_items=50, probe_items=100, judge_epochs=1
    )
    table = api.evaluate(
        run, k=5, n_test=30, progress=False, figures=False, data=data, metrics=["all"], settings=settings
    )
    flat = table["metrics"]
    assert {"coherence image -> force (micro)", "coherence force -> image (micro)", "joint coherence"} <= set(flat)
    assert "synergy image" in flat and "probe image+force" in flat


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.latent_dim=0"], "latent_dim must be >= 1"),
        (["train.epochs=0"], "epochs must be >= 1"),
        (["model.modalities.image.kind=picture"], "unknown kind 'picture'"),
        (["model.modalities.image.likelihood=poisson"], "unknown likelihood 'poisson'"),
        (["model.modalities.image.network=nonet"], "unknown encoder network 'nonet'"),
        (["model.modalities.image.network_options.width=-3"], "image"),
    ],
)
def test_bad_settings_fail_by_name_before_anything_is_written(tmp_path, overrides, message):
    images, force, labels = _bars(60)
    data = from_arrays({"image": images, "digit": labels}, labels="digit")
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        api.train("mvae", data=data, out=out, progress=False, overrides=overrides)
    assert not out.exists()


def test_epochs_below_one_and_a_failing_factory_are_refused(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", "mvae", "--epochs", "0", "--out", str(out), "--no-progress"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err and not out.exists()

    def broken(ctx):
        raise ValueError("this factory cannot build")

    fusevae.register_network("test_broken", encoder=broken, overwrite=True)
    data = from_arrays({"a": np.zeros((50, 3), np.float32), "b": np.ones((50, 3), np.float32)})
    with pytest.raises(NetworkError, match="'a'.*'test_broken' failed to build: this factory cannot build"):
        api.train("mvae", data=data, out=out, overrides=["model.modalities.a.encoder=test_broken"], progress=False)

    fusevae.register_network("test_wrong", encoder=lambda ctx: nn.Conv2d(1, 2, 3), overwrite=True)
    with pytest.raises(NetworkError, match="modality 'a'.*cannot take items of shape \\[3\\]"):
        api.train("mvae", data=data, out=out, overrides=["model.modalities.a.encoder=test_wrong"], progress=False)
    assert not out.exists()


def test_a_conv_network_refuses_an_image_size_it_cannot_take():
    data = from_arrays({"img": np.zeros((40, 1, 30, 30), np.float32), "y": np.arange(40) % 2})
    with pytest.raises(NetworkError, match="28, 32 or 64 pixel"):
        api.make_config("mvae", data, ["model.modalities.img.network=conv"])


def test_polymnist_1_is_a_data_set_with_one_modality():
    cfg = api.make_config("mvae", "polymnist-1")
    assert [m.name for m in cfg.model.modalities] == ["m0"] and cfg.model.modalities[0].network == "conv"


def test_presets_keep_the_data_sets_own_networks():
    mnist = api.make_config("smvae", "mnist")
    assert [(m.network, m.encoder_hidden) for m in mnist.model.modalities] == [("mlp", [512, 512])] * 2
    assert mnist.model.latent_dim == 64
    scenes = api.make_config("mvae+ecg", "scenes")
    assert [m.network for m in scenes.model.modalities] == ["conv"] * 3 and scenes.model.latent_dim == 256
    mog = api.make_config("m2vae", "mog")
    assert mog.model.latent_dim == 2 and mog.model.modalities[0].encoder_hidden == [128]
    mine = api.make_config("mvae", "mog", ["model.latent_dim=5", "model.modalities.x.encoder_hidden=[7]"])
    assert mine.model.latent_dim == 5 and mine.model.modalities[0].encoder_hidden == [7]  # never overwritten


def test_train_binarize_on_a_data_object_draws_training_images_and_fixes_evaluation_images():
    from fusevae.run_data import binarized

    images, force, labels = _bars(100)
    data = binarized(from_arrays({"image": images, "digit": labels}, labels="digit"))
    test = data.test[torch.arange(10)].data["image"]
    assert set(test.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(
        test, binarized(from_arrays({"image": images, "digit": labels}, labels="digit")).test.data["image"][:10]
    )
    first, second = data.train[(torch.arange(10), 1)].data["image"], data.train[(torch.arange(10), 2)].data["image"]
    assert set(first.unique().tolist()) <= {0.0, 1.0} and not torch.equal(first, second)


def test_the_benchmark_runs_on_a_data_object_and_a_spec_file(tmp_path):
    from fusevae.benchmark import BenchmarkConfig, run_benchmark

    spec = _spec_folder(tmp_path)
    base = dict(
        presets=["mvae"],
        seeds=[0],
        overrides=[*FAST, "train.epochs=1", "model.latent_dim=8"],
        k=5,
        n_test=20,
        coherence_items=40,
        joint_samples=50,
        subset_elbos=False,
        synergy=False,
        latent_maps=False,
        judge_epochs=1,
    )
    folder = run_benchmark(BenchmarkConfig(name="spec", data=str(spec), **base), tmp_path / "b1", progress=False)
    with open(folder / "results.csv") as f:
        metrics = {row["metric"] for row in csv.DictReader(f)}
    assert {"log p(image,force) from q(z|image,force)", "coherence image -> force (micro)"} <= metrics
    images, force, labels = _bars(200, seed=5)
    data = from_arrays({"image": images, "force": force}, class_labels=labels, num_classes=4)
    folder = run_benchmark(BenchmarkConfig(name="obj", data="user", **base), tmp_path / "b2", progress=False, data=data)
    assert "coherence force -> image" in (folder / "results.md").read_text()


def test_token_sequences_get_a_judge_and_are_scored_by_coherence(tmp_path):
    from fusevae.metrics.classifier import ClassifierConfig, fit_classifier

    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, 400)
    tokens = np.zeros((400, 6), np.int64)  # a "caption": the class word, then a filler word, then padding
    tokens[:, 0] = 1 + labels
    tokens[:, 1] = 5 + rng.integers(0, 3, 400)
    vectors = (labels[:, None] == np.arange(4)).astype(np.float32) + rng.normal(0, 0.1, (400, 4)).astype(np.float32)
    data = from_arrays(
        {"caption": tokens, "feature": vectors},
        specs={"caption": {"pad_index": 0, "network_options": {"hidden": 16, "embed_dim": 32}}},
        class_labels=labels,
        num_classes=4,
    )
    assert data.modalities[0].kind == "tokens" and data.modalities[0].num_classes == 8
    judge = fit_classifier(data.train, data.test, "caption", 4, ClassifierConfig(epochs=40))
    assert judge.accuracy > 0.95  # the first token says the class
    run = api.train("mvae", data=data, epochs=2, out=tmp_path / "run", progress=False, overrides=FAST)
    settings = fusevae.evaluation.EvaluationSettings(
        k=5, n_test=20, coherence_items=40, joint_samples=50, judge_epochs=3
    )
    metrics = ["likelihood", "coherence"]
    table = api.evaluate(
        run, k=5, n_test=20, progress=False, figures=False, data=data, metrics=metrics, settings=settings
    )
    flat = table["metrics"]
    assert 0.0 <= flat["coherence feature -> caption (micro)"] <= 1.0 and "joint coherence" in flat
