"""e-MNIST and me-MNIST (M2VAE section 4.1): generation, the 2-sigma latents, the cache, the class shuffle, coherence.

Everything runs on a tiny config (a few channels, one epoch on the first 2,000 items of each split) so the whole
file takes seconds; the default config's full generation is the same code with bigger numbers.
"""

import dataclasses

import numpy as np
import pytest
import torch

import fusevae.data.builtin as data_mod
from fusevae.data import DATASETS, dataset_modalities, fetch_dataset, load_dataset
from fusevae.data import emnist as em
from fusevae.data.fashion import load_fashion_mnist
from fusevae.data.mnist import data_root, load_mnist

TINY = em.CVAEConfig(epochs=1, channels=4, limit=2000)


@pytest.fixture(scope="module")
def sources():
    try:
        return load_mnist(), load_fashion_mnist()
    except FileNotFoundError as e:
        pytest.skip(f"MNIST or Fashion-MNIST not available: {e}")


@pytest.fixture(scope="module")
def tiny(sources):
    return em.make_emnist(*sources, TINY)


@pytest.fixture
def root(sources, tmp_path):
    """A fresh data root that sees the real source files (linked) but none of the real e-MNIST caches."""
    real = data_root()
    for entry in real.iterdir():
        if entry.name != "emnist":
            (tmp_path / entry.name).symlink_to(entry.resolve())
    return tmp_path


@pytest.fixture
def trainings(monkeypatch):
    """Counts the CVAEs trained (two per generated set)."""
    calls = []
    train = em.train_cvae

    def counted(*args, **kwargs):
        calls.append(kwargs.get("name"))
        return train(*args, **kwargs)

    monkeypatch.setattr(em, "train_cvae", counted)
    return calls


def _assert_same(a, b):
    for sa, sb in zip(a.splits(), b.splits()):
        for f in dataclasses.fields(sa):
            np.testing.assert_array_equal(getattr(sa, f.name), getattr(sb, f.name), err_msg=f.name)


def test_shapes_dtypes_ranges_and_class_sequence(tiny, sources):
    mnist = sources[0]
    for part, s in zip(em.SPLITS, tiny.splits()):
        n = 2000
        assert len(s) == n
        for images in (s.mnist, s.fashion):
            assert images.shape == (n, 1, 28, 28) and images.dtype == np.uint8
            assert 0.02 < images.mean() / 255 < 0.6 and images.max() > 128  # real pictures, not blank or saturated
        assert s.labels.dtype == np.int64 and np.array_equal(s.labels, getattr(mnist, part).labels[:n].numpy())
        assert s.z.shape == (n, 2) and s.z.dtype == np.float32 and np.all(np.abs(s.z) <= em.Z_BOUND)
        assert np.array_equal(s.fashion_source, np.arange(n))
    assert not np.array_equal(tiny.train.z, tiny.valid.z)  # each split draws its own latents
    assert tiny.config == TINY


def test_latents_are_a_normal_truncated_at_two_sigma():
    z = em.sample_latents(200_000, 2, seed=5)
    assert z.dtype == np.float32 and np.abs(z).max() <= 2.0
    assert np.abs(z).max() > 1.99 and np.allclose(z.mean(0), 0, atol=0.01)
    # a standard normal truncated to [-2, 2] per coordinate has sd 0.880, not 1 (and not the 0.37 of [-2, 2] clipping)
    assert np.allclose(z.std(0), 0.880, atol=0.005)
    assert np.array_equal(z[:10], em.sample_latents(200_000, 2, seed=5)[:10])
    assert not np.array_equal(z[:10], em.sample_latents(200_000, 2, seed=6)[:10])


def test_the_cvae_has_table_3s_shapes():
    model = em.CVAE(em.CVAEConfig(channels=64))
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 4, 9])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (3, 2)
    assert model.decode(mu, y).shape == (3, 1, 28, 28)

    def layers(seq, kind):
        return [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in seq if isinstance(c, kind)]

    assert layers(model.encoder, torch.nn.Conv2d) == [
        (1, 64, (2, 2), (2, 2)),
        (64, 64, (3, 3), (1, 1)),
        (64, 64, (3, 3), (1, 1)),
    ]
    assert layers(model.decoder, torch.nn.ConvTranspose2d) == [
        (64, 64, (3, 3), (1, 1)),
        (64, 64, (3, 3), (1, 1)),
        (64, 1, (2, 2), (2, 2)),
    ]
    assert all(float(layer.bias.abs().max()) == 0 for layer in model.modules() if hasattr(layer, "bias"))
    assert model.hidden.in_features == 64 * 14 * 14 + 10 and model.hidden.out_features == 128
    assert model.decoder_fc[0].in_features == 2 + 10


