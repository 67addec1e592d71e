"""Judge classifiers for coherence: accuracy arithmetic, learning a separable set, the hash-keyed cache."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.data import MultimodalTensorDataset
from fusevae.metrics import classifier as clf
from fusevae.metrics.classifier import ClassifierConfig, accuracies, fit_classifier, load_or_fit_classifier


def _blobs(n=600, seed=0, quantized=False):
    """Images whose class is the row a bright bar sits in: separable, so a judge must learn it."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    x = torch.rand(n, 1, 12, 12, generator=g) * 0.3
    for c in range(4):
        x[labels == c, 0, 3 * c : 3 * c + 3, :] = 1.0
    data = {"image": (x * 255).round().to(torch.uint8) if quantized else x, "label": labels}
    return MultimodalTensorDataset(data, ("image", "label"), labels=labels, quantized=("image",) if quantized else ())


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.integers(0, 10_000))
@settings(max_examples=50, deadline=None)
def test_micro_and_macro_accuracy_match_their_definitions(target, seed):
    target = torch.tensor(target)
    pred = torch.randint(0, 5, target.shape, generator=torch.Generator().manual_seed(seed))
    micro, macro = accuracies(pred, target, 5)
    assert micro == pytest.approx(float((pred == target).float().mean()))
    per_class = [float((pred[target == c] == c).float().mean()) for c in range(5) if (target == c).any()]
    assert macro == pytest.approx(sum(per_class) / len(per_class))


def test_macro_differs_from_micro_on_imbalanced_classes():
    target = torch.tensor([0] * 9 + [1])
    pred = torch.zeros(10, dtype=torch.long)  # always class 0
    assert accuracies(pred, target, 2) == pytest.approx((0.9, 0.5))
    with pytest.raises(ValueError, match="must be equal"):
        accuracies(pred[:3], target, 2)


@pytest.mark.parametrize("quantized", [False, True])
def test_a_judge_learns_a_separable_set_and_scores_itself_on_test_items(quantized):
    train, test = _blobs(600, 0, quantized), _blobs(200, 1, quantized)
    judge = fit_classifier(train, test, "image", 4, ClassifierConfig(epochs=5, batch_size=32, width=8))
    assert judge.accuracy > 0.95 and judge.macro_accuracy > 0.95
    assert torch.equal(judge.net.predict(test.values("image", torch.arange(5))), test.labels[:5])


def test_judges_are_cached_by_the_hash_of_data_and_config(tmp_path, monkeypatch):
    train, test = _blobs(300, 0), _blobs(100, 1)
    cfg = ClassifierConfig(epochs=1, width=8)
    first = load_or_fit_classifier(train, test, "image", 4, tmp_path, cfg)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although a cached judge exists")

    monkeypatch.setattr(clf, "fit_classifier", no_training)
    again = load_or_fit_classifier(train, test, "image", 4, tmp_path, cfg)
    assert again.key == first.key and again.accuracy == first.accuracy
    x = test.values("image", torch.arange(50))
    assert torch.equal(again.net.predict(x), first.net.predict(x))
    # other data, other labels or another config: another key
    changed = _blobs(300, 0)
    changed.data["image"][0, 0, 0, 0] += 0.5
    assert clf.cache_key(changed, test, "image", cfg) != first.key
    assert clf.cache_key(train, test, "image", ClassifierConfig(epochs=2, width=8)) != first.key


