"""M2VAE's recursive bound, JMVAE-Zero and tVAE: the bounds against the paper's written-out sums, short real runs."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae import api
from fusevae.checkpoint import load_model
from fusevae.config import FusionConfig
from fusevae.data import load_dataset
from fusevae.data.batch import Batch
from fusevae.distributions import DiagGaussian
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.objectives.jmvae import kl_diag_gaussians
from fusevae.objectives.m2vae import recursion_weights
from fusevae.objectives.two_stage import zero_augmented_rows
from fusevae.subsets import nonempty_subsets

from .conftest import small_config

MOG_PAPER = [  # M2VAE Table 2, MoG: fc 2-128 per modality, concat-64-2 heads, decoders 2-128-2 (tanh)
    "model.latent_dim=2",
    "model.activation=relu",
    "model.decoder_activation=tanh",
    "model.modalities.x.encoder_hidden=[128]",
    "model.modalities.w.encoder_hidden=[128]",
    "model.modalities.x.decoder_hidden=[128]",
    "model.modalities.w.decoder_hidden=[128]",
    "train.optimizer=rmsprop",
    "train.limit_train=12000",
    "train.threads=1",  # tiny networks: a second thread only waits on the first
    "train.limit_val=500",
    "objective.warmup_epochs=0",
    "objective.warmup_fraction=0",
]


def _deterministic(objective):
    """Samples replaced by posterior means, so a bound can be compared with a hand-written sum exactly."""
    objective.estimator.sample = lambda q: (q.mu.unsqueeze(0), None)
    return objective


def _objective(model, preset, **options):
    cfg = api.make_config(preset, "mnist").objective
    cfg.warmup_epochs = cfg.warmup_fraction = 0.0
    cfg.weights = {}  # the presets' lambda = 50 on labels: the paper's sums have none
    for k, v in options.items():
        setattr(cfg, k, v)
    return _deterministic(make_objective(cfg, model, epochs=2))


def _q(model, encoded, batch, names):
    mask = torch.zeros_like(batch.mask)
    for n in names:
        mask[:, model.names.index(n)] = True
    q = model.fuse(encoded, mask & batch.mask)
    assert isinstance(q, DiagGaussian)
    return q


def _elbo(model, encoded, batch, inputs, targets, beta):
    """E_q(z|inputs)[log p(x_targets | z)] - beta KL(q || p) at z = the posterior mean."""
    q = _q(model, encoded, batch, inputs)
    ll = model.log_likelihoods(q.mu, batch, targets)
    return sum(ll.values()) - beta * q.kl_standard_normal(), q


def _lm(model, encoded, batch, subset, alpha, beta):
    """L^M_S: the joint ELBO of S minus alpha * KL to each subset one smaller (eq. 3, 9-10, 17-18)."""
    joint, q = _elbo(model, encoded, batch, subset, subset, beta)
    for m in subset:
        rest = [n for n in subset if n != m]
        joint = joint - alpha * kl_diag_gaussians(q, _q(model, encoded, batch, rest))
    return joint


def _data_size(model, names):
    return sum(
        model.nets[n].cfg.num_classes if model.nets[n].cfg.kind == "label" else math.prod(model.nets[n].cfg.shape)
        for n in names
    )


def test_recursion_weights_unroll_eq_11():
    """The closed form 1 / C(n, |S|) equals walking the recursion of eq. 11 down from X."""

    def walk(x, weight, acc):
        if len(x) == 1:
            acc[x] = acc.get(x, 0.0) + weight
            return
        acc[x] = acc.get(x, 0.0) + weight / len(x)  # L^M_X's share
        for m in x:
            walk(tuple(v for v in x if v != m), weight / len(x), acc)

    for n in range(1, 6):
        acc: dict = {}
        walk(tuple(range(n)), 1.0, acc)
        subsets = [c for r in range(1, n + 1) for c in itertools.combinations(range(n), r)]
        w_elbo, w_kl = recursion_weights(torch.tensor([len(s) for s in subsets]), torch.tensor([n]))
        for i, s in enumerate(subsets):
            assert float(w_elbo[i, 0]) == pytest.approx(acc[s], rel=1e-6), s
            assert float(w_kl[i, 0]) == pytest.approx(acc[s] if len(s) > 1 else 0.0, rel=1e-6), s
    w, _ = recursion_weights(torch.tensor([1, 2, 3]), torch.tensor([2]))
    assert float(w[2, 0]) == 0.0  # a subset larger than the item's set has no weight


def test_the_bimodal_bound_is_the_sum_written_out_in_eq_6_to_10(mnist):
    torch.manual_seed(0)
    model = MultimodalVAE(small_config("subset_encoders"))
    batch = mnist.test[torch.arange(12)]
    batch.mask[:3, 1] = False  # three items lack their label: their bound is the image's ELBO alone
    alpha, beta_norm = 0.3, 0.05
    out = _objective(model, "m2vae", alpha=alpha, beta_norm=beta_norm)(model, batch, epoch=1.0)
    enc = model.encode(batch)
    sets = (("image",), ("label",), ("image", "label"))
    beta = {s: beta_norm * _data_size(model, s) / model.latent_dim for s in sets}
    la, q_a = _elbo(model, enc, batch, ["image"], ["image"], beta[("image",)])  # eq. 7
    lb, q_b = _elbo(model, enc, batch, ["label"], ["label"], beta[("label",)])  # eq. 8
    joint, q_ab = _elbo(model, enc, batch, ["image", "label"], ["image", "label"], beta[("image", "label")])  # eq. 9
    mutual = alpha * (kl_diag_gaussians(q_ab, q_a) + kl_diag_gaussians(q_ab, q_b))  # eq. 10
    expected = 0.5 * (la + lb + joint - mutual)  # eq. 6: 2 L = L_a + L_b + L_M
    expected[:3] = la[:3]
    assert float(out.loss) == pytest.approx(float(-expected.mean()), rel=1e-5)


def test_the_trimodal_bound_matches_appendix_6_1_2(mnist):
    torch.manual_seed(1)
    model = MultimodalVAE(small_config("subset_encoders", m_vectors=1))
    batch = mnist.test[torch.arange(10)]
    data = dict(batch.data)
    data["vec0"] = torch.randn(10, 5)
    batch = Batch(data, torch.ones(10, 3, dtype=torch.bool), batch.labels)
    alpha = 0.2
    out = _objective(model, "m2vae", alpha=alpha, subset_beta={"image+vec0": 2.0})(model, batch, epoch=1.0)
    enc = model.encode(batch)

    def beta(s):
        return 2.0 if set(s) == {"image", "vec0"} else 1.0

    def single(m):
        return _elbo(model, enc, batch, [m], [m], 1.0)[0]

    def lm2_pair(a, b):  # log p(a, b)^2 >= L_a + L_b + L^M_ab (eq. 6), the appendix's L^M2_ab
        return single(a) + single(b) + _lm(model, enc, batch, [a, b], alpha, beta((a, b)))

    a, b, c = "image", "label", "vec0"
    l3m = _lm(model, enc, batch, [a, b, c], alpha, 1.0)  # eq. 17-18
    expected = (lm2_pair(a, b) + lm2_pair(b, c) + lm2_pair(a, c)) / 6 + l3m / 3  # eq. 27
    assert float(out.loss) == pytest.approx(float(-expected.mean()), rel=1e-5)


@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_the_jmvae_zero_augmented_set_has_one_copy_per_present_modality(rows):
    mask = torch.tensor(rows)
    mask[:, 0] |= ~mask.any(-1)  # every item has a modality
    inputs, valid = zero_augmented_rows(mask)
    n = mask.sum(-1)
    assert int(valid.sum()) == int(torch.where(n >= 2, 1 + n, torch.ones_like(n)).sum())
    complete = torch.ones(7, 3, dtype=torch.bool)
    assert int(zero_augmented_rows(complete)[1].sum()) == 7 * (1 + 3)  # N complete items -> N (1 + M)
    for r in range(4):  # each valid row keeps its item's full set or one of its modalities
        for b in range(len(mask)):
            if valid[r, b]:
                expect = mask[b] if r == 0 else torch.eye(3, dtype=torch.bool)[r - 1]
                assert torch.equal(inputs[r, b], expect)


def test_zero_fill_feeds_a_left_out_modality_as_zeros():
    torch.manual_seed(2)
    cfg = small_config("zero_fill", m_vectors=1)
    model = MultimodalVAE(cfg)
    x = {"image": torch.rand(5, 1, 28, 28), "label": torch.randint(0, 10, (5,)), "vec0": torch.randn(5, 5)}
    left_out = model.posterior(x, ["image", "label"])
    zeros = model.posterior({**x, "vec0": torch.zeros(5, 5)})
    absent = model.posterior({"image": x["image"], "label": x["label"]})
    assert torch.allclose(left_out.mu, zeros.mu, atol=1e-6) and torch.allclose(left_out.mu, absent.mu, atol=1e-6)
    assert not torch.allclose(left_out.mu, model.posterior(x).mu)
    empty = model.fuse(model.encode(model.as_batch(x)), torch.zeros(5, 3, dtype=torch.bool))
    assert torch.equal(empty.mu, torch.zeros(5, 8))  # no modality: the prior


def test_the_jmvae_zero_loss_reconstructs_every_present_modality_from_each_row(mnist):
    torch.manual_seed(3)
    model = MultimodalVAE(small_config("zero_fill"))
    batch = mnist.test[torch.arange(8)]
    batch.mask[:2, 0] = False
    out = _objective(model, "jmvae-zero")(model, batch, epoch=1.0)
    enc = model.encode(batch)
    full = ["image", "label"]
    expected = torch.zeros(8)
    for b in range(8):
        present = [n for i, n in enumerate(full) if batch.mask[b, i]]
        rows = [present] + ([[n] for n in present] if len(present) > 1 else [])
        for r in rows:
            sub = Batch({k: v[b : b + 1] for k, v in batch.data.items()}, batch.mask[b : b + 1], None)
            e = enc[b : b + 1]
            expected[b] += _elbo(model, e, sub, r, present, 1.0)[0][0]
    assert float(out.loss) == pytest.approx(float(-expected.mean()), rel=1e-5)


def test_tvae_trains_the_joint_vae_then_only_the_single_encoders(mnist):
    torch.manual_seed(4)
    cfg = small_config("subset_encoders")
    cfg.fusion = FusionConfig(kind="subset_encoders", subsets="singles")
    model = MultimodalVAE(cfg)
    objective = _objective(model, "tvae")  # 2 epochs, the first trains the joint VAE
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = mnist.test[torch.arange(32)]

    def step(epoch):
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        opt.zero_grad()
        objective(model, batch, epoch).loss.backward()
        opt.step()
        return {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}

    changed = step(0.5)
    assert any(k.startswith("nets.image.decoder") for k in changed)
    assert any(k.startswith("fusion.heads.image+label") for k in changed)
    assert not any(k.startswith(("fusion.heads.image.", "fusion.heads.label.")) for k in changed)
    changed = step(1.5)
    assert changed and all(k.startswith(("fusion.heads.image.", "fusion.heads.label.")) for k in changed), changed
    with pytest.raises(ValueError, match="training length"):
        make_objective(objective.cfg, model)(model, batch, 0.0)


@pytest.fixture(scope="module")
def mog():
    return load_dataset("mog")


@pytest.mark.parametrize("preset", ["m2vae", "jmvae-zero", "tvae"])
def test_a_short_real_run_on_the_mixture_of_gaussians_improves_every_subset_elbo(tmp_path, mog, preset):
    cfg = api.make_config(preset, "mog", MOG_PAPER + ["train.epochs=2", "train.batch_size=64"])
    torch.manual_seed(cfg.train.seed)
    fresh = MultimodalVAE(cfg.model).eval()
    run = api.train(cfg, out=tmp_path / preset, progress=False)
    model, _ = load_model(run)
    batch = mog.test[torch.arange(600)]

    def elbos(m):  # eq. 12: every decoder, the encoder of one subset
        torch.manual_seed(0)
        out = {}
        enc = m.encode(batch)
        for row in nonempty_subsets(2):
            q = m.fuse(enc, row.expand(600, 2))
            z = q.rsample(8)
            ll = sum(m.log_likelihoods(z, batch).values()).mean(0)
            out[tuple(row.tolist())] = float((ll - q.kl_standard_normal()).mean())
        return out

    with torch.no_grad():
        before, after = elbos(fresh), elbos(model.eval())
    for s in before:
        assert after[s] > before[s] + 1.0, (preset, s, before, after)
