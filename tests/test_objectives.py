import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.config import ObjectiveConfig
from fusevae.data import make_batch
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.subsets import nonempty_subsets, random_subsets, singles

from .conftest import small_config


def obj_singles(mask):
    return list(singles(mask))


def test_nonempty_subsets_and_singles():
    t = nonempty_subsets(3)
    assert t.shape == (7, 3) and t.any(1).all() and len({tuple(r.tolist()) for r in t}) == 7
    mask = torch.tensor([[True, False, True]])
    s = singles(mask)
    assert s.shape == (3, 1, 3) and s[1].sum() == 0 and s[2, 0, 2]


def test_random_subsets_stay_inside_the_present_set_and_cover_it_uniformly():
    mask = torch.tensor([[True, True, False]] * 30000 + [[False, False, True]] * 10)
    sub = random_subsets(mask, nonempty_subsets(3))
    assert (sub & ~mask).sum() == 0 and sub.any(1).all()
    codes = (sub[:30000].long() * torch.tensor([1, 2, 4])).sum(1)
    freq = torch.bincount(codes, minlength=4)[1:4].float() / 30000
    assert torch.allclose(freq, torch.full((3,), 1 / 3), atol=0.015)
    assert (sub[30000:] == torch.tensor([False, False, True])).all()


def _batch(mnist, n=16, drop_label_every=None):
    b = mnist.train[torch.arange(n)]
    if drop_label_every:
        mask = b.mask.clone()
        mask[::drop_label_every, 1] = False
        b = make_batch(b.data, b.modalities, mask=mask, labels=b.labels)
    return b


@pytest.mark.parametrize("kind,fusion", [("mvae", "poe"), ("smvae", "set_attention"), ("smvae", "poe")])
@pytest.mark.parametrize("estimator", ["elbo", "iwae"])
def test_objectives_give_finite_losses_and_gradients_with_missing_modalities(mnist, kind, fusion, estimator):
    model = MultimodalVAE(small_config(fusion))
    obj = make_objective(
        ObjectiveConfig(kind=kind, estimator=estimator, k=3, warmup_epochs=2, l2=1e-3 if kind == "smvae" else 0.0),
        model,
    )
    out = obj(model, _batch(mnist, drop_label_every=3), epoch=0.5)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_kl_warmup_is_linear_then_flat(mnist):
    model = MultimodalVAE(small_config())
    obj = make_objective(ObjectiveConfig(kind="mvae", beta=2.0, warmup_epochs=4), model)
    assert [obj.beta(e) for e in (0, 1, 4, 10)] == [0.0, 0.5, 2.0, 2.0]


def test_kl_warmup_held_at_zero_for_its_first_share_then_linear_then_flat(mnist):
    """warmup_hold 0.5 of a 4-epoch warm-up: beta 0 until epoch 2, then linear to beta at epoch 4 (float or tensor)."""
    model = MultimodalVAE(small_config())
    obj = make_objective(ObjectiveConfig(kind="mvae", beta=2.0, warmup_epochs=4, warmup_hold=0.5), model)
    assert [obj.beta(e) for e in (0, 1, 2, 3, 4, 10)] == [0.0, 0.0, 0.0, 1.0, 2.0, 2.0]
    epochs = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 10.0])
    assert torch.equal(obj.beta(epochs), torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0, 2.0]))
    shared = make_objective(ObjectiveConfig(kind="mvae", warmup_fraction=1.0, warmup_hold=0.25), model, epochs=8)
    assert [shared.beta(e) for e in (1, 2, 5, 8)] == [0.0, 0.0, 0.5, 1.0]  # a share of the budget's warm-up
    with pytest.raises(ValueError, match="share of the warm-up in"):
        make_objective(ObjectiveConfig(kind="mvae", warmup_epochs=4, warmup_hold=1.0), model)
    with pytest.raises(ValueError, match="but there is none"):
        make_objective(ObjectiveConfig(kind="mvae", warmup_hold=0.5), model)


def test_mvae_skips_subsets_of_missing_modalities(mnist):
    """A sample without its label contributes exactly its image-only ELBO twice (joint = image only)."""
    model = MultimodalVAE(small_config("poe"))
    obj = make_objective(ObjectiveConfig(kind="mvae"), model)
    full = _batch(mnist, n=1)
    no_label = make_batch({"image": full.data["image"]}, ("image", "label"))
    torch.manual_seed(0)
    out = obj(model, no_label, epoch=1.0)
    torch.manual_seed(0)
    q = model.fuse(model.encode(no_label), no_label.mask)
    # same seed, same noise: joint subset (image) + single image subset = 2 x the image ELBO
    z = q.rsample(1)
    single = model.nets["image"].log_prob(model.nets["image"].decode(z), no_label.data["image"]).mean(0)
    elbo = single - q.kl_standard_normal()
    assert torch.allclose(out.loss, -2 * elbo.mean(), rtol=0.05)


