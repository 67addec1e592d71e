"""Fashion-MNIST from its IDX files, and missing sensors dropped per item with a fixed seed."""

import numpy as np
import pytest
import torch

from fusevae import api
from fusevae.data import BatchError, MultimodalTensorDataset, load_dataset
from fusevae.data.fashion import FILES, FOLDER, SYSTEM_DIR, load_fashion_mnist
from fusevae.data.mnist import data_root
from fusevae.model import MultimodalVAE

from .conftest import small_config
from .test_data import _write_idx
from .test_training import SMALL


def _fashion_available():
    return any(all((d / f).exists() for f in FILES.values()) for d in (data_root() / FOLDER, SYSTEM_DIR))


def test_fashion_idx_files_load_with_the_standard_split(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / FOLDER
    folder.mkdir()
    images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
    labels = np.arange(60000) % 10
    _write_idx(folder / FILES["train_images"], images)
    _write_idx(folder / FILES["train_labels"], labels)
    _write_idx(folder / FILES["test_images"], images[:10000])
    _write_idx(folder / FILES["test_labels"], labels[:10000])
    splits = load_fashion_mnist(tmp_path)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (50000, 10000, 10000)
    assert splits.train.images.shape == (50000, 1, 28, 28) and splits.train.images.dtype == torch.float32
    assert torch.allclose(splits.valid.images[3, 0], torch.from_numpy(images[50003] / 255.0).float())
    assert torch.equal(splits.valid.labels[:3], torch.tensor([0, 1, 2]))
    (folder / FILES["test_labels"]).unlink()
    if not (SYSTEM_DIR / FILES["test_labels"]).exists():
        with pytest.raises(FileNotFoundError, match="fusevae data fetch fashion"):
            load_fashion_mnist(tmp_path)


@pytest.mark.skipif(not _fashion_available(), reason="Fashion-MNIST not fetched (`fusevae data fetch fashion`)")
def test_real_fashion_mnist_has_its_shapes_ranges_and_classes():
    data = load_dataset("fashion")
    assert data.name == "fashion" and (len(data.train), len(data.valid), len(data.test)) == (50000, 10000, 10000)
    x = data.test.data["image"]
    assert x.shape == (10000, 1, 28, 28) and float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.equal(torch.bincount(data.test.labels), torch.full((10,), 1000))
    assert data.test.labels[:4].tolist() == [9, 2, 1, 1]  # ankle boot, pullover, trouser, trouser


def _dataset(n=4000, m=3):
    data = {"image": torch.rand(n, 1, 28, 28), "label": torch.randint(0, 10, (n,))}
    names = ("image", "label")
    for i in range(m - 2):
        data[f"vec{i}"] = torch.randn(n, 5)
        names += (f"vec{i}",)
    return MultimodalTensorDataset(data, names)


def test_dropping_modalities_follows_the_rates_is_seeded_and_never_empties_an_item():
    ds = _dataset()
    dropped = ds.drop_modalities({"image": 0.3, "vec0": 0.6}, seed=7)
    rate = 1 - dropped.mask.float().mean(0)
    assert abs(rate[0] - 0.3) < 0.04 and float(rate[1]) == 0.0 and abs(rate[2] - 0.6) < 0.04
    assert torch.equal(dropped.mask, ds.drop_modalities({"image": 0.3, "vec0": 0.6}, seed=7).mask)
    assert not torch.equal(dropped.mask, ds.drop_modalities({"image": 0.3, "vec0": 0.6}, seed=8).mask)
    everything = ds.drop_modalities({"image": 1.0, "label": 1.0, "vec0": 1.0}, seed=0)
    assert torch.equal(everything.mask.sum(1), torch.ones(len(ds), dtype=torch.long))  # one kept per item
    kept = everything.mask.float().mean(0)
    assert all(abs(k - 1 / 3) < 0.04 for k in kept)  # the kept one is uniform
    with pytest.raises(BatchError, match="unknown modality"):
        ds.drop_modalities({"depth": 0.5}, seed=0)
    with pytest.raises(BatchError, match=r"in \[0, 1\]"):
        ds.drop_modalities({"image": 1.5}, seed=0)


def test_dropped_modalities_are_masked_and_never_reach_an_encoder():
    ds = _dataset(n=64, m=2).drop_modalities({"image": 0.5}, seed=1)
    model = MultimodalVAE(small_config())
    seen = []
    model.nets["image"].encoder.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    batch = ds[torch.arange(64)]
    model.posterior(batch)
    absent = ~batch.mask[:, 0]
    assert absent.any() and float(seen[0][absent].abs().sum()) == 0.0
    assert torch.equal(seen[0][~absent], ds.data["image"][~absent])


def test_training_with_missing_sensors(tmp_path, mnist, monkeypatch):
    masks = []
    original = MultimodalTensorDataset.drop_modalities

    def spy(self, rates, seed):
        out = original(self, rates, seed)
        masks.append(out.mask)
        return out

    monkeypatch.setattr(MultimodalTensorDataset, "drop_modalities", spy)
    extra = ["train.epochs=1", "train.limit_train=640", "train.missing.label=0.5"]
    cfg = api.make_config("mvae", "mnist", SMALL + extra)
    run = api.train(cfg, out=tmp_path / "missing", progress=False)
    assert (run / "model.safetensors").exists()
    train_mask, val_mask = masks  # training and validation sets, each with its own seed
    assert len(train_mask) == 640 and bool(train_mask[:, 0].all())
    assert abs(1 - float(train_mask[:, 1].float().mean()) - 0.5) < 0.08
    with pytest.raises(ValueError, match="unknown modality"):
        api.make_config("mvae", "mnist", ["train.missing.depth=0.5"])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        api.make_config("mvae", "mnist", ["train.missing.label=2"])


def _animal_available():
    from fusevae.data.animal import FILES as ANIMAL_FILES
    from fusevae.data.animal import FOLDER as ANIMAL_FOLDER

    return all((data_root() / ANIMAL_FOLDER / f).exists() for f in ANIMAL_FILES.values())


@pytest.mark.skipif(not _animal_available(), reason="Animal-MNIST not fetched (`fusevae data fetch animal`)")
def test_real_animal_mnist_has_a_fixed_class_stratified_split():
    from fusevae.data.animal import load_animal_mnist

    data = load_dataset("animal")
    assert (len(data.train), len(data.valid), len(data.test)) == (8000, 1000, 1000)
    for part, per_class in ((data.train, 800), (data.valid, 100), (data.test, 100)):
        assert torch.equal(torch.bincount(part.labels), torch.full((10,), per_class))
        x = part.data["image"]
        assert x.shape[1:] == (1, 28, 28) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    again = load_animal_mnist()
    assert torch.equal(again.test.images, data.test.data["image"])  # the split is fixed


@pytest.mark.skipif(
    not (_fashion_available() and _animal_available()), reason="Fashion-MNIST or Animal-MNIST not fetched"
)
def test_paired_sets_pair_by_class_with_a_fixed_seed_and_share_the_source_images(tmp_path):
    data = load_dataset("mnist-fashion-animal")
    assert [m.name for m in data.modalities] == ["mnist", "fashion", "animal"]
    assert (len(data.train), len(data.valid), len(data.test)) == (100000, 10000, 10000)
    fashion, animal = load_dataset("fashion"), load_dataset("animal")
    for part, source_f, source_a in ((data.train, fashion.train, animal.train), (data.test, fashion.test, animal.test)):
        assert torch.equal(source_f.labels[part.rows["fashion"]], part.labels)  # every pair shares its class
        assert torch.equal(source_a.labels[part.rows["animal"]], part.labels)
        assert part.data["fashion"].shape[0] == len(source_f)  # images held once, items index them
    # each MNIST training digit appears with two partners; the draw is fixed by the seed
    assert torch.equal(torch.bincount(data.train.rows["mnist"]), torch.full((50000,), 2))
    again = load_dataset("mnist-fashion-animal")
    assert torch.equal(again.train.rows["animal"], data.train.rows["animal"])
    batch = data.test[torch.arange(4)]
    assert torch.equal(batch.data["animal"], animal.test.data["image"][data.test.rows["animal"][:4]])
    small = data.train.subset(300).drop_modalities({"animal": 0.5}, seed=0)
    assert len(small) == 300 and torch.equal(small.rows["fashion"], data.train.rows["fashion"][:300])
    nets = [f"model.modalities.{m}.network_options.width=8" for m in ("mnist", "fashion")]
    cfg = api.make_config(
        "mvae", "mnist-fashion", [*nets, "train.epochs=1", "train.limit_train=512", "train.limit_val=200"]
    )
    run = api.train(cfg, out=tmp_path / "paired", progress=False)
    paths = api.generate(run, n=3)
    names = ["reconstructions_mnist.png", "reconstructions_fashion.png", "cross_mnist.png", "cross_fashion.png"]
    assert [p.name for p in paths] == names
    table = api.evaluate(run, k=10, n_test=20, progress=False, figures=False)
    joint, marginals = "log p(mnist,fashion)", {"log p(mnist)", "log p(fashion)"}
    assert set(table["q(z|mnist,fashion)"]) >= {joint, *marginals, "log p(mnist|fashion)", "log p(fashion|mnist)"}


def test_pairing_rows_follow_the_class_of_each_anchor():
    from fusevae.data.paired import pair_by_class
    from fusevae.data.splits import Split

    anchor = Split(torch.zeros(30, 1, 28, 28), torch.arange(30) % 3)
    other = Split(torch.zeros(12, 1, 28, 28), torch.tensor([2, 1, 0] * 4))
    (a_rows, o_rows), labels = pair_by_class(anchor, [other], k=4, seed=3)
    assert len(a_rows) == 120 and torch.equal(anchor.labels[a_rows], labels)
    assert torch.equal(other.labels[o_rows], labels)
    assert len(o_rows.unique()) == 12  # partners are reused across anchors and all get used
    lonely = Split(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class 2 has no item"):
        pair_by_class(anchor, [lonely], k=1, seed=0)


def test_rows_must_index_their_modality():
    data = {"image": torch.rand(5, 1, 28, 28), "label": torch.arange(3)}
    with pytest.raises(BatchError, match="rows of 'image'"):
        MultimodalTensorDataset(data, ("image", "label"), rows={"image": torch.tensor([0, 1, 9])})
    ok = MultimodalTensorDataset(data, ("image", "label"), rows={"image": torch.tensor([4, 4, 0])})
    assert torch.equal(ok[torch.arange(3)].data["image"][1], data["image"][4])
