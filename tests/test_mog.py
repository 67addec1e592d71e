"""The M2VAE mixture of Gaussians: its collapsed class means, noise, scaling and split."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.data import load_dataset
from fusevae.data.mog import CIRCLE_MEANS, GRID_MEANS, make_mog, split_mog


def _class_means(v, labels):
    return np.stack([v[labels == c].mean(0) for c in range(10)])


def test_the_generator_collapses_exactly_the_papers_classes():
    labels = np.repeat(np.arange(10), 3000)
    x, w = make_mog(labels, seed=0)
    mx, mw = _class_means(x, labels), _class_means(w, labels)
    same_x = [{5, 6, 7}, {0, 8}]
    for a, b in itertools.combinations(range(10), 2):
        together = any({a, b} <= group for group in same_x)
        assert (np.linalg.norm(mx[a] - mx[b]) < 0.01) == together, (a, b)
        assert (np.linalg.norm(mw[a] - mw[b]) < 0.01) == ({a, b} == {0, 9}), (a, b)


def test_means_noise_and_scaling_follow_the_construction():
    labels = np.repeat(np.arange(10), 5000)
    x, w = make_mog(labels, seed=1)
    for v in (x, w):
        assert v.dtype == np.float32 and v.min() == 0.0 and v.max() == 1.0
    # undo the min-max scaling with the raw means' span: the noise sd comes back as built
    assert np.allclose(CIRCLE_MEANS[1], (np.cos(2 * np.pi / 9), np.sin(2 * np.pi / 9)))
    assert np.allclose(CIRCLE_MEANS[0], CIRCLE_MEANS[9]) and np.allclose(GRID_MEANS[0], GRID_MEANS[8])
    raw_x = GRID_MEANS[labels] + 0.06 * np.random.default_rng(1).standard_normal((len(labels), 2))
    span = raw_x.max(0) - raw_x.min(0)
    sd = (x * span + raw_x.min(0) - GRID_MEANS[labels]).std(0)
    assert np.allclose(sd, 0.06, atol=0.002)


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=20, deadline=None)
def test_any_seed_is_reproducible_and_in_range(seed):
    labels = np.arange(200) % 10
    a, b = make_mog(labels, seed), make_mog(labels, seed)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert 0.0 <= a[0].min() and a[1].max() <= 1.0


def test_split_is_99_to_1_and_disjoint():
    train, test = split_mog(60000)
    assert (len(train), len(test)) == (59400, 600) and not set(train) & set(test)
    with pytest.raises(ValueError, match="classes 0..9"):
        make_mog(np.array([3, 10]))


def test_the_mog_data_set_uses_the_60000_mnist_training_labels(mnist):
    ds = load_dataset("mog")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (58800, 600, 600)
    labels = torch.cat([ds.train.labels, ds.valid.labels, ds.test.labels])
    expected = torch.cat([mnist.train.labels, mnist.valid.labels])
    assert torch.equal(torch.bincount(labels), torch.bincount(expected))
    assert tuple(ds.test.data["x"].shape) == (600, 2) and [m.name for m in ds.modalities] == ["x", "w"]
