"""The procedural image/depth/radar scenes (stand-in for Multimodal Shapes 3D)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.data import scenes as sc

N, SEED, SIZE = 40, 3, 32


@pytest.fixture(scope="module")
def scenes():
    return sc.render_scenes(N, seed=SEED, size=SIZE)


@pytest.fixture(scope="module")
def empty():
    return sc.render_scene([], SIZE)


def _objects(seed, i):
    return sc.sample_objects(np.random.default_rng([seed, i]))


def _fields(s):
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


def _assert_same(a, b):
    fa, fb = _fields(a), _fields(b)
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


def _radar_in_boxes(s, i, margin=1):
    """Every nonzero radar cell of scene i lies within `margin` cells of some object's bird's-eye box."""
    rows, cols = np.nonzero(s.radar[i, 0])
    inside = np.zeros(len(rows), bool)
    for x0, y0, x1, y1 in s.radar_boxes[i, : s.count[i]]:
        inside |= (cols >= x0 - margin) & (cols < x1 + margin) & (rows >= y0 - margin) & (rows < y1 + margin)
    return inside.all()


def test_shapes_dtypes_and_ranges(scenes):
    s, k = scenes, sc.MAX_OBJECTS
    expected = {
        "image": ((N, 3, SIZE, SIZE), np.uint8),
        "depth": ((N, 1, SIZE, SIZE), np.uint8),
        "radar": ((N, 1, SIZE, SIZE), np.uint8),
        "ids": ((N, SIZE, SIZE), np.int8),
        "shapes": ((N, k), np.int64),
        "colours": ((N, k), np.int64),
        "positions": ((N, k, 2), np.float32),
        "sizes": ((N, k), np.float32),
        "yaws": ((N, k), np.float32),
        "boxes": ((N, k, 4), np.int64),
        "radar_boxes": ((N, k, 4), np.int64),
        "count": ((N,), np.int64),
        "labels": ((N,), np.int64),
    }
    for name, (shape, dtype) in expected.items():
        a = getattr(s, name)
        assert a.shape == shape and a.dtype == dtype, name
    assert len(s) == N
    assert set(np.unique(s.count)) == {1, 2, 3}
    present = np.arange(k) < s.count[:, None]
    assert np.array_equal(s.shapes >= 0, present)
    for name in ("shapes", "colours", "sizes", "yaws", "boxes", "radar_boxes", "positions"):
        assert np.all(getattr(s, name)[~present] == -1), name
    assert np.all(s.shapes[present] < len(sc.SHAPES)) and np.all(s.colours[present] < len(sc.COLOURS))
    lo, hi = sc.SIZE_RANGE
    assert np.all((s.sizes[present] >= lo) & (s.sizes[present] <= hi))
    assert np.all(s.yaws[present] >= 0) and np.all(s.yaws[present] < np.pi / 2)
    assert np.all(s.yaws[present & (s.shapes != sc.SHAPES.index("cube"))] == 0)
    assert np.all((s.ids >= -1) & (s.ids < s.count[:, None, None]))
    assert np.all(s.labels == [sum({2 ** int(j) for j in row if j >= 0}) for row in s.shapes])
    assert np.all((s.labels >= 1) & (s.labels < 2 ** len(sc.SHAPES)))
    assert np.all(s.radar_boxes[present] >= 0) and np.all(s.radar_boxes[present] <= SIZE)
    # every sensor carries signal: objects make near depth, sky/far ground saturates, radar has returns
    assert s.depth.min() < 128 and s.depth.max() == 255 and s.radar.max() > 0 and s.image.std() > 10


def test_deterministic_and_prefix_stable(scenes):
    _assert_same(scenes, sc.render_scenes(N, seed=SEED, size=SIZE))
    _assert_same(scenes.take(np.arange(7)), sc.render_scenes(7, seed=SEED, size=SIZE))
    other = sc.render_scenes(7, seed=SEED + 1, size=SIZE)
    assert not np.array_equal(other.image, scenes.image[:7])
    assert not np.array_equal(other.positions, scenes.positions[:7])


def test_take_and_len(scenes):
    mask = scenes.count == 2
    sub = scenes.take(mask)
    assert len(sub) == mask.sum() and np.all(sub.count == 2)
    np.testing.assert_array_equal(sub.image, scenes.image[mask])


def test_depth_nearer_than_ground_and_colour_only_changes_at_objects(scenes, empty):
    changed_on_object = changed = strictly_nearer = covered = 0
    empty_depth = np.rint(empty["depth"][0] * 255).astype(np.uint8)
    for i in range(N):
        r = sc.render_scene(_objects(SEED, i), SIZE)
        obj = r["ids"] >= 0
        np.testing.assert_array_equal(r["ids"], scenes.ids[i])
        assert obj.any()
        assert np.all(r["depth"][0][obj] < empty["depth"][0][obj])
        assert np.all(scenes.depth[i, 0][obj] <= empty_depth[obj])  # uint8 may round a sliver at a base to equal
        strictly_nearer += (scenes.depth[i, 0][obj] < empty_depth[obj]).sum()
        covered += obj.sum()
        diff = np.abs(r["image"] - empty["image"]).max(axis=0) > 1e-9
        near_obj = np.zeros_like(obj)  # object pixels dilated by one pixel (anti-aliased borders)
        padded = np.pad(obj, 1)
        for dy in range(3):
            for dx in range(3):
                near_obj |= padded[dy : dy + SIZE, dx : dx + SIZE]
        assert not np.any(diff & ~near_obj)
        changed_on_object += (diff & obj).sum()
        changed += diff.sum()
        # background is untouched: no shadows, same ground
        np.testing.assert_array_equal(r["depth"][0][~near_obj], empty["depth"][0][~near_obj])
    assert strictly_nearer > 0.9 * covered
    assert changed_on_object > 0.8 * changed


def test_empty_scene_is_ground_only(empty):
    assert np.all(empty["radar"] == 0)
    assert np.all(empty["ids"] == -1)
    # depth grows towards the top of the image (farther ground), saturating at 1
    column = empty["depth"][0, :, SIZE // 2]
    assert np.all(np.diff(column) <= 0) and column[-1] < 0.5 and column[0] == 1.0
    assert empty["image"].min() >= 0 and empty["image"].max() <= 1


def test_radar_returns_only_from_objects(scenes):
    for i in range(N):
        assert _radar_in_boxes(scenes, i)
        for j in range(scenes.count[i]):
            if scenes.boxes[i, j, 0] < 0:  # fully occluded: no surface seen, nothing to return
                continue
            x0, y0, x1, y1 = scenes.radar_boxes[i, j]
            assert scenes.radar[i, 0, y0:y1, x0:x1].max() > 0, (i, j)
        # all returns are within range falloff [0.5, 1] (stored *255)
        nz = scenes.radar[i][scenes.radar[i] > 0]
        assert nz.min() >= 127


def test_image_boxes_are_tight_around_id_pixels(scenes):
    for i in range(N):
        for j in range(sc.MAX_OBJECTS):
            rows, cols = np.nonzero(scenes.ids[i] == j)
            if len(rows) == 0:
                assert np.all(scenes.boxes[i, j] == -1)
                continue
            x0, y0, x1, y1 = scenes.boxes[i, j]
            assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            assert (scenes.ids[i, y0:y1, x0:x1] == j).sum() == len(rows)


def test_objects_are_in_view_and_apart():
    for i in range(N):
        objs = _objects(SEED, i)
        assert all(sc.in_view(o, SIZE) for o in objs)
        for a in range(len(objs)):
            for b in range(a):
                p, q = objs[a], objs[b]
                assert np.hypot(p.x - q.x, p.y - q.y) > p.half_extent() + q.half_extent()


def test_explicit_objects_render_where_placed():
    cube = sc.SceneObject(sc.SHAPES.index("cube"), 0, 0.0, 3.0, 1.2, 0.3)
    r = sc.render_scene([cube], SIZE)
    rows, cols = np.nonzero(r["ids"] == 0)
    assert len(rows) > 10
    assert abs(cols.mean() - (SIZE - 1) / 2) < 2  # centred left-right
    red = r["image"][:, rows, cols]
    assert np.all(red[0] > red[1]) and np.all(red[0] > red[2])


def test_cache_writes_reads_and_repairs(tmp_path, monkeypatch):
    first = sc.load_scenes(tmp_path, n=6, seed=1, size=16)
    path = sc.cache_path(tmp_path, n=6, seed=1, size=16)
    assert path.exists() and path.parent == tmp_path / "scenes"
    assert path.name == f"scenes-v{sc.RENDERER_VERSION}-n6-s1-16px.npz"
    assert not list(path.parent.glob("*.part"))
    good = path.read_bytes()
    real_render = sc.render_scenes

    def refuse(*args, **kwargs):
        raise AssertionError("rendered although the cache was good")

    monkeypatch.setattr(sc, "render_scenes", refuse)
    _assert_same(first, sc.load_scenes(tmp_path, n=6, seed=1, size=16))

    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(sc, "render_scenes", counting)
    for damaged in (good[: len(good) // 2], b"not a zip file", b""):
        path.write_bytes(damaged)
        _assert_same(first, sc.load_scenes(tmp_path, n=6, seed=1, size=16))
        assert path.read_bytes() == good
    # a readable file with the wrong shapes (another n under this name) is also rendered again
    np.savez(path, **_fields(first.take(np.arange(3))))
    _assert_same(first, sc.load_scenes(tmp_path, n=6, seed=1, size=16))
    assert len(calls) == 4


def test_cache_default_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEVAE_DATA", str(tmp_path))
    sc.load_scenes(n=2, seed=0, size=16)
    assert (tmp_path / "scenes" / f"scenes-v{sc.RENDERER_VERSION}-n2-s0-16px.npz").exists()


def test_split_sizes_and_disjoint(scenes):
    train, valid, test = sc.split_scenes(scenes)
    assert (len(train), len(valid), len(test)) == (28, 4, 8)
    np.testing.assert_array_equal(test.image, scenes.image[-8:])
    n = sc.N_SCENES  # the full set's rule, on cheap stand-in arrays holding the scene index
    fake = sc.Scenes(**{f.name: np.arange(n) for f in dataclasses.fields(sc.Scenes)})
    parts = sc.split_scenes(fake)
    assert [len(p) for p in parts] == [12_412, 1_772, 3_545]
    joined = np.concatenate([p.labels for p in parts])
    np.testing.assert_array_equal(joined, np.arange(n))  # disjoint, complete, in order


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"n": -3}, {"n": 2.5}, {"n": 2, "size": 20}, {"n": 2, "size": 8}, {"n": 2, "seed": -1}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        sc.render_scenes(**kwargs)


def test_bad_arguments_load(tmp_path):
    with pytest.raises(ValueError):
        sc.load_scenes(tmp_path, n=0)
    with pytest.raises(ValueError):
        sc.load_scenes(tmp_path, n=2, size=12)
    assert not (tmp_path / "scenes").exists()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1))
def test_any_seed_labels_match_and_radar_only_at_objects(seed):
    s = sc.render_scenes(2, seed=seed, size=16)
    for i in range(2):
        kinds = {int(j) for j in s.shapes[i] if j >= 0}
        assert s.labels[i] == sum(2**j for j in kinds)
        assert 1 <= s.count[i] <= 3 and len(s.shapes[i][s.shapes[i] >= 0]) == s.count[i]
        assert _radar_in_boxes(s, i)
        assert np.all(s.radar[i, 0][s.radar[i, 0] > 0] >= 127)


def test_layout_labels_mark_the_quadrants_of_the_object_centres():
    from fusevae.data.scenes import FAR_Y, QUADRANTS, layout_labels

    scenes = sc.render_scenes(60, seed=3)
    labels = layout_labels(scenes)
    assert labels.dtype == np.int64 and labels.min() >= 1 and labels.max() < 2 ** len(QUADRANTS)
    for i in range(len(scenes)):
        expected = 0
        for j in range(int(scenes.count[i])):
            x, y = scenes.positions[i, j]
            expected |= 1 << (int(x < 0) + 2 * int(y > FAR_Y))
        assert labels[i] == expected
