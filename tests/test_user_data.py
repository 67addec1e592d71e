"""A MultimodalData from a user's arrays (`from_arrays`) and from a data spec file (`load_spec_data`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusevae.config import ModalityConfig
from fusevae.data.batch import BatchError
from fusevae.data.dataset import EvaluationSpec
from fusevae.data.spec import (
    DataChangedError,
    DataSpecError,
    check_source,
    load_source,
    load_spec,
    load_spec_data,
    save_arrays,
)
from fusevae.data.user import from_arrays

N = 60


def arrays(n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.random((n, 28, 28), dtype=np.float32),
        "digit": rng.integers(0, 10, n),
        "force": rng.normal(size=(n, 20, 6)).astype(np.float32),
    }


def spec_of(data, name: str) -> ModalityConfig:
    return next(m for m in data.modalities if m.name == name)


def all_items(ds) -> dict[str, torch.Tensor]:
    return {k: ds.values(k, torch.arange(len(ds))) for k in ds.modalities}


def assert_same(a, b) -> None:
    assert a.modalities == b.modalities
    assert (a.name, a.num_classes, a.class_names) == (b.name, b.num_classes, b.class_names)
    for part in ("train", "valid", "test"):
        x, y = getattr(a, part), getattr(b, part)
        assert x.modalities == y.modalities and x.quantized == y.quantized
        for k in x.modalities:
            assert x.data[k].dtype == y.data[k].dtype
            assert torch.equal(x.data[k], y.data[k]), (part, k)
        assert torch.equal(x.mask, y.mask)
        assert (x.labels is None) == (y.labels is None)
        if x.labels is not None:
            assert torch.equal(x.labels, y.labels)


# --------------------------------------------------------------------------------------------- inference


def test_inference_of_each_kind():
    rng = np.random.default_rng(1)
    n = 40
    data = from_arrays(
        {
            "label": rng.integers(0, 7, n),
            "grey": rng.random((n, 32, 32)).astype(np.float32),
            "chw": rng.random((n, 3, 28, 28)).astype(np.float32),
            "hwc": rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
            "bytes": rng.integers(0, 256, (n, 20, 20), dtype=np.uint8),
            "wide": rng.normal(size=(n, 16, 16)).astype(np.float32) * 5,
            "series": rng.normal(size=(n, 50, 3)),
            "tokens": rng.integers(0, 30, (n, 12)),
            "vector": rng.normal(size=(n, 5)),
            "scalar": rng.normal(size=n),
        },
        labels="label",
    )
    s = {m.name: m for m in data.modalities}
    assert (s["label"].kind, s["label"].shape, s["label"].likelihood) == ("label", [], "categorical")
    assert s["label"].num_classes == 7 and data.num_classes == 7
    assert (s["grey"].kind, s["grey"].shape, s["grey"].likelihood, s["grey"].network) == (
        "image",
        [1, 32, 32],
        "bernoulli",
        "conv",
    )
    assert data.train.data["grey"].shape[1:] == (1, 32, 32)
    assert s["chw"].shape == [3, 28, 28] and s["chw"].network == "conv"
    assert s["hwc"].shape == [3, 64, 64] and s["hwc"].likelihood == "bernoulli"
    assert s["bytes"].shape == [1, 20, 20] and s["bytes"].network == "mlp"  # not 28/32/64 px
    assert set(data.train.quantized) == {"hwc", "bytes"}
    assert data.train.data["hwc"].dtype == torch.uint8
    served = data.train[torch.arange(4)].data["hwc"]
    assert served.dtype == torch.float32 and 0.0 <= float(served.min()) and float(served.max()) <= 1.0
    # outside [0, 1]: a Gaussian with a learned scale
    assert (s["wide"].kind, s["wide"].likelihood, s["wide"].likelihood_scale) == ("image", "gaussian", None)
    assert (s["series"].kind, s["series"].shape, s["series"].network) == ("timeseries", [50, 3], "sequence")
    assert data.train.data["series"].dtype == torch.float32
    assert (s["tokens"].kind, s["tokens"].shape, s["tokens"].num_classes) == ("tokens", [12], 30)
    assert s["tokens"].likelihood == "categorical" and s["tokens"].pad_index is None
    assert s["tokens"].network == "sequence" and data.train.data["tokens"].dtype == torch.int64
    assert (s["vector"].kind, s["vector"].shape, s["vector"].likelihood) == ("vector", [5], "gaussian")
    assert s["vector"].likelihood_scale is None and s["vector"].network == "mlp"
    assert s["scalar"].shape == [1] and data.train.data["scalar"].shape[1:] == (1,)
    assert torch.equal(data.train.labels, data.train.data["label"])


def test_channels_last_is_transposed_not_reshaped():
    x = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    data = from_arrays({"rgb": x}, {"rgb": x}, {"rgb": x})
    assert torch.equal(data.train.data["rgb"], torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))


def test_non_square_float_is_a_time_series_and_small_square_too():
    rng = np.random.default_rng(2)
    data = from_arrays({"a": rng.random((20, 28, 20)), "b": rng.random((20, 4, 4))})
    assert spec_of(data, "a").kind == "timeseries" and spec_of(data, "a").shape == [28, 20]
    assert spec_of(data, "b").kind == "timeseries"


def test_overrides():
    rng = np.random.default_rng(3)
    n = 30
    flat = rng.random((n, 784)).astype(np.float32)
    full = ModalityConfig(name="v", kind="vector", shape=[4], likelihood="laplace", likelihood_scale=0.5)
    data = from_arrays(
        {
            "flat": flat,
            "square": rng.normal(size=(n, 16, 16)),
            "digit": rng.integers(0, 3, n),
            "v": rng.normal(size=(n, 4)),
            "tok": rng.integers(1, 9, (n, 6)),
            "img": rng.random((n, 28, 28)),
        },
        specs={
            "flat": {"shape": [1, 28, 28]},
            "square": {"kind": "timeseries", "network_options": {"hidden": 32}},
            "digit": {"num_classes": 10},
            "v": full,
            "tok": {"pad_index": 12},
            "img": {"likelihood": "gaussian", "network": "mlp", "encoder_hidden": [64]},
        },
    )
    s = {m.name: m for m in data.modalities}
    assert (s["flat"].kind, s["flat"].shape, s["flat"].network) == ("image", [1, 28, 28], "conv")
    assert torch.equal(data.train.data["flat"].reshape(len(data.train), -1)[0], torch.from_numpy(flat[0]))
    assert (s["square"].kind, s["square"].shape) == ("timeseries", [16, 16])
    assert s["square"].network_options == {"hidden": 32} and s["square"].network == "sequence"
    assert s["digit"].num_classes == 10
    assert s["v"] == full
    assert s["tok"].pad_index == 12 and s["tok"].num_classes == 13
    assert (s["img"].likelihood, s["img"].likelihood_scale, s["img"].network) == ("gaussian", None, "mlp")
    assert s["img"].encoder_hidden == [64]


# ------------------------------------------------------------------------------------------------ splits


def ids(ds) -> list[int]:
    return [int(v) for v in ds.data["id"].flatten()]


def test_split_is_seeded_disjoint_and_complete():
    x = {"id": np.arange(100, dtype=np.float32), "label": np.arange(100) % 4}
    a = from_arrays(x, seed=5, labels="label")
    b = from_arrays(x, seed=5, labels="label")
    c = from_arrays(x, seed=6, labels="label")
    parts = [ids(a.train), ids(a.valid), ids(a.test)]
    assert [len(p) for p in parts] == [80, 10, 10]
    assert sorted(sum(parts, [])) == list(range(100))
    assert parts == [ids(b.train), ids(b.valid), ids(b.test)]
    assert parts[2] != ids(c.test)
    assert a.source["split"] == [0.8, 0.1, 0.1] and a.source["seed"] == 5 and a.source["sizes"] == [80, 10, 10]
    # labels travel with their items
    assert torch.equal(a.test.labels, a.test.data["id"].flatten().long() % 4)


def test_given_splits_are_kept_and_a_missing_valid_set_is_carved_from_train():
    x, y = arrays(50), arrays(10, seed=1)
    data = from_arrays(x, y, y, split=(0.5, 0.2, 0.3))
    assert [len(data.train), len(data.valid), len(data.test)] == [50, 10, 10]
    assert data.source["split"] is None
    carved = from_arrays(x, test=y, split=(0.6, 0.2, 0.2))
    assert [len(carved.train), len(carved.valid), len(carved.test)] == [38, 12, 10]


def test_masks_per_modality():
    x = arrays(40)
    x["force"][:10] = np.nan  # absent items may hold NaN
    present = np.ones(40, dtype=bool)
    present[:10] = False
    a = from_arrays(x, masks={"force": present}, seed=1)
    b = from_arrays(x, masks=np.stack([np.ones(40, bool), np.ones(40, bool), present], 1), seed=1)
    assert_same(a, b)
    assert a.source == b.source
    col = a.names.index("force")
    total_absent = sum(int((~ds.mask[:, col]).sum()) for ds in (a.train, a.valid, a.test))
    assert total_absent == 10
    for ds in (a.train, a.valid, a.test):
        assert bool(ds.mask[:, :col].all())
        absent = ~ds.mask[:, col]
        assert bool((ds.data["force"][absent] == 0).all()) and bool(torch.isfinite(ds.data["force"]).all())
        batch = ds[torch.arange(len(ds))]
        assert torch.equal(batch.mask, ds.mask)


def test_binarize():
    x = {"image": np.random.default_rng(0).random((30, 28, 28)), "v": np.zeros((30, 2))}
    data = from_arrays(x, binarize=True)
    assert data.train.binarize == ("image",)
    assert set(data.test.data["image"].unique().tolist()) <= {0.0, 1.0}
    # the grey levels the fixed draw came from are kept (what a judge of decoded Bernoulli means is scored on)
    grey = from_arrays(x).test
    assert set(data.test.levels) == {"image"} and data.train.at_levels() is None
    levels = data.test.at_levels()
    assert levels.binarize == () and torch.equal(levels.data["image"], grey.data["image"])
    assert torch.equal(levels.data["v"], data.test.data["v"])
    assert not bool(data.test.data["image"][grey.data["image"] == 0].any())  # a draw is 1 only where its level is not 0
    # copies keep them, item for item
    assert torch.equal(data.test.subset(2).at_levels().data["image"], grey.data["image"][:2])
    assert torch.equal(data.test.select(["image"]).at_levels().data["image"], grey.data["image"])
    dropped = data.test.drop_modalities({"image": 0.5}, seed=0)
    assert torch.equal(dropped.at_levels().data["image"], grey.data["image"])
    assert torch.equal(dropped.at_levels().mask, dropped.mask)


def test_torch_and_numpy_give_the_same_data():
    x = arrays()
    mask = np.ones((N, 3), dtype=bool)
    mask[::7, 0] = False
    a = from_arrays(x, masks=mask, labels="digit")
    b = from_arrays({k: torch.from_numpy(v) for k, v in x.items()}, masks=torch.from_numpy(mask), labels="digit")
    assert_same(a, b)
    assert a.source == b.source and a.source["kind"] == "arrays"
    assert from_arrays(x, labels="digit").source["hash"] != a.source["hash"]  # the mask counts
    assert from_arrays(x, masks=mask, labels="digit", seed=1).source["hash"] == a.source["hash"]  # seed kept apart
    x["force"][0, 0, 0] += 1.0
    assert from_arrays(x, masks=mask, labels="digit").source["hash"] != a.source["hash"]


def test_class_labels_not_a_modality():
    x = arrays(30)
    y = np.arange(30) % 3
    data = from_arrays(x, class_labels=y, class_names=["a", "b", "c"])
    assert data.num_classes == 3 and data.class_names == ("a", "b", "c") and data.has_labels
    assert from_arrays(x).num_classes == 0
    three = from_arrays(x, x, x, class_labels=(y, y, y), num_classes=5)
    assert three.num_classes == 5 and torch.equal(three.valid.labels, torch.from_numpy(y))


def test_class_factors_are_checked_against_the_classes_before_anything_is_built():
    x, y = arrays(30), np.arange(30) % 6
    data = from_arrays(x, class_labels=y, class_factors=[("size", 2), ("hue", 3)])
    assert data.class_factors == (("size", 2), ("hue", 3))
    with pytest.raises(BatchError, match="class_factors: .*multiply to 4 values, not the data set's 6"):
        from_arrays(x, class_labels=y, class_factors=[("size", 2), ("hue", 2)])
    with pytest.raises(BatchError, match="class_factors need class labels"):
        from_arrays(x, class_factors=[("size", 2), ("hue", 3)])
    with pytest.raises(BatchError, match="pairs"):
        from_arrays(x, class_labels=y, class_factors=[("size", "two"), ("hue", 3)])


# -------------------------------------------------------------------------------------------- bad inputs


def test_lengths_differ():
    x = arrays(20)
    x["force"] = x["force"][:19]
    with pytest.raises(BatchError, match=r"differ in length.*'force': 19"):
        from_arrays(x)


@pytest.mark.parametrize("value, what", [(np.nan, "1 NaN"), (np.inf, "0 NaN, 1 inf")])
def test_non_finite_present_values(value, what):
    x = arrays(20)
    x["force"][3, 2, 1] = value
    with pytest.raises(BatchError, match=rf"'force' holds 1 non-finite values \({what}"):
        from_arrays(x)


def test_labels_out_of_range_or_not_integers():
    x = arrays(20)
    with pytest.raises(BatchError, match=r"class indices out of range.*\[0, 9\].*0 \.\. 4"):
        from_arrays(x, specs={"digit": {"num_classes": 5}})
    with pytest.raises(BatchError, match=r"class indices out of range.*\[0, 9\].*0 \.\. 7"):
        from_arrays(x, labels="digit", num_classes=8)
    assert from_arrays(x, labels="digit", num_classes=12).num_classes == 12
    with pytest.raises(BatchError, match="differs from modality 'digit'"):
        from_arrays(x, labels="digit", num_classes=12, specs={"digit": {"num_classes": 11}})
    with pytest.raises(BatchError, match=r"class labels out of range.*largest is 19"):
        from_arrays(x, class_labels=np.arange(20), num_classes=10)
    with pytest.raises(BatchError, match="class labels must be integers"):
        from_arrays(x, class_labels=np.arange(20) * 1.0)
    with pytest.raises(BatchError, match="negative"):
        from_arrays(x, class_labels=np.arange(20) - 1)
    with pytest.raises(BatchError, match="'digit' is a label modality.*must be integers"):
        from_arrays({**x, "digit": x["digit"] * 1.0}, specs={"digit": {"kind": "label"}})
    with pytest.raises(BatchError, match="token indices out of range"):
        from_arrays({"t": np.arange(40).reshape(20, 2) - 1})


def test_masks_that_empty_an_item_or_have_the_wrong_shape():
    x = arrays(20)
    empty = np.ones((20, 3), dtype=bool)
    empty[[4, 9], :] = False
    with pytest.raises(BatchError, match=r"leaves 2 items with no present modality \(first: \[4, 9\]\)"):
        from_arrays(x, masks=empty)
    with pytest.raises(BatchError, match=r"mask must have shape \(N, M\) = \(20, 3\).*got shape \(20, 2\)"):
        from_arrays(x, masks=np.ones((20, 2), dtype=bool))
    with pytest.raises(BatchError, match=r"mask of modality 'force' must have shape \(20,\)"):
        from_arrays(x, masks={"force": np.ones(19, dtype=bool)})
    with pytest.raises(BatchError, match="unknown modality"):
        from_arrays(x, masks={"forse": np.ones(20, dtype=bool)})
    with pytest.raises(BatchError, match="must be boolean"):
        from_arrays(x, masks={"force": np.full(20, 0.5)})
    with pytest.raises(BatchError, match="which 1 items lack"):
        from_arrays(x, masks={"digit": np.arange(20) != 3}, labels="digit")


def test_bad_specs():
    x = arrays(20)
    with pytest.raises(BatchError, match="unknown kind 'picture'"):
        from_arrays(x, specs={"image": {"kind": "picture"}})
    with pytest.raises(BatchError, match="unknown likelihood 'poisson'"):
        from_arrays(x, specs={"force": {"likelihood": "poisson"}})
    with pytest.raises(BatchError, match="categorical likelihood needs a label or tokens"):
        from_arrays(x, specs={"force": {"likelihood": "categorical"}})
    with pytest.raises(BatchError, match=r"unknown field\(s\) \['colour'\]"):
        from_arrays(x, specs={"image": {"colour": "red"}})
    with pytest.raises(BatchError, match="specs name unknown modality"):
        from_arrays(x, specs={"imag": {"kind": "image"}})
    with pytest.raises(BatchError, match=r"cannot take the shape \[3, 28, 28\]"):
        from_arrays(x, specs={"image": {"shape": [3, 28, 28]}})
    with pytest.raises(BatchError, match="bernoulli likelihood and needs values in"):
        from_arrays(x, specs={"force": {"likelihood": "bernoulli"}})
    with pytest.raises(BatchError, match="cannot infer the kind"):
        from_arrays({"grid": np.zeros((20, 8, 8), dtype=np.int64)})


def test_modality_missing_from_a_split():
    x, y = arrays(20), arrays(10)
    y.pop("force")
    with pytest.raises(BatchError, match=r"modality \['force'\] missing from the valid set"):
        from_arrays(x, y, arrays(10))


@pytest.mark.parametrize("name", ["a.b", "a,b", "a|b", "a+b", "a b", "tab\t", "", "a=b"])
def test_bad_modality_names(name):
    with pytest.raises(BatchError, match="name .* is not allowed"):
        from_arrays({name: np.zeros((20, 2)), "ok": np.zeros((20, 2))})


def test_evaluation_must_name_modalities():
    with pytest.raises(BatchError, match="evaluation"):
        from_arrays(arrays(20), evaluation=EvaluationSpec(proposals=(("sound",),)))


# -------------------------------------------------------------------------------------------- spec files

SPEC = {
    "name": "sensors",
    "split": [0.7, 0.15, 0.15],
    "seed": 3,
    "label": "digit",
    "modalities": [
        {"name": "image", "array": "pixels"},
        {"name": "force", "kind": "timeseries", "mask": "force_present"},
        {"name": "tokens", "pad_index": 0},
    ],
}


def stored(n: int = N) -> dict[str, np.ndarray]:
    x = arrays(n)
    rng = np.random.default_rng(9)
    present = np.arange(n) % 5 != 0
    return {
        "pixels": x["image"],
        "digit": x["digit"],
        "force": x["force"],
        "force_present": present,
        "tokens": rng.integers(0, 11, (n, 7)),
        "unused": np.zeros(n),
    }


def write_spec(folder, files, **extra):
    path = folder / "spec.yaml"
    import yaml

    path.write_text(yaml.safe_dump({**SPEC, "files": files, **extra}))
    return path


def test_spec_formats_load_identically(tmp_path):
    x = stored()
    save_arrays(tmp_path / "data.npz", x)
    save_arrays(tmp_path / "data.safetensors", x)
    save_arrays(tmp_path / "npy", x)
    loaded = []
    for i, files in enumerate(("data.npz", "data.safetensors", "npy")):
        sub = tmp_path / f"spec{i}"
        sub.mkdir()
        path = write_spec(sub, f"../{files}")
        loaded.append(load_spec_data(path))
    for other in loaded[1:]:
        assert_same(loaded[0], other)
    data = loaded[0]
    assert data.name == "sensors" and data.num_classes == 10 and data.names == ("image", "force", "tokens")
    assert data.train.labels is not None and data.test.labels is not None
    assert spec_of(data, "tokens").pad_index == 0 and spec_of(data, "image").shape == [1, 28, 28]
    col = data.names.index("force")
    assert sum(int((~ds.mask[:, col]).sum()) for ds in (data.train, data.valid, data.test)) == N // 5
    assert [len(data.train), len(data.valid), len(data.test)] == [42, 9, 9]
    # the same arrays through from_arrays, as documented
    direct = from_arrays(
        {"image": x["pixels"], "force": x["force"], "tokens": x["tokens"]},
        specs={"force": {"kind": "timeseries"}, "tokens": {"pad_index": 0}},
        class_labels=x["digit"],
        masks={"force": x["force_present"]},
        split=(0.7, 0.15, 0.15),
        seed=3,
        name="sensors",
    )
    assert_same(data, direct)
    src = loaded[2].source
    assert src["kind"] == "spec" and src["spec"] == str((tmp_path / "spec2" / "spec.yaml").resolve())
    assert sorted(src["files"]) == [
        "../npy/digit.npy",
        "../npy/force.npy",
        "../npy/force_present.npy",
        "../npy/pixels.npy",
        "../npy/tokens.npy",
    ]
    assert src["spec_content"]["seed"] == 3 and json.loads(json.dumps(src)) == src
    assert data.class_factors == ()
    # the class as a code of named factors, in the order the spec lists them
    factored = load_spec_data(write_spec(tmp_path / "spec0", "../data.npz", class_factors=[["parity", 2], ["rest", 5]]))
    assert factored.class_factors == (("parity", 2), ("rest", 5))
    with pytest.raises(DataSpecError, match=r"class_factors must be a list of \[name, size\] pairs"):
        load_spec(write_spec(tmp_path / "spec0", "../data.npz", class_factors={"parity": 2, "rest": 5}))


def test_per_split_files_and_json(tmp_path):
    for part, n in (("train", 40), ("valid", 10), ("test", 12)):
        save_arrays(tmp_path / f"{part}.npz", stored(n))
    spec = {**SPEC, "files": {"train": "train.npz", "valid": "valid.npz", "test": "test.npz"}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    data = load_spec_data(tmp_path / "spec.json")
    assert [len(data.train), len(data.valid), len(data.test)] == [40, 10, 12]
    assert torch.equal(data.valid.labels, torch.from_numpy(stored(10)["digit"]))
    # without a modality list: every array but the label, sorted
    plain = {"files": "train.npz", "label": "digit"}
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    auto = load_spec_data(tmp_path / "plain.json")
    assert auto.names == ("force", "force_present", "pixels", "tokens", "unused") and auto.name == "plain"


def test_changed_file_is_refused_unless_accepted(tmp_path):
    x = stored()
    save_arrays(tmp_path / "data.npz", x)
    path = write_spec(tmp_path, "data.npz")
    data = load_spec_data(path)
    source = data.source
    assert check_source(source) == source
    x["force"][0, 0, 0] += 1.0
    save_arrays(tmp_path / "data.npz", x)
    assert load_spec_data(path).source["hash"] != source["hash"]
    with pytest.raises(DataChangedError, match=r"data\.npz.*--accept-changed-data"):
        check_source(source)
    with pytest.raises(DataChangedError, match="--accept-changed-data"):
        load_source(source)
    accepted = check_source(source, accept_changed=True)
    assert accepted["files"]["data.npz"] != source["files"]["data.npz"]
    assert accepted["hash"] == load_spec_data(path).source["hash"]
    reloaded = load_source(source, accept_changed=True)
    assert float(reloaded.train.data["force"].abs().sum() + reloaded.valid.data["force"].abs().sum()) > 0
    (tmp_path / "data.npz").unlink()
    with pytest.raises(DataChangedError, match="gone"):
        check_source(source, accept_changed=True)
    assert check_source({"kind": "arrays", "hash": "x"}) == {"kind": "arrays", "hash": "x"}


def test_load_source_rebuilds_the_recorded_spec(tmp_path):
    save_arrays(tmp_path / "data.npz", stored())
    path = write_spec(tmp_path, "data.npz")
    data = load_spec_data(path)
    path.write_text(path.read_text().replace("seed: 3", "seed: 4"))  # the spec file edited afterwards
    assert_same(load_source(data.source), data)


def test_unknown_spec_keys_and_missing_arrays(tmp_path):
    save_arrays(tmp_path / "data.npz", stored())
    path = write_spec(tmp_path, "data.npz", labels="digit")
    with pytest.raises(DataSpecError, match=r"spec\.yaml: unknown key 'labels'"):
        load_spec(path)
    bad = {**SPEC, "files": "data.npz", "modalities": [{"name": "image", "arrray": "pixels"}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DataSpecError, match=r"bad\.json: modalities\[0\] \(image\): unknown key 'arrray'"):
        load_spec(tmp_path / "bad.json")
    missing = {**SPEC, "files": "data.npz", "modalities": [{"name": "image"}]}
    (tmp_path / "missing.json").write_text(json.dumps(missing))
    with pytest.raises(DataSpecError, match=r"has no array \['image'\]"):
        load_spec_data(tmp_path / "missing.json")
    (tmp_path / "nofile.json").write_text(json.dumps({"files": "nope.npz"}))
    with pytest.raises(DataSpecError, match="'nope.npz' not found"):
        load_spec_data(tmp_path / "nofile.json")
    # errors from the arrays name the spec file
    wrong = {**SPEC, "files": "data.npz", "modalities": [{"name": "image", "array": "pixels", "kind": "sound"}]}
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(BatchError, match=r"wrong\.json: modality 'image': unknown kind 'sound'"):
        load_spec_data(tmp_path / "wrong.json")


def test_no_pickle(tmp_path):
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}] * 4, dtype=object), b=np.zeros((4, 2)))
    (tmp_path / "spec.json").write_text(json.dumps({"files": "obj.npz"}))
    with pytest.raises(DataSpecError, match="cannot read"):
        load_spec_data(tmp_path / "spec.json")