def test_training_leaves_the_global_random_state_alone(sources):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    em.train_cvae(sources[0].train.images[:256], sources[0].train.labels[:256], TINY)
    assert torch.equal(torch.rand(3), expected)


def test_same_config_reproduces_the_set_and_the_second_load_hits_the_cache(root, tiny, trainings):
    first = em.load_emnist(root, TINY)
    assert len(trainings) == 2 and em.cache_path(root, TINY).exists()
    _assert_same(first, tiny)  # generated afresh, bit for bit the module fixture's set
    again = em.load_emnist(root, TINY)
    assert len(trainings) == 2  # nothing retrained
    _assert_same(again, first)
    with np.load(em.cache_path(root, TINY), allow_pickle=False) as z:
        assert str(z["config"]) == TINY.to_json()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other config", "bad z"])
def test_a_damaged_or_mismatched_cache_is_generated_again(root, tiny, trainings, damage):
    path = em.cache_path(root, TINY)
    em._write(path, tiny)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "garbage":
        path.write_bytes(b"not an npz at all")
    else:
        other = dataclasses.replace(TINY, seed=1) if damage == "other config" else TINY
        z = tiny.train.z * (3 if damage == "bad z" else 1)
        em._write(path, dataclasses.replace(tiny, config=other, train=dataclasses.replace(tiny.train, z=z)))
    data = em.load_emnist(root, TINY)
    assert len(trainings) == 2
    _assert_same(data, tiny)
    assert em._read(path, TINY) is not None  # the file was replaced by a good one


def test_every_config_field_and_the_version_name_a_different_file(monkeypatch):
    changes = dict(latent_dim=3, beta=1.0, epochs=2, batch_size=64, lr=1e-4, channels=8, hidden=64, seed=1, limit=5)
    assert set(changes) == {f.name for f in dataclasses.fields(em.CVAEConfig)}
    paths = {em.cache_path("/data", TINY)} | {
        em.cache_path("/data", dataclasses.replace(TINY, **{k: v})) for k, v in changes.items()
    }
    assert len(paths) == len(changes) + 1
    assert em.cache_path("/data", TINY) == em.cache_path("/data", em.CVAEConfig(epochs=1, channels=4, limit=2000))
    monkeypatch.setattr(em, "GENERATOR_VERSION", em.GENERATOR_VERSION + 1)
    assert em.cache_path("/data", TINY) not in paths
    with pytest.raises(ValueError, match="channels"):
        em.CVAEConfig(channels=0)
    with pytest.raises(ValueError, match="limit"):
        em.CVAEConfig(limit=0)


def test_memnist_shuffles_the_garments_within_each_class_only(tiny):
    mixed = em.make_memnist(tiny, seed=0)
    for s, m in zip(tiny.splits(), mixed.splits()):
        assert np.array_equal(m.labels, s.labels) and np.array_equal(m.mnist, s.mnist) and np.array_equal(m.z, s.z)
        assert np.array_equal(m.fashion, s.fashion[m.fashion_source])
        assert np.array_equal(s.labels[m.fashion_source], s.labels)
        for c in range(10):  # every class holds exactly its own garments, as a multiset
            mine = m.fashion[m.labels == c].reshape(-1, 784)
            theirs = s.fashion[s.labels == c].reshape(-1, 784)
            assert np.array_equal(mine[np.lexsort(mine.T)], theirs[np.lexsort(theirs.T)])
        assert np.mean(m.fashion_source != np.arange(len(s))) > 0.8  # the pairing changed for nearly every item
    _assert_same(mixed, em.make_memnist(tiny, seed=0))
    assert not np.array_equal(mixed.train.fashion_source, em.make_memnist(tiny, seed=1).train.fashion_source)


