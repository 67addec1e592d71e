"""Cross-reconstruction error: which inputs it scores, and that an input carrying the target scores lower."""

import numpy as np
import pytest
import torch

from fusevae import api
from fusevae.data.user import from_arrays
from fusevae.metrics.cross_error import cross_error, default_inputs


@pytest.fixture(scope="module")
def copy_and_noise(tmp_path_factory):
    """b is an exact copy of a; c is independent noise: a can be recovered from b, never from c."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1200, 6)).astype(np.float32)
    c = rng.normal(size=(1200, 6)).astype(np.float32)
    data = from_arrays({"a": a, "b": a.copy(), "c": c}, seed=0)
    cfg = api.make_config(
        "mvae",
        data,
        ["train.epochs=40", "train.threads=1", "model.latent_dim=6", "train.lr=0.003"]
        + [f"model.modalities.{m}.{p}=[32]" for m in "abc" for p in ("encoder_hidden", "decoder_hidden")],
    )
    out = tmp_path_factory.mktemp("cross") / "run"
    api.train(cfg, data=data, out=out, progress=False)
    return api.load(out), data


def test_each_target_is_scored_from_itself_each_other_modality_and_all_others(copy_and_noise):
    model, data = copy_and_noise
    assert default_inputs(model, "a") == [("a",), ("b",), ("c",), ("b", "c")]
    cells = cross_error(model, data.test)
    assert {(c.inputs, c.target) for c in cells} == {(s, t) for t in "abc" for s in default_inputs(model, t)}
    assert all(np.isfinite(c.mse) and c.mse >= 0 and c.n == data.test.n for c in cells)
    again = cross_error(model, data.test)
    assert [c.mse for c in again] == [c.mse for c in cells]  # seeded: the same z draws


def test_an_input_that_holds_the_target_beats_one_that_holds_nothing_of_it(copy_and_noise):
    model, data = copy_and_noise
    err = {(c.inputs, c.target): c.mse for c in cross_error(model, data.test)}
    # from the copy: near the plain reconstruction; from noise: no better than the target's variance (about 1)
    assert err[("b",), "a"] < 0.6 * err[("c",), "a"]
    assert err[("c",), "a"] > 0.8


def test_labels_and_tokens_are_not_scored_by_error(copy_and_noise):
    model, data = copy_and_noise
    with pytest.raises(ValueError, match="real-valued"):
        cross_error(model, data.test, targets=["nosuch"])
    assert torch.is_tensor(data.test.data["a"])
