import gzip

import numpy as np
import pytest
import torch

from fusevae.data import BatchError, IndexBatchSampler, MultimodalTensorDataset, make_batch
from fusevae.data.mnist import load_mnist


def test_mnist_has_the_standard_splits_shapes_and_ranges(mnist):
    assert (len(mnist.train), len(mnist.valid), len(mnist.test)) == (50000, 10000, 10000)
    b = mnist.train[torch.arange(64)]
    assert b.data["image"].shape == (64, 1, 28, 28) and b.data["image"].dtype == torch.float32
    assert 0 <= float(b.data["image"].min()) and float(b.data["image"].max()) <= 1
    assert b.data["label"].dtype == torch.int64 and set(b.data["label"].tolist()) <= set(range(10))
    assert b.mask.shape == (64, 2) and b.mask.all()
    counts = torch.bincount(mnist.test.labels, minlength=10)
    assert (counts > 800).all()


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_and_npz_files_read_like_the_pickle(tmp_path, mnist):
    # 60k-format files built from the real digits: train+valid, then test
    n = 60000
    x = np.concatenate([mnist.train.data["image"].numpy(), mnist.valid.data["image"].numpy()])[:n]
    xb = np.round(x * 255).astype(np.uint8).reshape(n, 28, 28)
    y = np.concatenate([mnist.train.labels.numpy(), mnist.valid.labels.numpy()])
    xt = np.round(mnist.test.data["image"].numpy() * 255).astype(np.uint8).reshape(-1, 28, 28)
    yt = mnist.test.labels.numpy()
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    _write_idx(idx_dir / "train-images-idx3-ubyte.gz", xb)
    _write_idx(idx_dir / "train-labels-idx1-ubyte.gz", y)
    _write_idx(idx_dir / "t10k-images-idx3-ubyte.gz", xt)
    _write_idx(idx_dir / "t10k-labels-idx1-ubyte.gz", yt)
    from_idx = load_mnist(idx_dir)
    npz_dir = tmp_path / "npz"
    npz_dir.mkdir()
    np.savez(npz_dir / "mnist.npz", x_train=xb, y_train=y, x_test=xt, y_test=yt)
    from_npz = load_mnist(npz_dir)
    for loaded in (from_idx, from_npz):
        assert len(loaded.train) == 50000 and len(loaded.valid) == 10000 and len(loaded.test) == 10000
        assert torch.equal(loaded.valid.labels, mnist.valid.labels)
        assert torch.allclose(loaded.test.images, mnist.test.data["image"], atol=1 / 255)


def test_pickle_is_read_through_a_plain_copy_that_is_renewed_when_stale_or_damaged(tmp_path, mnist):
    import os
    import shutil

    from fusevae.data.mnist import CACHE, PICKLE, data_root

    pkl = tmp_path / PICKLE
    shutil.copy(data_root() / PICKLE, pkl)
    cache = tmp_path / CACHE
    first = load_mnist(tmp_path)
    assert cache.exists()
    with np.load(cache, allow_pickle=False) as z:
        assert z["x_train"].dtype == np.float32 and z["x_train"].shape == (50000, 784)
    again = load_mnist(tmp_path)
    for a, b in ((first.train, again.train), (first.test, mnist.test)):
        assert torch.equal(a.images, b.images if hasattr(b, "images") else b.data["image"])
    # a copy older than the pickle, or an unreadable one, is rewritten from the pickle
    old = pkl.stat().st_mtime - 10
    os.utime(cache, (old, old))
    assert torch.equal(load_mnist(tmp_path).valid.images, first.valid.images)
    assert cache.stat().st_mtime > old
    for damage in (b"not a zip file", cache.read_bytes()[:5000]):  # garbage, then a truncated copy
        cache.write_bytes(damage)
        os.utime(cache, (old + 20, old + 20))
        assert torch.equal(load_mnist(tmp_path).test.labels, first.test.labels)
        assert cache.stat().st_size > 1000


def test_missing_mnist_names_the_fetch_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="fusevae data fetch mnist"):
        load_mnist(tmp_path)


