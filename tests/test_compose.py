"""The fusion x scheme x estimator matrix: every preset trains, schemes evaluate the right subsets,
and invalid combinations fail at construction with a reason."""

import pytest
import torch

from fusevae.api import check_config
from fusevae.config import ModalityConfig, ObjectiveConfig
from fusevae.data import make_batch
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.presets import PRESETS, compose, preset_config

from .conftest import small_config


def _specs(m: int) -> list[ModalityConfig]:
    specs = [ModalityConfig("label", "label", [], num_classes=4, likelihood="categorical")]
    specs += [ModalityConfig(f"v{i}", "vector", [6], likelihood="gaussian") for i in range(m - 1)]
    return specs


def _synthetic(m: int, n: int = 24, seed: int = 0):
    """Vectors that depend on a shared class, some modalities missing per sample."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    centres = torch.randn(m - 1, 4, 6, generator=g) * 2
    data = {"label": y} | {f"v{i}": centres[i, y] + 0.3 * torch.randn(n, 6, generator=g) for i in range(m - 1)}
    mask = torch.rand(n, m, generator=g) > 0.3
    mask[torch.arange(n), torch.randint(0, m, (n,), generator=g)] = True  # at least one per sample
    return data, mask


@pytest.mark.parametrize("m", [2, 3, 5])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_a_few_steps_without_nan(name, m):
    torch.manual_seed(0)
    cfg = PRESETS[name](_specs(m), "synthetic")
    for mod in cfg.model.modalities:  # the presets' 512-unit layers, shrunk for speed
        mod.encoder_hidden, mod.decoder_hidden = [32], [32]
    cfg.model.latent_dim = 8
    model = MultimodalVAE(cfg.model)
    objective = make_objective(cfg.objective, model, epochs=1)  # tvae: stage 2 from step 2
    data, mask = _synthetic(m)
    # JMVAE encodes the full, leave-one-out and single sets, tVAE the full and single ones: complete data only
    if (name == "jmvae" and m > 3) or (name == "tvae" and m > 2):
        with pytest.raises(ValueError, match="no encoder for the subset"):
            objective(model, make_batch(data, model.names, mask=mask), epoch=0.0)
        mask = torch.ones_like(mask)
    batch = make_batch(data, model.names, mask=mask)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(4):
        out = objective(model, batch, epoch=step / 4)
        assert torch.isfinite(out.loss), f"{name}, M={m}: loss {out.loss} at step {step}"
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _spy(model):
    calls = []
    fuse = model.fuse

    def recording(encoded, subsets):
        calls.append(subsets.clone())
        return fuse(encoded, subsets)

    model.fuse = recording
    return calls


def test_ecg_evaluates_the_joint_and_every_nonempty_subset_within_each_samples_modalities():
    torch.manual_seed(0)
    model = MultimodalVAE(small_config("poe", m_vectors=2))  # M = 4
    data = {"image": torch.rand(3, 1, 28, 28), "label": torch.tensor([1, 2, 3]), "vec0": torch.randn(3, 5)}
    data["vec1"] = torch.randn(3, 5)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    batch = make_batch(data, model.names, mask=mask)
    calls = _spy(model)
    objective = make_objective(ObjectiveConfig(kind="ecg"), model)
    encode_calls = []
    encode = model.encode
    model.encode = lambda b: encode_calls.append(1) or encode(b)
    objective(model, batch, epoch=1.0)
    assert len(encode_calls) == 1  # encoders run once per step
    (subsets,) = calls
    assert subsets.shape == (2**4, 3, 4)  # L(x_[1:M]) and the 2^M - 1 subsets, one fuse call
    assert torch.equal(subsets[0], mask)
    rows = {tuple(r.tolist()) for r in subsets[1:, 0]}
    assert len(rows) == 15 and (False,) * 4 not in rows  # every non-empty subset of a complete sample
    assert not (subsets & ~mask).any()  # never a modality a sample lacks


def test_rmd_draws_one_subset_of_the_present_modalities_and_reconstructs_them_all():
    torch.manual_seed(0)
    model = MultimodalVAE(small_config("bce", m_vectors=1))
    data = {"image": torch.rand(64, 1, 28, 28), "label": torch.randint(0, 10, (64,)), "vec0": torch.randn(64, 5)}
    mask = torch.rand(64, 3) > 0.3
    mask[:, 0] = True
    batch = make_batch(data, model.names, mask=mask)
    calls = _spy(model)
    make_objective(ObjectiveConfig(kind="rmd"), model)(model, batch, epoch=1.0)
    (subsets,) = calls
    assert subsets.shape == (1, 64, 3) and subsets.any(-1).all() and not (subsets & ~mask).any()
    assert (subsets != mask).any()  # some samples got a strict subset


def test_mmvae_scheme_mixes_the_unimodal_posteriors_of_any_fusion():
    torch.manual_seed(0)
    model = MultimodalVAE(small_config("set_attention"))
    data = {"image": torch.rand(4, 1, 28, 28), "label": torch.tensor([1, 2, 3, 4])}
    batch = make_batch(data, model.names)
    calls = _spy(model)
    out = make_objective(ObjectiveConfig(kind="mmvae", estimator="iwae", k=4, variant="looser"), model)(
        model, batch, epoch=1.0
    )
    assert torch.isfinite(out.loss)
    (subsets,) = calls
    assert torch.equal(subsets.sum(-1), torch.ones(2, 4, dtype=torch.long))  # singles only


@pytest.mark.parametrize(
    "fusion,scheme,estimator,extra,words",
    [
        ("set_attention", "lcd", "elbo", [], "embeddings"),
        ("mean", "joint", "elbo", ["model.fusion.lcd_alpha=0.3"], "embeddings"),
        ("poe", "lcd", "elbo", ["model.fusion.lcd_alpha=0.0"], "lcd_alpha"),
        ("poe", "joint", "iwae", ['objective.variant="looser"'], "single Gaussian"),
        ("moe", "joint", "iwae", ['objective.variant="looser"', "objective.k=1"], "every mixture component"),
        ("poe", "ecg", "elbo", ["objective.include_full=true"], "smvae"),
        ("poe", "joint", "elbo", ["objective.random_subsets=2"], "mvae"),
        ("bce", "joint", "elbo", ["model.fusion.rbcm_beta=1.0"], "rbcm"),
        ("poe", "joint", "elbo", ['objective.variant="loosest"'], "variant"),
        ("rbcm", "lcd", "elbo", ["model.fusion.lcd_alpha=1.5"], "alpha"),
        ("poe", "joint", "elbo", ['model.fusion.prior_expert="full"'], "only applies to the mopoe"),
        ("mopoe", "joint", "elbo", ['model.fusion.prior_expert="none"'], "prior_expert must be"),
        ("moe", "joint", "iwae", ['objective.mixture_kl="mean"'], "leave it at 'sampled'"),
        ("poe", "joint", "elbo", ["model.fusion.head_hidden=[]"], "head_hidden only applies"),
        ("subset_encoders", "jmvae", "elbo", ["model.fusion.head_hidden=[0]"], "positive integer"),
        ("zero_fill", "jmvae_zero", "elbo", ["model.fusion.single_head_hidden=[8]"], "single_head_hidden only"),
        ("mopoe", "joint", "elbo", ['objective.variant="looser"', 'objective.mixture_kl="median"'], "mixture_kl"),
    ],
)
def test_invalid_combinations_fail_at_construction_naming_why(fusion, scheme, estimator, extra, words):
    from fusevae.api import make_config

    with pytest.raises(ValueError, match=words):
        make_config(None, "mnist", extra, fusion, scheme, estimator)


def test_replacing_one_axis_of_a_preset_keeps_its_settings_of_the_others():
    """jmvae's subsets and alpha, mopoe's prior expert: the estimator swap must not reset them to defaults."""
    from fusevae.data import dataset_modalities

    specs = dataset_modalities("mnist")
    jm = preset_config("jmvae", specs, "mnist", estimator="iwae")
    assert (jm.model.fusion.subsets, jm.objective.alpha, jm.objective.estimator) == ("jmvae", 0.1, "iwae")
    mo = preset_config("mopoe", specs, "mnist", estimator="iwae")
    assert mo.model.fusion.prior_expert == "full" and mo.objective.variant == "looser"
    assert preset_config("mopoe", specs, "mnist", fusion="poe").model.fusion.prior_expert == "every"


def test_free_composition_and_preset_axes_replacement():
    from fusevae.data import dataset_modalities

    specs = dataset_modalities("mnist")
    cfg = preset_config(None, specs, "mnist", "rbcm", "lcd", "iwae")
    assert (cfg.model.fusion.kind, cfg.objective.kind, cfg.objective.estimator) == ("rbcm", "lcd", "iwae")
    assert cfg.model.fusion.lcd_alpha == 0.1 and cfg.objective.k == 10 and cfg.preset == "rbcm+lcd+iwae"
    check_config(cfg)
    swapped = preset_config("mmvae", specs, "mnist", estimator="iwae")
    assert swapped.model.fusion.kind == "moe" and swapped.objective.estimator == "iwae"
    assert swapped.objective.variant == "looser" and swapped.objective.k == 20
    assert compose(specs, "mnist", "mopoe", "joint", "elbo").objective.variant == "looser"
