"""The built sets through load_dataset: PolyMNIST-style, transformations, scenes; shapes, ranges, masks, a run."""

import pytest
import torch

import fusevae.data.builtin as data_mod
from fusevae import api
from fusevae.data import dataset_modalities, load_dataset
from fusevae.data.scenes import render_scenes
from fusevae.data.splits import Split, Splits


def _small_mnist(n=(600, 200, 200)):
    def load(root=None):
        g = torch.Generator().manual_seed(0)
        parts = []
        for k in n:
            labels = torch.arange(k) % 10
            parts.append(Split((torch.rand(k, 1, 28, 28, generator=g) > 0.8).float(), labels))
        return Splits(*parts)

    return load


@pytest.mark.parametrize("name,m", [("polymnist", 5), ("polymnist-2", 2), ("polymnist-10", 10)])
def test_polymnist_through_load_dataset(monkeypatch, name, m):
    monkeypatch.setattr(data_mod, "load_mnist", _small_mnist())
    ds = load_dataset(name)
    names = tuple(f"m{i}" for i in range(m))
    assert [s.name for s in ds.modalities] == list(names) and (len(ds.train), len(ds.valid), len(ds.test)) == (
        600,
        200,
        200,
    )
    assert torch.equal(ds.test.labels, torch.arange(200) % 10)
    for part in (ds.train, ds.test):
        batch = part[torch.arange(8)]
        assert all(tuple(batch.data[n].shape[1:]) == (3, 28, 28) for n in names)
        assert all(part.data[n].dtype == torch.uint8 for n in names)
    assert ds.names == names and ds.evaluation.resolve(names).marginals == tuple((n,) for n in names)


@pytest.mark.parametrize("name", ["polymnist-0", "polymnist-11", "polymnist-x", "scene"])
def test_unknown_or_out_of_range_set_names_fail(name):
    with pytest.raises(ValueError, match="unknown data set"):
        dataset_modalities(name)


def test_transforms_through_load_dataset(monkeypatch):
    monkeypatch.setattr(data_mod, "load_mnist", _small_mnist())
    ds = load_dataset("transforms")
    names = ("original", "grayscale", "edges", "watermark", "occluded")
    assert tuple(s.name for s in ds.modalities) == names
    batch = ds.test[torch.arange(20)]
    assert tuple(batch.data["grayscale"].shape[1:]) == (1, 28, 28) and tuple(batch.data["original"].shape[1:]) == (
        3,
        28,
        28,
    )
    assert set(batch.data["edges"].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(batch.data["occluded"][..., 14:], torch.zeros_like(batch.data["occluded"][..., 14:]))
    assert torch.equal(batch.data["occluded"][..., :14], batch.data["original"][..., :14])


def test_binarised_built_sets_are_fixed_for_evaluation_and_drawn_for_training(monkeypatch):
    monkeypatch.setattr(data_mod, "load_mnist", _small_mnist())
    ds = load_dataset("polymnist-2", binarize=True)
    x = ds.test[torch.arange(30)].data["m0"]
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, load_dataset("polymnist-2", binarize=True).test[torch.arange(30)].data["m0"])
    assert ds.train.binarize == ("m0", "m1")


def _small_scenes(n=400):
    scenes = render_scenes(n, seed=0)
    return lambda root=None, **kw: scenes


def test_scenes_through_load_dataset_with_missing_radar_train_and_cross_generate(monkeypatch, tmp_path):
    monkeypatch.setattr(data_mod, "load_scenes", _small_scenes())
    ds = load_dataset("scenes")
    assert tuple(s.name for s in ds.modalities) == ("image", "depth", "radar")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (280, 40, 80)
    assert ds.num_classes == 16 and ds.class_names[5] == "near-right+far-right"
    assert 1 <= int(ds.test.labels.min()) and int(ds.test.labels.max()) <= 15
    batch = ds.test[torch.arange(4)]
    assert tuple(batch.data["image"].shape[1:]) == (3, 32, 32) and tuple(batch.data["radar"].shape[1:]) == (1, 32, 32)
    assert [m.network for m in ds.modalities] == ["conv"] * 3  # the scenes' own networks
    nets = [f"model.modalities.{m}.network_options.width=8" for m in ("image", "depth", "radar")]
    extra = ["train.epochs=1", "train.batch_size=64", "train.missing.radar=0.5", "model.latent_dim=8"]
    cfg = api.make_config("mvae", "scenes", nets + extra)
    run = api.train(cfg, out=tmp_path / "scenes", progress=False)
    paths = api.generate(run, n=3)
    recon = [f"reconstructions_{m}.png" for m in ("image", "depth", "radar")]
    assert [p.name for p in paths] == [*recon, "cross_image.png", "cross_depth.png", "cross_radar.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.mark.skipif(
    not data_mod.cache_path().exists(), reason="scenes not rendered yet (`fusevae data fetch scenes`, ~20 s)"
)
def test_the_real_scene_set_has_its_documented_size_and_classes():
    ds = load_dataset("scenes")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (12412, 1772, 3545)
    counts = torch.bincount(ds.train.labels, minlength=16)
    assert counts[0] == 0 and counts[15] == 0 and bool((counts[1:15] > 0).all())  # 3 objects fill 3 quadrants at most


def test_the_six_transformation_set_adds_the_mirrored_image(monkeypatch):
    monkeypatch.setattr(data_mod, "load_mnist", _small_mnist())
    d = load_dataset("transforms-6")
    assert d.names == ("original", "grayscale", "edges", "watermark", "occluded", "flipped")
    items = d.test[torch.arange(5)].data
    assert torch.equal(items["flipped"], items["original"].flip(-1))


def test_the_transformations_draw_smvae_fig6_translations_and_score_each_from_the_others(monkeypatch, tmp_path):
    from fusevae.metrics.cross_error import cross_error

    monkeypatch.setattr(data_mod, "load_mnist", _small_mnist((300, 100, 100)))
    ds = load_dataset("transforms")
    assert (("grayscale",), "original") in ds.showcase and (("occluded",), "original") in ds.showcase
    nets = [f"model.modalities.{m}.network_options.width=8" for m in ds.names]
    cfg = api.make_config("smvae", ds, [*nets, "train.epochs=1", "model.latent_dim=8", "train.threads=1"])
    run = api.train(cfg, data=ds, out=tmp_path / "t", progress=False)
    paths = api.generate(run, n=3, data=ds)
    assert (tmp_path / "t" / "figures" / "translations.png") in paths
    cells = cross_error(api.load(run), ds.test)
    assert {c.target for c in cells} == set(ds.names) and len(cells) == 5 * 6  # itself, 4 others, all others
