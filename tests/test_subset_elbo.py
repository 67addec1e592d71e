"""M2VAE eq. 12: the ELBO of every modality under the encoder of each subset, and the Figs. 4-5 maps."""

import functools
import math

import matplotlib.pyplot as plt
import pytest
import torch

from fusevae.data import dataset_modalities, load_dataset
from fusevae.data.tensor_dataset import MultimodalTensorDataset
from fusevae.distributions import DiagGaussian, UniformMixture
from fusevae.figures import latent_elbo_maps
from fusevae.metrics.likelihood import importance_log_likelihoods
from fusevae.metrics.subset_elbo import subset_elbo_table, subset_elbos
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.presets import preset_config

LOG_2PI = math.log(2 * math.pi)


@pytest.fixture(autouse=True)
def _one_thread():
    # these models are tiny: one thread is ~100x faster than two when another process holds a core
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=1)
def mog():
    return load_dataset("mog")


def mog_model(preset="mvae", latent=2, hidden=(32,), seed=0):
    cfg = preset_config(preset, dataset_modalities("mog"), "mog")
    for m in cfg.model.modalities:
        m.encoder_hidden, m.decoder_hidden = list(hidden), list(hidden)
    cfg.model.latent_dim = latent
    torch.manual_seed(seed)
    return MultimodalVAE(cfg.model), cfg


