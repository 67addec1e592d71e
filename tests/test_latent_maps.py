"""Latent maps: one t-SNE panel per subset, linear probes that separate what is separable."""

import matplotlib.pyplot as plt
import pytest
import torch

from fusevae.metrics.latent import default_subsets, latent_maps, linear_probe, posterior_means
from fusevae.model import MultimodalVAE

from .test_coherence import _data, _model


def test_default_subsets_are_all_for_few_modalities_and_singles_plus_all_for_many():
    assert default_subsets(["a", "b"]) == [("a",), ("b",), ("a", "b")]
    assert len(default_subsets(["a", "b", "c"])) == 7
    assert default_subsets(list("abcde")) == [("a",), ("b",), ("c",), ("d",), ("e",), tuple("abcde")]


def test_a_linear_probe_separates_separable_codes_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(600) % 3
    z = torch.randn(600, 4, generator=g) * 0.1 + torch.nn.functional.one_hot(y, 4).float()
    assert linear_probe(z[:400], y[:400], z[400:], y[400:]) > 0.98
    noise = torch.randn(600, 4, generator=g)
    assert linear_probe(noise[:400], y[:400], noise[400:], y[400:]) < 0.5


def test_latent_maps_draw_one_panel_per_subset(tmp_path, monkeypatch):
    model, data = _model(), _data(300)
    figures = []
    original = plt.subplots

    def spy(*args, **kwargs):
        fig, axes = original(*args, **kwargs)
        figures.append((fig, axes))
        return fig, axes

    monkeypatch.setattr(plt, "subplots", spy)
    probes = latent_maps(model, data, data, tmp_path / "maps.png", n_map=200, n_probe=300)
    assert set(probes) == {"image", "label", "image+label"} and all(0 <= p <= 1 for p in probes.values())
    assert (tmp_path / "maps.png").stat().st_size > 5000
    ((fig, axes),) = figures
    titled = [ax for ax in axes.flat if ax.get_title()]
    assert [ax.get_title().split(")")[0] for ax in titled] == ["q(z | image", "q(z | label", "q(z | image+label"]
    with pytest.raises(ValueError, match="must name at least one"):
        latent_maps(model, data, data, tmp_path / "x.png", subsets=[["radar"]])


def test_posterior_means_skip_items_without_the_subset():
    model, data = _model(), _data(100)
    data.mask[:30, 1] = False
    z, y = posterior_means(model, data, ["label"])
    assert z.shape == (70, model.latent_dim) and torch.equal(y, data.labels[30:])
    assert isinstance(model, MultimodalVAE)
