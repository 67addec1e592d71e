import math

import pytest
import torch

from fusevae.distributions import DiagGaussian, UniformMixture
from fusevae.objectives.estimators import ELBO, IWAE, DReG


def _linear_gaussian():
    """z ~ N(0, I_2), x | z ~ N(W z + b, s^2 I_3): log p(x) = log N(x; b, W W^T + s^2 I) exactly."""
    torch.manual_seed(3)
    w, b, s = torch.randn(3, 2), torch.randn(3), 0.5
    x = torch.randn(3) * 2
    exact = torch.distributions.MultivariateNormal(b, w @ w.T + s**2 * torch.eye(3)).log_prob(x)
    # a deliberately imperfect proposal: the true posterior's mean, shifted, with inflated variance
    prec = torch.eye(2) + w.T @ w / s**2
    cov = torch.linalg.inv(prec)
    mean = cov @ w.T @ (x - b) / s**2
    q = DiagGaussian((mean + 0.3).unsqueeze(0), torch.log(torch.diagonal(cov) * 2.0).unsqueeze(0))

    def rec(z):
        return torch.distributions.Normal(z @ w.T + b, s).log_prob(x).sum(-1)

    return exact, q, rec


def test_iwae_is_below_the_exact_log_likelihood_and_approaches_it_as_k_grows():
    exact, q, rec = _linear_gaussian()
    gaps = []
    for k in (1, 10, 100, 1000):
        est = IWAE(k)
        vals = []
        for _ in range(200):
            z = q.rsample(k)
            vals.append(est(rec(z), z, None, q, 1.0))
        mean = torch.stack(vals).mean()
        gaps.append(float(exact - mean))
    assert all(g > -0.01 for g in gaps), gaps  # a lower bound in expectation
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3], gaps  # tighter with K
    assert gaps[-1] < 0.02, gaps


def test_elbo_with_analytic_kl_equals_iwae_with_k1_in_expectation():
    exact, q, rec = _linear_gaussian()
    z = q.rsample(200_000)
    elbo = ELBO(1)(rec(z).unsqueeze(1), z.unsqueeze(1), None, q, 1.0).mean()
    iwae1 = IWAE(1)(rec(z).unsqueeze(0), z.unsqueeze(0), None, q, 1.0).mean()
    assert abs(float(elbo - iwae1)) < 0.05
    assert float(elbo) < float(exact)


def test_estimators_reject_k_below_one():
    for cls in (ELBO, IWAE):
        try:
            cls(0)
        except ValueError as e:
            assert "k" in str(e)
        else:
            raise AssertionError("k=0 accepted")


def test_importance_log_likelihood_is_batched_and_chunk_invariant(mnist):
    from fusevae.metrics.likelihood import importance_log_likelihoods
    from fusevae.model import MultimodalVAE

    from .conftest import small_config

    model = MultimodalVAE(small_config("poe")).eval()
    batch = mnist.test[torch.arange(5)]
    targets = {"xy": ["image", "label"], "x": ["image"]}
    torch.manual_seed(0)
    a = importance_log_likelihoods(model, batch, ["image", "label"], targets, k=64, memory_budget=1 << 30)
    torch.manual_seed(0)
    b = importance_log_likelihoods(model, batch, ["image", "label"], targets, k=64, memory_budget=1 << 30)
    assert torch.allclose(a["xy"], b["xy"])
    small = importance_log_likelihoods(model, batch, ["image", "label"], targets, k=64, memory_budget=1)
    # different chunking draws different samples; both estimate the same quantity
    assert torch.allclose(a["xy"], small["xy"], atol=0.05 * a["xy"].abs().max())
    assert (a["xy"] <= a["x"] + 1e-4).all()  # adding a modality's likelihood can only lower log p
    prior = importance_log_likelihoods(model, batch, [], {"y": ["label"]}, k=2000)
    assert torch.isfinite(prior["y"]).all() and (prior["y"] <= 0).all()
    assert math.isfinite(float(prior["y"].mean()))


def _encoder_grads(est_cls, reps=300, k=32):
    exact, q0, rec = _linear_gaussian()
    mu = q0.mu.clone().requires_grad_(True)
    logvar = q0.logvar.clone().requires_grad_(True)
    grads, values = [], []
    for _ in range(reps):
        q = DiagGaussian(mu, logvar)
        est = est_cls(k)
        z, comp = est.sample(q)
        bound = est(rec(z), z, comp, q, 1.0).sum()
        g_mu, g_lv = torch.autograd.grad(bound, [mu, logvar])
        grads.append(torch.cat([g_mu.flatten(), g_lv.flatten()]))
        values.append(bound.detach())
    return torch.stack(grads), torch.stack(values)


def test_dreg_has_the_iwae_value_and_a_lower_variance_encoder_gradient():
    torch.manual_seed(0)
    g_iwae, v_iwae = _encoder_grads(IWAE)
    torch.manual_seed(0)
    g_dreg, v_dreg = _encoder_grads(DReG)
    assert torch.allclose(v_iwae, v_dreg)  # same samples, same value
    # both estimate the same gradient ...
    assert torch.allclose(g_iwae.mean(0), g_dreg.mean(0), atol=4 * float(g_iwae.std(0).max()) / 300**0.5)
    # ... DReG with much less variance (Tucker et al. 2019)
    assert (g_dreg.var(0) < 0.5 * g_iwae.var(0)).all()