def test_per_sample_masks_zero_the_absent_entries():
    data = {"a": torch.randn(4, 3), "b": torch.arange(4)}
    mask = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    ds = MultimodalTensorDataset(data, ("a", "b"), mask=mask)
    batch = ds[torch.arange(4)]
    assert torch.all(batch.data["a"][2] == 0) and batch.data["b"][1] == 0
    assert torch.equal(batch.data["a"][0], data["a"][0])
    with pytest.raises(BatchError, match="at least one present"):
        MultimodalTensorDataset(data, ("a", "b"), mask=torch.zeros(4, 2, dtype=torch.bool))
    bad = {"a": torch.tensor([[float("nan")] * 3] * 4), "b": torch.arange(4)}
    with pytest.raises(BatchError, match="NaN"):
        MultimodalTensorDataset(bad, ("a", "b"))


def test_make_batch_errors_name_the_problem():
    with pytest.raises(BatchError, match="unknown modality"):
        make_batch({"audio": torch.zeros(2, 3)}, ("image", "label"))
    with pytest.raises(BatchError, match="batch size"):
        make_batch({"image": torch.zeros(2, 3), "label": torch.zeros(3)}, ("image", "label"))
    with pytest.raises(BatchError, match="no data was given"):
        make_batch({"image": torch.zeros(2, 3)}, ("image", "label"), mask=torch.ones(2, 2, dtype=torch.bool))
    b = make_batch({"label": torch.tensor([1, 2])}, ("image", "label"))
    assert b.mask.tolist() == [[False, True], [False, True]]


def test_sampler_is_deterministic_per_epoch_and_shards_without_overlap():
    def cat(sampler):
        return torch.cat([idx for idx, _ in sampler])

    s = IndexBatchSampler(103, 10, shuffle=True, seed=5)
    s.set_epoch(2)
    a = cat(s)
    s.set_epoch(2)
    assert torch.equal(a, cat(s))
    s.set_epoch(3)
    assert not torch.equal(a, cat(s))
    assert sorted(a.tolist()) == list(range(103))
    shards = []
    for rank in range(2):
        r = IndexBatchSampler(103, 10, shuffle=True, seed=5)
        r.set_epoch(2)
        r.set_shard(rank, 2)
        shards.append(cat(r))
        assert len(list(r)) == len(r) == 5
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_sampler_resumes_mid_epoch_with_the_same_batches_and_draw_seeds():
    full = IndexBatchSampler(95, 10, shuffle=True, seed=3)
    full.set_epoch(4)
    batches = list(full)
    resumed = IndexBatchSampler(95, 10, shuffle=True, seed=3)
    resumed.load_state_dict({"epoch": 4, "completed": 6, "n": 95, "batch_size": 10, "seed": 3, "world_size": 1})
    resumed.set_epoch(4)
    rest = list(resumed)
    assert len(rest) == 4
    for (a, sa), (b, sb) in zip(batches[6:], rest, strict=True):
        assert torch.equal(a, b) and sa == sb
    resumed.set_epoch(5)  # the resume point applies to its own epoch only, once
    assert len(list(resumed)) == 10
    with pytest.raises(ValueError, match="batch_size"):
        resumed.load_state_dict({"epoch": 4, "completed": 6, "n": 95, "batch_size": 12, "seed": 3, "world_size": 1})


def test_dynamic_binarisation_draws_fresh_binary_images(mnist):
    ds = MultimodalTensorDataset(
        {"image": mnist.test.data["image"][:50], "label": mnist.test.labels[:50]},
        ("image", "label"),
        binarize=("image",),
    )
    a, b = ds[torch.arange(50)].data["image"], ds[torch.arange(50)].data["image"]
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b)


def test_binarised_evaluation_sets_are_fixed_and_training_set_is_dynamic():
    from fusevae.data import load_dataset

    d = load_dataset("mnist", binarize=True)
    idx = torch.arange(20)
    assert torch.equal(d.test[idx].data["image"], d.test[idx].data["image"])
    assert set(d.test[idx].data["image"].unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(d.train[idx].data["image"], d.train[idx].data["image"])
