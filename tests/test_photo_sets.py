"""Photo backgrounds, the PolyMNIST-style set and the SMVAE transformation modalities."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fusevae.data import polymnist, transforms
from fusevae.data.photos import PHOTOS, load_photo
from fusevae.data.polymnist import composite, digits_on_photo, make_polymnist
from fusevae.data.splits import Split
from fusevae.data.transforms import (
    TRANSFORMS,
    edges,
    grayscale,
    make_transforms,
    occluded,
    photo_digits,
    watermark,
    watermark_mask,
)


@pytest.fixture(scope="module")
def mnist300():
    from fusevae.data.mnist import load_mnist

    try:
        train = load_mnist().train
    except FileNotFoundError as e:
        pytest.skip(f"MNIST is not in the data directory: {e}")
    return Split(train.images[:300].clone(), train.labels[:300].clone())


def synthetic_split(n: int = 60, seed: int = 0) -> Split:
    """Random binary 'digits' with classes 0..9 in turn."""
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float()
    return Split(images, torch.arange(n) % 10)


def constant_photo(value: float) -> np.ndarray:
    return np.full((40, 50, 3), value, dtype=np.float32)


# --- photos -----------------------------------------------------------------------------------


def test_every_photo_loads_offline_as_rgb_float():
    assert len(PHOTOS) >= 10 and len(set(PHOTOS)) == len(PHOTOS)
    for name in PHOTOS:
        img = load_photo(name)
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3, name
        assert img.shape[0] >= 28 and img.shape[1] >= 28, name
        assert 0.0 <= img.min() and img.max() <= 1.0, name
        assert img.std() > 0.02, name  # a picture, not a flat fill


def test_first_photos_are_colourful():
    for name in PHOTOS[:5]:
        img = load_photo(name)
        assert np.abs(img - img.mean(axis=2, keepdims=True)).mean() > 0.02, name


def test_unknown_photo_raises():
    with pytest.raises(ValueError, match="unknown photo"):
        load_photo("no_such_photo")


# --- compositing ------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float32, (2, 3, 5, 6), elements=st.floats(0, 1, width=32)),
    arrays(np.bool_, (2, 5, 6)),
)
def test_composite_inverts_background_under_the_digit(bg, ink):
    out = composite(ink.astype(np.float32), bg)
    mask = np.broadcast_to(ink[:, None], bg.shape)
    np.testing.assert_array_equal(out[~mask], bg[~mask])  # no ink: the background itself
    np.testing.assert_allclose(out[mask], 1.0 - bg[mask], atol=1e-6)  # full ink: inverted colours
    half = composite(np.full(ink.shape, 0.5, dtype=np.float32), bg)
    np.testing.assert_allclose(half, 0.5, atol=1e-6)  # blended by intensity


def test_digits_on_photo_uses_windows_of_the_photo():
    h, w = 60, 70  # pixel (y, x) of this photo has colour (y, x, 7) / 255, so a crop tells where it came from
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    photo = np.stack([yy, xx, np.full_like(yy, 7)], axis=2).astype(np.float32) / 255.0
    out = digits_on_photo(np.zeros((50, 28, 28), np.float32), photo, np.random.default_rng(0))
    assert out.shape == (50, 3, 28, 28) and out.dtype == np.uint8
    top, left = out[:, 0, 0, 0].astype(int), out[:, 1, 0, 0].astype(int)
    assert top.max() <= h - 28 and left.max() <= w - 28 and len(set(zip(top, left))) > 40
    np.testing.assert_array_equal(out[:, 0], np.broadcast_to(top[:, None, None] + np.arange(28)[:, None], (50, 28, 28)))
    np.testing.assert_array_equal(out[:, 1], np.broadcast_to(left[:, None, None] + np.arange(28), (50, 28, 28)))
    assert (out[:, 2] == 7).all()
    inked = digits_on_photo(np.ones((50, 28, 28), np.float32), photo, np.random.default_rng(0))
    np.testing.assert_array_equal(inked, 255 - out)  # same crops, full ink: inverted


# --- PolyMNIST --------------------------------------------------------------------------------


def test_polymnist_shapes_dtypes_and_labels(mnist300):
    mods, labels = make_polymnist(mnist300, m=5, partners=2, seed=0)
    assert list(mods) == ["m0", "m1", "m2", "m3", "m4"]
    for x in mods.values():
        assert x.shape == (600, 3, 28, 28) and x.dtype == torch.uint8
        assert x.float().std() > 10  # real images, not blank
    assert labels.dtype == torch.int64
    torch.testing.assert_close(labels, mnist300.labels.repeat_interleave(2))


@pytest.mark.parametrize("m", [0, -1, 11])
def test_polymnist_rejects_bad_modality_counts(m):
    with pytest.raises(ValueError, match="between 1 and 10"):
        make_polymnist(synthetic_split(), m=m)


def test_polymnist_with_one_and_ten_modalities():
    split = synthetic_split(20)
    assert list(make_polymnist(split, m=1)[0]) == ["m0"]
    ten, _ = make_polymnist(split, m=10)
    assert len(ten) == 10 and all(x.shape == (20, 3, 28, 28) for x in ten.values())


def test_every_modality_shows_a_source_digit_of_the_item_class(mnist300, monkeypatch):
    # On a flat 0.2 background a digit of intensity a is drawn as 0.2 + 0.6 a: decode it and find its source.
    monkeypatch.setattr(polymnist, "load_photo", lambda name: constant_photo(0.2))
    mods, labels = make_polymnist(mnist300, m=4, partners=1, seed=3)
    sources = mnist300.images[:, 0].reshape(len(mnist300), -1)
    found = []
    for x in mods.values():
        decoded = ((x.float() / 255 - 0.2) / 0.6).mean(dim=1).reshape(len(x), -1)
        dist, rows = torch.cdist(decoded, sources).min(dim=1)
        assert (decoded - sources[rows]).abs().max() < 0.01  # exactly a source digit, up to uint8 rounding
        torch.testing.assert_close(mnist300.labels[rows], labels)  # of the item's class
        found.append(rows)
    torch.testing.assert_close(found[0], torch.arange(len(mnist300)))  # modality 0 shows the anchor digit
    for j in range(4):
        for k in range(j + 1, 4):
            assert (found[j] == found[k]).float().mean() < 0.2  # other modalities: other instances


def test_modalities_of_an_item_differ(mnist300):
    mods, _ = make_polymnist(mnist300, m=5, seed=0)
    xs = list(mods.values())
    for j in range(5):
        for k in range(j + 1, 5):
            assert (xs[j] != xs[k]).flatten(1).any(dim=1).all()


def test_polymnist_is_seeded():
    split = synthetic_split(40)
    a, la = make_polymnist(split, m=3, seed=1)
    b, lb = make_polymnist(split, m=3, seed=1)
    c, _ = make_polymnist(split, m=3, seed=2)
    torch.testing.assert_close(la, lb)
    for key in a:
        assert torch.equal(a[key], b[key])
        assert not torch.equal(a[key], c[key])


def test_fewer_modalities_are_a_prefix():
    split = synthetic_split(30)
    two, _ = make_polymnist(split, m=2, seed=5)
    four, _ = make_polymnist(split, m=4, seed=5)
    for key in two:
        assert torch.equal(two[key], four[key])


# --- transformations --------------------------------------------------------------------------


def random_images(n: int = 4, h: int = 28, w: int = 28, high: int = 256, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, high, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_make_transforms_shapes_and_dtypes():
    x = random_images(5)
    out = make_transforms(x, TRANSFORMS + ("flipped",))
    assert 4 <= len(TRANSFORMS) <= 6 and list(out) == list(TRANSFORMS) + ["flipped"]
    channels = {"grayscale": 1, "edges": 1}
    for name, y in out.items():
        assert y.dtype == torch.uint8 and y.shape == (5, channels.get(name, 3), 28, 28), name
    assert torch.equal(out["original"], x)
    assert torch.equal(out["flipped"], x.flip(3))


def test_unknown_transform_raises_naming_the_known_ones():
    with pytest.raises(ValueError, match="blur.*known: original, grayscale, edges"):
        make_transforms(random_images(), ("original", "blur"))


def test_transforms_reject_float_images():
    with pytest.raises(ValueError, match="uint8"):
        make_transforms(random_images().float())


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 3), st.just(1), st.integers(1, 9), st.integers(1, 9))))
def test_grayscale_of_a_gray_image_is_its_channel(gray):
    x = torch.from_numpy(gray).expand(-1, 3, -1, -1).contiguous()
    assert torch.equal(grayscale(x), torch.from_numpy(gray))


def test_grayscale_weights_green_most():
    x = torch.zeros(3, 3, 2, 2, dtype=torch.uint8)
    for c in range(3):
        x[c, c] = 255
    assert grayscale(x)[:, 0, 0, 0].tolist() == [76, 150, 29]  # 0.299, 0.587, 0.114 of 255


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 3), st.just(3), st.integers(1, 9), st.integers(1, 9))))
def test_occluded_blacks_out_exactly_the_right_half(x):
    x = torch.from_numpy(x)
    before = x.clone()
    y = occluded(x)
    half = x.shape[3] // 2
    assert (y[..., half:] == 0).all()
    assert torch.equal(y[..., :half], x[..., :half])
    assert torch.equal(x, before)  # the input is left untouched


def test_watermark_is_fixed_and_touches_only_the_mark():
    mask = torch.from_numpy(watermark_mask(28, 28))
    assert 20 < int(mask.sum()) < 28 * 28 // 2
    x = random_images(6, high=200)
    y = watermark(x)
    assert torch.equal(y, watermark(x.clone()))  # identical across calls
    assert torch.equal(y[:, :, ~mask], x[:, :, ~mask])  # untouched off the mark
    assert (y[:, :, mask] != x[:, :, mask]).all()  # changed on every pixel of the mark
    assert (y[:, :, mask] > x[:, :, mask]).all()  # a white mark brightens
    black = watermark(torch.zeros(3, 3, 28, 28, dtype=torch.uint8))
    assert (black[:, :, mask] == black[0, 0][mask][0]).all() and (black[:, :, ~mask] == 0).all()  # same mark everywhere


def test_edges_trace_a_square_and_nothing_else():
    x = torch.zeros(1, 3, 28, 28, dtype=torch.uint8)
    x[:, :, 8:20, 8:20] = 255
    e = edges(x)[0, 0]
    assert set(e.unique().tolist()) <= {0, 255}
    on = e > 0
    assert on[10:18, 6:10].any(dim=1).all() and on[10:18, 18:22].any(dim=1).all()  # every row crosses left and right
    assert on[6:10, 10:18].any(dim=0).all() and on[18:22, 10:18].any(dim=0).all()  # every column, top and bottom
    assert not on[:5].any() and not on[23:].any() and not on[:, :5].any() and not on[:, 23:].any()  # flat outside
    assert not on[11:17, 11:17].any()  # flat inside
    assert not edges(torch.full((2, 3, 28, 28), 90, dtype=torch.uint8)).any()


def test_photo_digits_draws_each_item_on_one_of_the_first_five_photos(monkeypatch):
    values = {name: (i + 1) / 16 for i, name in enumerate(PHOTOS)}
    monkeypatch.setattr(transforms, "load_photo", lambda name: constant_photo(values[name]))
    split = Split(torch.zeros(200, 1, 28, 28), torch.arange(200) % 10)
    split.images[:, :, :, 14:] = 1.0  # blank left half, full ink on the right half
    x, labels = photo_digits(split, seed=0)
    assert x.shape == (200, 3, 28, 28) and x.dtype == torch.uint8
    torch.testing.assert_close(labels, split.labels)
    bg = x[:, 0, 0, 0]
    assert set(bg.tolist()) == {round(v * 255) for v in list(values.values())[:5]}
    assert (x[..., :14] == bg.view(-1, 1, 1, 1)).all()  # background where there is no ink
    assert (x[..., 14:] == 255 - bg.view(-1, 1, 1, 1)).all()  # inverted where there is
    again, _ = photo_digits(split, seed=0)
    other, _ = photo_digits(split, seed=1)
    assert torch.equal(x, again) and not torch.equal(x, other)


def test_photo_digits_on_real_photos(mnist300):
    x, labels = photo_digits(mnist300, seed=0)
    assert x.shape == (300, 3, 28, 28) and x.dtype == torch.uint8
    torch.testing.assert_close(labels, mnist300.labels)
    out = make_transforms(x)
    assert (out["edges"] > 0).float().mean() > 0.02  # the photos give Canny something to find