def _distance_correlation(data, pairs=2000, seed=0):
    """Over random pairs of same-class test items: how the distances of their digits and of their garments correlate.

    The mean of the ten within-class correlations (pooling classes would add a between-class effect).
    """
    s = data.test
    rng = np.random.default_rng(seed)
    x = {k: getattr(s, k).reshape(len(s), -1).astype(np.float32) / 255 for k in ("mnist", "fashion")}
    out = []
    for c in range(10):
        idx = np.flatnonzero(s.labels == c)
        p = rng.integers(len(idx), size=pairs)
        i, j = idx[p], idx[(p + rng.integers(1, len(idx), size=pairs)) % len(idx)]  # two different items
        out.append(np.corrcoef(*(np.abs(v[i] - v[j]).mean(1) for v in x.values()))[0, 1])
    return float(np.mean(out))


def test_emnist_pairs_vary_together_and_memnist_pairs_do_not(tiny):
    s = tiny.test
    for c in (1, 7):  # items with nearby z have nearby images in both modalities, far more than random pairs
        idx = np.flatnonzero(s.labels == c)
        zz = s.z[idx]
        d = ((zz[:, None] - zz[None]) ** 2).sum(-1) + np.eye(len(idx)) * 1e9
        near = idx[d.argmin(1)]
        rand = np.random.default_rng(0).choice(idx, len(idx))
        for images in (s.mnist, s.fashion):
            x = images.astype(np.float32) / 255

            def gap(other, x=x, idx=idx):
                return np.abs(x[idx] - x[other]).mean()

            assert gap(near) < 0.5 * gap(rand)
    # entanglement: within a class, how different two digits are predicts how different their garments are
    assert _distance_correlation(tiny) > 0.5
    for seed in (0, 1):
        assert abs(_distance_correlation(em.make_memnist(tiny, seed))) < 0.1


def test_a_trained_cvaes_images_move_with_z(sources):
    cfg = dataclasses.replace(TINY, epochs=2)
    model = em.train_cvae(sources[1].train.images[:2000], sources[1].train.labels[:2000], cfg)
    t = np.linspace(-2, 2, 9, dtype=np.float32)
    z = np.stack([t, t], axis=1)
    images = em.decode_means(model, z, np.full(len(z), 3)).astype(np.float32) / 255
    steps = np.abs(np.diff(images, axis=0)).mean((1, 2, 3))
    ends = np.abs(images[0] - images[-1]).mean()
    assert ends > 0.02  # the decoder uses z ...
    assert steps.max() < ends  # ... continuously: no single step along the line jumps as far as the whole line


def test_registered_sets_load_through_load_dataset(monkeypatch, tiny, tmp_path):
    assert {"emnist", "memnist"} <= set(DATASETS)
    for name in ("emnist", "memnist"):
        specs = dataset_modalities(name)
        assert [(m.name, m.kind, m.shape, m.likelihood) for m in specs] == [
            ("mnist", "image", [1, 28, 28], "bernoulli"),
            ("fashion", "image", [1, 28, 28], "bernoulli"),
        ]
    monkeypatch.setattr(data_mod, "load_emnist", lambda root=None, cfg=None, progress=False: tiny)
    e, m = load_dataset("emnist"), load_dataset("memnist")
    assert (e.names, e.num_classes) == (("mnist", "fashion"), 10)
    assert (len(e.train), len(e.valid), len(e.test)) == (2000, 2000, 2000)
    batch = e.test[torch.arange(16)]
    assert set(batch.data) == {"mnist", "fashion"} and e.test.data["mnist"].dtype == torch.uint8
    assert batch.data["fashion"].dtype == torch.float32 and 0 <= batch.data["fashion"].min() <= 1
    assert torch.equal(batch.data["mnist"], torch.from_numpy(tiny.test.mnist[:16]).float() / 255)
    assert torch.equal(batch.labels, torch.from_numpy(tiny.test.labels[:16]))
    assert torch.equal(m.test.data["mnist"], e.test.data["mnist"]) and torch.equal(m.test.labels, e.test.labels)
    assert not torch.equal(m.test.data["fashion"], e.test.data["fashion"])
    binary = load_dataset("emnist", binarize=True)
    assert set(binary.test[torch.arange(64)].data["mnist"].unique().tolist()) <= {0.0, 1.0}
    assert binary.train.binarize == ("mnist", "fashion")
    assert fetch_dataset("emnist", tmp_path) == str(em.cache_path(tmp_path))
    from fusevae import api

    # Bernoulli means under a Bernoulli likelihood: configs start binarised, as for MNIST (issue 16)
    assert api.make_config("m2vae", "emnist").train.binarize and api.make_config("jmvae", "memnist").train.binarize