@functools.lru_cache(maxsize=2)
def trained_mog_model(preset="mvae", steps=400):
    """An MVAE (PoE, 2-d latent) trained for a few hundred steps on the M2VAE mixture of Gaussians (~2 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    model, cfg = mog_model(preset, hidden=(64, 64))
    cfg.objective.warmup_epochs = cfg.objective.warmup_fraction = 0.0
    objective = make_objective(cfg.objective, model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    train = mog().train
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        out = objective(model, train[torch.randint(0, len(train), (128,), generator=g)], epoch=1.0)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    torch.set_num_threads(before)
    return model.eval()


def _gaussian_log_density(z, mu, logvar):
    return (-0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + LOG_2PI)).sum(-1)


def _hand_elbo(model, batch, subset, k, seed):
    """(1/K) sum_k log p(x, w | z_k) + log N(z_k; 0, I) - log q(z_k | x_S), written out by hand."""
    q = model.posterior(batch, subset)
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn((k, 1, *q.mu.shape), generator=g)[:, 0]  # the layout subset_elbos draws: (K, S=1, B, D)
    z = q.mu + (0.5 * q.logvar).exp() * eps
    total = _gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)) - _gaussian_log_density(
        z, q.mu, q.logvar
    )
    for name in ("x", "w"):  # every decoder, whatever the subset: Gaussian with the fixed scale 0.1
        loc = model.nets[name].decode(z)
        scale = torch.tensor(0.1)
        total = total + (-0.5 * ((batch.data[name] - loc) / scale) ** 2 - scale.log() - 0.5 * LOG_2PI).sum(-1)
    return total.mean(0)


def test_keys_are_the_subsets_in_model_order_with_one_value_per_item():
    model, _ = mog_model()
    batch = mog().test[torch.arange(7)]
    out = subset_elbos(model, batch, k=3)
    assert list(out) == ["x", "w", "x+w"] and model.encodable_subsets() == [("x",), ("w",), ("x", "w")]
    assert all(v.shape == (7,) and bool(torch.isfinite(v).all()) for v in out.values())
    assert list(subset_elbos(model, batch, [["w", "x"]], k=2)) == ["x+w"]
    assert list(subset_elbos(model, batch, ["x+w", "w"], k=2)) == ["x+w", "w"]
    data = {"x": batch.data["x"], "w": batch.data["w"]}  # a plain mapping works too
    assert subset_elbos(model, data, ["x"], k=2)["x"].shape == (7,)
    with pytest.raises(ValueError, match="unknown modality \\['radar'\\]"):
        subset_elbos(model, batch, [["x", "radar"]])
    with pytest.raises(ValueError, match="at least one modality"):
        subset_elbos(model, batch, [[]])
    with pytest.raises(ValueError, match="given twice"):
        subset_elbos(model, batch, ["x+w", ["w", "x"]])
    with pytest.raises(ValueError, match="k must be"):
        subset_elbos(model, batch, k=0)


@pytest.mark.parametrize("subset", [["x", "w"], ["x"], ["w"]])
def test_the_elbo_is_a_hand_written_monte_carlo_decoding_every_modality(subset):
    model, _ = mog_model(hidden=(16, 16))
    batch = mog().test[torch.arange(12)]
    out = subset_elbos(model, batch, [subset], k=6, generator=torch.Generator().manual_seed(3))
    (value,) = out.values()
    expected = _hand_elbo(model, batch, subset, k=6, seed=3)
    assert torch.allclose(value, expected, rtol=1e-5, atol=1e-4)
    # the same generator state gives the same numbers; the global random state is not consumed
    state = torch.get_rng_state()
    again = subset_elbos(model, batch, [subset], k=6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(next(iter(again.values())), value) and torch.equal(torch.get_rng_state(), state)


def test_the_elbo_lies_below_the_importance_sampled_log_likelihood():
    model = trained_mog_model()
    batch = mog().test[torch.arange(100)]
    torch.manual_seed(0)
    log_p = importance_log_likelihoods(model, batch, ["x", "w"], {"xw": ["x", "w"]}, k=2000)["xw"]
    elbos = subset_elbos(model, batch, k=200, generator=torch.Generator().manual_seed(0))
    for name, elbo in elbos.items():
        # every encoder's ELBO bounds log p(x, w); per item up to Monte Carlo noise of both estimates
        assert float(elbo.mean()) <= float(log_p.mean()) + 0.02, name
        assert float((elbo <= log_p + 0.1).float().mean()) >= 0.97, name
    # the fused encoder sees both ambiguous sensors: its bound is the tightest on average
    assert float(elbos["x+w"].mean()) > max(float(elbos["x"].mean()), float(elbos["w"].mean()))


def test_many_samples_converge_to_reconstruction_minus_the_closed_form_kl():
    model = trained_mog_model()
    batch = mog().test[torch.arange(16)]
    k = 20_000
    elbo = subset_elbos(model, batch, ["x"], k=k, generator=torch.Generator().manual_seed(1))["x"]
    q = model.posterior(batch, ["x"])
    assert isinstance(q, DiagGaussian)
    z = q.mu + q.std * torch.randn((k, *q.mu.shape), generator=torch.Generator().manual_seed(2))
    rec = sum(model.nets[n].log_prob(model.nets[n].decode(z), batch.data[n]) for n in ("x", "w"))
    closed = rec.mean(0) - q.kl_standard_normal()
    se = rec.std(0) / math.sqrt(k)
    assert bool(((elbo - closed).abs() < 5 * se + 0.02).all()), (elbo - closed, se)
    # one sample is noisy, the K-sample mean is not
    one = [subset_elbos(model, batch, ["x"], k=1, generator=torch.Generator().manual_seed(s))["x"] for s in (4, 5)]
    many = [subset_elbos(model, batch, ["x"], k=k, generator=torch.Generator().manual_seed(s))["x"] for s in (4, 5)]
    assert float((many[0] - many[1]).abs().max()) < 0.2 * float((one[0] - one[1]).abs().max())


def test_the_table_counts_only_items_with_every_modality():
    model, _ = mog_model()
    test = mog().test
    idx = torch.arange(40)
    data = {m: test.data[m][idx] for m in ("x", "w")}
    mask = torch.ones(40, 2, dtype=torch.bool)
    mask[:10, 1] = False  # ten items lack w
    mask[10:13, 0] = False  # three lack x
    partial = MultimodalTensorDataset(data, ("x", "w"), mask, labels=test.labels[idx])
    complete = MultimodalTensorDataset({m: v[13:] for m, v in data.items()}, ("x", "w"), labels=test.labels[idx][13:])
    table = subset_elbo_table(model, partial, k=4, seed=5)
    assert table == subset_elbo_table(model, complete, k=4, seed=5)
    assert list(table) == ["x", "w", "x+w"] and all(math.isfinite(v) for v in table.values())
    per_item = subset_elbos(model, partial[torch.arange(40)], k=2)
    assert all(bool(v[:13].isnan().all()) and bool(v[13:].isfinite().all()) for v in per_item.values())
    assert subset_elbo_table(model, partial, k=4, seed=5, n_items=5) == subset_elbo_table(
        model, MultimodalTensorDataset({m: v[13:18] for m, v in data.items()}, ("x", "w")), k=4, seed=5
    )
    alternating = mask.clone()
    alternating[:, 0] = torch.arange(40) % 2 == 0
    alternating[:, 1] = ~alternating[:, 0]
    with pytest.raises(ValueError, match="no item has all of the modalities"):
        subset_elbo_table(model, MultimodalTensorDataset(data, ("x", "w"), alternating))


@pytest.mark.parametrize("preset", ["mopoe", "jmvae"])
def test_mixture_and_subset_encoder_posteriors(preset):
    model, _ = mog_model(preset)
    batch = mog().test[torch.arange(10)]
    if preset == "mopoe":
        assert isinstance(model.posterior(batch), UniformMixture)
    state = torch.get_rng_state()
    a = subset_elbos(model, batch, k=5, generator=torch.Generator().manual_seed(0))
    b = subset_elbos(model, batch, k=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)  # the mixture's sampler ran under a forked seed
    assert list(a) == ["x", "w", "x+w"] and all(torch.equal(a[n], b[n]) for n in a)
    assert all(bool(v.isfinite().all()) for v in a.values())


def _spy_subplots(monkeypatch):
    figures = []
    original = plt.subplots

    def spy(*args, **kwargs):
        fig, axes = original(*args, **kwargs)
        figures.append(fig)
        return fig, axes

    monkeypatch.setattr(plt, "subplots", spy)
    return figures


def test_latent_elbo_maps_draw_class_and_elbo_rows_per_encoder(tmp_path, monkeypatch):
    figures = _spy_subplots(monkeypatch)
    model, _ = mog_model()
    path = latent_elbo_maps(model, mog(), tmp_path / "maps" / "elbo.png", n_items=120, k=2)
    assert path == tmp_path / "maps" / "elbo.png" and path.stat().st_size > 5000
    (fig,) = figures
    assert len(fig.axes) == 2 * 3 + 1  # class row and ELBO row per subset, one shared colorbar
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles[0].startswith("q(z | x) means") and "PCA" not in titles[0] and "L_x+w" in titles[5]
    assert fig.axes[0].get_legend() is not None
    # a 3-d latent is projected on principal components, and the titles say so; subsets can be chosen
    model3, _ = mog_model(latent=3)
    latent_elbo_maps(model3, mog().test, tmp_path / "elbo3.png", n_items=50, k=2, subsets=[["x", "w"]])
    assert len(figures[1].axes) == 3 and "PCA 1-2 of 3-d" in figures[1].axes[0].get_title()
