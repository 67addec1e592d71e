"""In-place sensor fusion (M2VAE section 5.2, eq. 13): auto re-encoding, its fixed points, and Fig. 6."""

import pytest
import torch

from fusevae.distributions import DiagGaussian
from fusevae.figures import reencoding_map
from fusevae.inplace import (
    decode_observations,
    fuse_in_place,
    reencode,
    reencode_trajectory,
    reencoding_error,
)
from fusevae.model import MultimodalVAE

from .conftest import small_config
from .test_subset_elbo import _one_thread, _spy_subplots, mog, mog_model, trained_mog_model

__all__ = ["_one_thread"]  # the autouse fixture: one torch thread for these tiny models


def _square(n, seed):
    return torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) * 6.0 - 3.0


def test_reencode_keeps_shapes_and_decodes_labels_to_classes():
    model, _ = mog_model()
    z = torch.randn(7, 2)
    for names in (None, ["x"], "w", ["w", "x"]):
        assert reencode(model, z, names).shape == (7, 2)
    obs = decode_observations(model, z)
    assert set(obs) == {"x", "w"} and obs["x"].shape == (7, 2)
    image_label = MultimodalVAE(small_config(latent=4))
    obs = decode_observations(image_label, torch.randn(5, 4), ["label", "image"])
    assert obs["label"].dtype == torch.long and obs["label"].shape == (5,) and obs["image"].shape == (5, 1, 28, 28)
    assert reencode(image_label, torch.randn(5, 4), ["label"]).shape == (5, 4)
    path = reencode_trajectory(model, z, steps=4, tol=0.0)
    assert path.shape == (5, 7, 2) and torch.equal(path[0], z)
    assert torch.allclose(path[1], reencode(model, z)) and torch.allclose(path[2], reencode(model, path[1]))
    # a tolerance no step can miss: it stops after one step and repeats the last point, keeping the shape
    stopped = reencode_trajectory(model, z, steps=6, tol=1e6)
    assert stopped.shape == (7, 7, 2) and torch.equal(stopped[1], path[1])
    assert all(torch.equal(stopped[i], stopped[1]) for i in range(2, 7))
    assert reencode_trajectory(model, z, steps=0).shape == (1, 7, 2)


def test_auto_re_encoding_of_a_trained_model_converges_to_fixed_points():
    model = trained_mog_model()
    z0 = _square(30, seed=1)
    # a short run's attractors can be slow to reach: on other training seeds 90% of the seeds stopped
    # moving (< 1e-3) after 100 to 300 steps; each step is one small forward pass
    path = reencode_trajectory(model, z0, ["x", "w"], steps=300, tol=0.0)
    step = (path[1:] - path[:-1]).norm(dim=-1)  # (300, seeds)
    median = step.median(dim=1).values
    assert float(median[-1]) < 0.01 * float(median[0]), median
    assert float(median[100:].max()) < float(median[:3].min())  # the steps shrink along the trajectory
    assert float((step[-1] < 1e-3).float().mean()) >= 0.9, step[-1]
    # the fixed points are where the data are: re-encoding error is small there, and early stopping ends there
    assert float(reencoding_error(model, path[-1]).median()) < 0.1 * float(reencoding_error(model, z0).median())
    early = reencode_trajectory(model, z0, ["x", "w"], steps=300, tol=1e-4)
    moved = (early[-1] - reencode(model, early[-1])).norm(dim=-1)
    assert float((moved < 1e-3).float().mean()) >= 0.9


def test_re_encoding_the_codes_of_test_items_reaches_fixed_points():
    model = trained_mog_model()
    batch = mog().test[torch.arange(200)]
    z = model.posterior(batch).mean  # codes of real observations, decoded and re-encoded from here
    path = reencode_trajectory(model, z, ["x", "w"], steps=300, tol=0.0)
    step = (path[1:] - path[:-1]).norm(dim=-1)
    assert float(step[-1].median()) < 0.01 * float(step[0].median())
    assert float((step[-1] < 1e-3).float().mean()) >= 0.9
    # (which attractor a code falls into is the model's property: M2VAE Fig. 6 shows that models without
    # coherent encoders merge classes there; this short MVAE run merges several of the ten)


def test_a_diverging_point_becomes_nan_and_the_others_go_on():
    model, _ = mog_model()
    for name in model.names:  # decoders copy z; the encoder puts z' = 100 x: every point but 0 runs off
        model.nets[name].decoder = torch.nn.Linear(2, 2)
        with torch.no_grad():
            model.nets[name].decoder.weight.copy_(torch.eye(2))
            model.nets[name].decoder.bias.zero_()

    def posterior(data, subset=None):
        x = model.as_batch(data).data["x"]
        return DiagGaussian(100.0 * x, torch.full_like(x, -8.0))

    model.posterior = posterior
    z0 = torch.tensor([[0.0, 0.0], [0.5, -0.25]])
    path = reencode_trajectory(model, z0, steps=40, tol=1e-6)
    assert path.shape == (41, 2, 2) and bool((path[:, 0] == 0).all())
    died = int(torch.nonzero(path[:, 1, 0].isnan()).flatten()[0])
    assert 15 < died < 25 and bool(path[died:, 1].isnan().all()) and bool(path[:died, 1].isfinite().all())
    with pytest.raises(FloatingPointError, match="re-encoding z overflowed for 1 of 2 points"):
        reencode(model, path[died - 1])
    assert bool(reencoding_error(model, path[died - 1])[1].isnan()) and float(reencoding_error(model, z0)[0]) == 0