def _objects(n, seed):
    """A small square or a small cross of 3x3 pixels anywhere in a 16x16 frame: the class is its shape."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 16, 16, generator=g) * 0.2
    square = torch.ones(3, 3)
    cross = torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])
    for i, (r, c) in enumerate(torch.randint(0, 14, (n, 2), generator=g).tolist()):
        x[i, 0, r : r + 3, c : c + 3] = torch.maximum(x[i, 0, r : r + 3, c : c + 3], square if labels[i] else cross)
    return MultimodalTensorDataset({"image": x, "label": labels}, ("image", "label"), labels=labels)


def test_the_pooled_judge_finds_a_small_object_anywhere_in_the_frame():
    """The pooled body (easy-VQA's shapes) reads a 3x3 shape at any position; its key differs from the flat one's,
    and a flat config hashes as it did before `arch` existed (judges cached by earlier tables keep their keys)."""
    train, test = _objects(1500, 0), _objects(300, 1)
    cfg = ClassifierConfig(epochs=6, batch_size=32, width=8, arch="pooled")
    judge = fit_classifier(train, test, "image", 2, cfg)
    assert judge.accuracy > 0.95
    assert isinstance(judge.net.net[-5], torch.nn.AdaptiveMaxPool2d)
    flat = ClassifierConfig(epochs=6, batch_size=32, width=8)
    assert clf.cache_key(train, test, "image", cfg) != clf.cache_key(train, test, "image", flat)
    assert "arch" not in flat.key_fields() and cfg.key_fields()["arch"] == "pooled"
    assert "arch" not in cfg.key_fields(image=False)  # a token or vector judge has no image body to choose
    with pytest.raises(ValueError, match="judge arch"):
        ClassifierConfig(arch="resnet")


def test_a_damaged_cache_entry_is_retrained(tmp_path):
    train, test = _blobs(300, 0), _blobs(100, 1)
    cfg = ClassifierConfig(epochs=1, width=8)
    first = load_or_fit_classifier(train, test, "image", 4, tmp_path, cfg)
    path = next(tmp_path.glob("*.safetensors"))
    path.write_bytes(b"not a safetensors file")
    again = load_or_fit_classifier(train, test, "image", 4, tmp_path, cfg)
    assert again.accuracy == pytest.approx(first.accuracy) and path.stat().st_size > 1000


def test_a_judge_needs_labels_and_a_known_modality():
    ds = _blobs(50)
    with pytest.raises(ValueError, match="unknown modality"):
        fit_classifier(ds, ds, "depth", 4)
    unlabelled = MultimodalTensorDataset(ds.data, ds.modalities)
    with pytest.raises(ValueError, match="class labels"):
        fit_classifier(unlabelled, ds, "image", 4)


def test_a_judge_of_once_binarised_test_images_is_also_scored_on_their_grey_levels(tmp_path):
    """Decoded Bernoulli means are grey levels: the evaluator reports the judge's accuracy there too, computed on the
    levels the fixed test draw came from (and the binarised accuracy stays the judge's own)."""
    from fusevae.data.user import from_arrays
    from fusevae.evaluation import EvaluationSettings, Evaluator

    blobs = _blobs(500, 0)
    arrays = {"image": blobs.data["image"].numpy(), "label": blobs.labels.numpy()}
    data = from_arrays(arrays, labels="label", binarize=True)
    ev = Evaluator(data, tmp_path, EvaluationSettings(judge_epochs=2))
    judge = ev.judges()["image"]
    acc = ev.judge_accuracies()["image"]
    assert (acc["micro"], acc["macro"]) == (judge.accuracy, judge.macro_accuracy)
    grey = data.test.at_levels()
    items = torch.arange(len(grey))
    expected = accuracies(judge.net.predict(grey.values("image", items)), grey.labels, data.num_classes)
    assert (acc["micro_levels"], acc["macro_levels"]) == pytest.approx(expected)
    # grey-level data has no levels to report
    plain = Evaluator(from_arrays(arrays, labels="label"), tmp_path / "plain", EvaluationSettings(judge_epochs=1))
    plain.judges()
    assert set(plain.judge_accuracies()["image"]) == {"micro", "macro"}


def test_selecting_modalities_drops_emptied_items_from_their_levels_too():
    x = torch.rand(6, 4)
    binary = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(6, 2, dtype=torch.bool)
    mask[[1, 4], 0] = False
    ds = MultimodalTensorDataset({"a": binary, "b": torch.zeros(6, 2)}, ("a", "b"), mask, levels={"a": x})
    only_a = ds.select(["a"])
    assert len(only_a) == 4 and torch.equal(only_a.at_levels().data["a"], x[[0, 2, 3, 5]])
    with pytest.raises(ValueError, match="levels of 'a'"):
        MultimodalTensorDataset({"a": binary, "b": torch.zeros(6, 2)}, ("a", "b"), levels={"a": x[:3]})