def test_label_weight_scales_only_the_label_term(mnist):
    model = MultimodalVAE(small_config("poe")).eval()
    b = _batch(mnist, n=8)
    losses = []
    for w in (1.0, 3.0):
        obj = make_objective(ObjectiveConfig(kind="mvae", weights={"label": w}), model)
        torch.manual_seed(0)
        losses.append(obj(model, b, 1.0).loss)
    # same noise: the label enters the joint and the label-only ELBO, each scaled by w
    torch.manual_seed(0)
    q = model.fuse(model.encode(b), torch.stack([b.mask, *obj_singles(b.mask)]))
    z = q.rsample(1)
    label_ll = model.nets["label"].log_prob(model.nets["label"].decode(z), b.data["label"]).mean(0)
    expected = -(label_ll[0] + label_ll[2]).mean() * 2.0
    assert torch.allclose(losses[1] - losses[0], expected, rtol=1e-4, atol=1e-4)


def test_permuting_the_set_fusion_input_per_sample_keeps_the_posterior(mnist):
    """What eq. 4's random order does inside the SMVAE objective: shuffle each sample's modalities."""
    model = MultimodalVAE(small_config("set_attention")).eval()
    b = _batch(mnist)
    sub = random_subsets(b.mask, nonempty_subsets(2))
    enc = model.encode(b)
    perm = torch.stack([torch.randperm(2) for _ in range(len(b))])
    q_plain = model.fuse(enc, sub)
    q_perm = model.fuse(enc[torch.arange(len(b)).unsqueeze(1), perm], sub.gather(1, perm))
    assert torch.allclose(q_plain.mu, q_perm.mu, atol=1e-5)
    assert torch.allclose(q_plain.logvar, q_perm.logvar, atol=1e-5)


def test_invalid_objective_settings_fail_at_construction():
    model = MultimodalVAE(small_config())
    with pytest.raises(ValueError, match="unknown modality"):
        make_objective(ObjectiveConfig(weights={"audio": 2.0}), model)
    with pytest.raises(ValueError, match="reconstruct"):
        make_objective(ObjectiveConfig(kind="smvae", reconstruct="everything"), model)
    with pytest.raises(ValueError, match="unknown scheme"):
        make_objective(ObjectiveConfig(kind="jmvae2"), model)
    with pytest.raises(ValueError, match="estimator"):
        make_objective(ObjectiveConfig(estimator="vimco"), model)


_MODELS = {}
_FUSIONS = ["poe", "moe", "mopoe", "rbcm", "bce", "rce", "set_attention", "mean", "sum"]
_SCHEMES = ["joint", "mvae", "ecg", "rmd", "lcd", "smvae", "mmvae"]


def _model(fusion, lcd):
    if (fusion, lcd) not in _MODELS:
        torch.manual_seed(0)
        cfg = small_config(fusion, m_vectors=1)
        cfg.fusion.lcd_alpha = 0.5 if lcd else 0.0
        _MODELS[fusion, lcd] = MultimodalVAE(cfg)
    return _MODELS[fusion, lcd]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.booleans(), min_size=3, max_size=3).filter(any), min_size=1, max_size=6),
    st.sampled_from(_FUSIONS),
    st.sampled_from(_SCHEMES),
    st.sampled_from(["elbo", "iwae", "dreg"]),
    st.floats(0.0, 5.0),
)
def test_any_per_sample_mask_gives_a_finite_loss_and_gradient(rows, fusion, kind, estimator, epoch):
    lcd = kind == "lcd"
    if lcd and fusion in ("set_attention", "mean", "sum"):
        return  # rejected at construction: tested in test_compose
    model = _model(fusion, lcd)
    model.train()
    n = len(rows)
    data = {"image": torch.rand(n, 1, 28, 28), "label": torch.randint(0, 10, (n,)), "vec0": torch.randn(n, 5) * 10}
    batch = make_batch(data, model.names, mask=torch.tensor(rows))
    extra = {"random_subsets": 1} if kind == "mvae" else {}
    obj = make_objective(ObjectiveConfig(kind=kind, estimator=estimator, k=3, warmup_epochs=1.0, **extra), model)
    model.zero_grad()
    out = obj(model, batch, epoch)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