@pytest.mark.parametrize("known", [["x", "w"], ["w"]])
def test_fuse_in_place_is_the_posterior_of_the_decoded_known_and_the_new(known):
    model = trained_mog_model()
    batch = mog().test[torch.arange(25)]
    z = model.posterior(batch, ["w"]).mean  # a code of earlier observations
    x_new = batch.data["x"]
    q = fuse_in_place(model, z, known, {"x": x_new})
    w_decoded = model.nets["w"].mean(model.nets["w"].decode(z))
    expected = model.posterior({"x": x_new, "w": w_decoded})
    assert torch.allclose(q.mu, expected.mu, atol=1e-6) and torch.allclose(q.logvar, expected.logvar, atol=1e-6)
    # the new observation replaces a remembered one of the same modality
    alone = fuse_in_place(model, z, ["x"], {"x": x_new})
    assert torch.allclose(alone.mu, model.posterior({"x": x_new}).mu, atol=1e-6)


def test_fuse_in_place_decodes_a_label_to_its_class():
    model = MultimodalVAE(small_config(latent=4)).eval()
    z = torch.randn(6, 4)
    image = torch.rand(6, 1, 28, 28)
    q = fuse_in_place(model, z, ["label"], {"image": image})
    label = model.nets["label"].decode(z).argmax(-1)
    expected = model.posterior({"image": image, "label": label})
    assert torch.allclose(q.mu, expected.mu, atol=1e-6)


def test_bad_inputs_raise_errors_naming_the_problem():
    model, _ = mog_model()
    z = torch.randn(4, 2)
    x = torch.rand(4, 2)
    cases = [
        (lambda: fuse_in_place(model, z, ["radar"], {"x": x}), "known: unknown modality \\['radar'\\]"),
        (lambda: fuse_in_place(model, z, ["x"], {"sonar": x}), "new: unknown modality \\['sonar'\\]"),
        (lambda: fuse_in_place(model, z, [], {"x": x}), "known is empty"),
        (lambda: fuse_in_place(model, z, ["w"], {}), "new is empty"),
        (lambda: fuse_in_place(model, torch.randn(4, 3), ["w"], {"x": x}), "\\(N, latent_dim\\) = \\(N, 2\\)"),
        (lambda: fuse_in_place(model, torch.randn(2), ["w"], {"x": x}), "got \\(2,\\)"),
        (lambda: fuse_in_place(model, z, ["w"], {"x": torch.rand(3, 2)}), "one observation per row of z"),
        (lambda: fuse_in_place(model, z, ["w"], {"x": torch.rand(4, 3)}), "modality 'x' has \\(2,\\)"),
        (lambda: fuse_in_place(model, z, ["w", "w"], {"x": x}), "named twice"),
        (lambda: fuse_in_place(model, z, ["w"], {"x": x.tolist()}), "must be a torch.Tensor"),
        (lambda: fuse_in_place(model, z.long(), ["w"], {"x": x}), "floating-point"),
        (lambda: reencode(model, z, ["radar"]), "unknown modality"),
        (lambda: reencode(model, z.T, ["x"]), "latent_dim"),
        (lambda: reencode(model, torch.full((4, 2), float("nan"))), "NaN"),
        (lambda: reencode_trajectory(model, z, steps=-1), "steps"),
        (lambda: reencoding_map(MultimodalVAE(small_config(latent=3)), None, "x.png"), "latent_dim 3"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_reencoding_map_draws_one_panel_per_subset_encoder(tmp_path, monkeypatch):
    figures = _spy_subplots(monkeypatch)
    model, _ = mog_model()
    path = reencoding_map(model, mog(), tmp_path / "fig" / "reenc.png", grid=15, seeds=4, steps=3, n_items=60)
    assert path == tmp_path / "fig" / "reenc.png" and path.stat().st_size > 5000
    assert len(figures[0].axes) == 3 + 1  # x, w, x+w and the shared colorbar
    titles = [ax.get_title() for ax in figures[0].axes[:3]]
    assert titles == [f"auto re-encoding with q(z | {s})" for s in ("x", "w", "x+w")]
    # the seeds' trajectories are drawn as black lines, one per seed
    assert len(figures[0].axes[0].get_lines()) == 4
    reencoding_map(model, None, tmp_path / "one.png", names=["w"], grid=10, seeds=2, steps=2)
    assert len(figures[1].axes) == 2 and (tmp_path / "one.png").exists()