def test_mixture_bounds_order_and_converge():
    """For a mixture proposal: looser <= tighter, and the tighter IWAE approaches log p(x) as K grows."""
    exact, q, rec = _linear_gaussian()
    comps = DiagGaussian(torch.stack([q.mu, q.mu - 0.6], 1), torch.stack([q.logvar, q.logvar + 0.5], 1))
    mix = UniformMixture(comps, torch.ones(1, 2, dtype=torch.bool))
    torch.manual_seed(0)
    gaps = {}
    for k in (2, 64, 2048):
        tight, loose = [], []
        for _ in range(20):
            z, comp = IWAE(k).sample(mix)
            tight.append(IWAE(k, "tighter")(rec(z), z, comp, mix, 1.0))
            loose.append(IWAE(k, "looser")(rec(z), z, comp, mix, 1.0))
        tight, loose = torch.stack(tight), torch.stack(loose)
        assert (loose <= tight + 1e-5).all()  # Jensen, on the very same samples
        gaps[k] = float(exact - tight.mean())
    assert -0.01 < gaps[2048] < 0.05 < gaps[2]
    # the mixture ELBO: Monte Carlo KL (tighter) vs mean of component ELBOs with closed-form KL (looser)
    torch.manual_seed(0)
    z, comp = ELBO(200000).sample(mix)
    tight = ELBO(200000, "tighter")(rec(z), z, comp, mix, 1.0)
    loose = ELBO(200000, "looser")(rec(z), z, comp, mix, 1.0)
    assert float(loose) <= float(tight) <= float(exact)


@pytest.mark.parametrize("fusion", ["moe", "mopoe", "rbcm", "bce", "rce"])
def test_every_fusion_as_proposal_estimates_the_same_likelihood_as_the_prior(fusion):
    """log p(x) belongs to the decoders alone: any proposal, mixture or not, must agree with the prior's."""
    from fusevae.config import FusionConfig, ModalityConfig, ModelConfig
    from fusevae.data import make_batch
    from fusevae.metrics.likelihood import importance_log_likelihoods
    from fusevae.model import MultimodalVAE

    torch.manual_seed(0)
    mods = [
        ModalityConfig(n, "vector", [2], likelihood="gaussian", encoder_hidden=[16], decoder_hidden=[16])
        for n in ("a", "b")
    ]
    model = MultimodalVAE(ModelConfig(mods, latent_dim=2, fusion=FusionConfig(kind=fusion))).eval()
    batch = make_batch({"a": torch.randn(4, 2), "b": torch.randn(4, 2)}, model.names)
    targets = {"ab": ["a", "b"]}
    prior = importance_log_likelihoods(model, batch, [], targets, k=200_000)["ab"]
    fused = importance_log_likelihoods(model, batch, ["a", "b"], targets, k=20_000)["ab"]
    assert torch.allclose(prior, fused, atol=0.02)


def test_the_looser_mixture_elbo_can_take_the_components_mean_kl_exactly():
    """mixture_kl = "mean": the KL term is the mean of the present components' closed-form KLs (MoPoE's code), not
    the KL of the component each sample came from; both estimate the same mean of the components' ELBOs."""
    from fusevae.objectives.estimators import make_estimator

    _, q, rec = _linear_gaussian()
    rows = 40000
    mus = torch.stack([q.mu, q.mu - 0.6, q.mu + 1.5], 1).expand(rows, -1, -1)
    logvars = torch.stack([q.logvar, q.logvar + 0.5, q.logvar - 1.0], 1).expand(rows, -1, -1)
    present = torch.tensor([[True, True, False]]).expand(rows, -1)  # the third component is absent
    mix = UniformMixture(DiagGaussian(mus, logvars), present)
    kl = mix.components.kl_standard_normal()[0]
    torch.manual_seed(0)
    mean_form, sampled_form = make_estimator("elbo", 1, "looser", "mean"), make_estimator("elbo", 1, "looser")
    z, comp = mean_form.sample(mix)
    assert set(comp.unique().tolist()) == {0, 1}  # only present components are drawn
    r = rec(z)
    mean_bound, sampled_bound = mean_form(r, z, comp, mix, 1.0), sampled_form(r, z, comp, mix, 1.0)
    assert torch.allclose(mean_bound - r[0], -(kl[0] + kl[1]).expand(rows) / 2)  # the exact KL term
    assert torch.allclose(sampled_bound - r[0], -kl[comp[0]])
    spread = 4 * float(sampled_bound.std()) / rows**0.5
    assert abs(float(mean_bound.mean() - sampled_bound.mean())) < spread  # the same expectation
    with pytest.raises(ValueError, match="mixture_kl must be one of"):
        make_estimator("elbo", 1, "looser", "median")
