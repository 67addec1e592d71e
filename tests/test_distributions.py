import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.distributions import DiagGaussian, bounded_logvar, standard_normal_log_prob
from fusevae.likelihoods import make_likelihood


def test_kl_closed_form_matches_monte_carlo():
    q = DiagGaussian(torch.tensor([[0.7, -1.2, 0.1]]), torch.tensor([[-1.0, 0.5, 0.0]]))
    z = q.rsample(200_000)
    mc = (q.log_prob(z) - standard_normal_log_prob(z)).mean(0)
    assert torch.allclose(mc, q.kl_standard_normal(), atol=0.02)


def test_log_prob_matches_torch_distributions():
    q = DiagGaussian(torch.randn(4, 3), torch.randn(4, 3))
    z = torch.randn(5, 4, 3)
    ref = torch.distributions.Normal(q.mu, q.std).log_prob(z).sum(-1)
    assert torch.allclose(q.log_prob(z), ref, atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_bounded_logvar_stays_inside_and_finite(raw):
    out = bounded_logvar(torch.tensor([raw], dtype=torch.float32), -12.0, 6.0)
    assert torch.isfinite(out).all() and -12.0 <= out.item() <= 6.0
    assert torch.isfinite(torch.exp(out)).all()


def test_bounded_logvar_is_near_identity_in_the_middle_and_keeps_gradients():
    raw = torch.linspace(-5, 3, 50, requires_grad=True)
    out = bounded_logvar(raw, -12.0, 6.0)
    assert torch.allclose(out, raw, atol=0.06)
    out.sum().backward()
    assert (raw.grad > 0.9).all()
    far = torch.tensor([1e4, -1e4], requires_grad=True)
    bounded_logvar(far, -12.0, 6.0).sum().backward()
    assert torch.isfinite(far.grad).all()


def test_likelihoods_match_torch_distributions():
    x = torch.rand(3, 1, 4, 4)
    params = torch.randn(2, 3, 1, 4, 4)
    bern = make_likelihood("bernoulli", 3)
    xb = (x > 0.5).float()
    ref = torch.distributions.Bernoulli(logits=params).log_prob(xb).sum((-1, -2, -3))
    assert torch.allclose(bern.log_prob(params, xb), ref, atol=1e-4)
    gauss = make_likelihood("gaussian", 3, scale=0.3)
    ref = torch.distributions.Normal(params, 0.3).log_prob(x).sum((-1, -2, -3))
    assert torch.allclose(gauss.log_prob(params, x), ref, atol=1e-3)
    lap = make_likelihood("laplace", 3, scale=0.5)
    ref = torch.distributions.Laplace(params, 0.5).log_prob(x).sum((-1, -2, -3))
    assert torch.allclose(lap.log_prob(params, x), ref, atol=1e-3)
    cat = make_likelihood("categorical", 0)
    logits = torch.randn(2, 3, 10)
    y = torch.tensor([1, 7, 3])
    ref = torch.distributions.Categorical(logits=logits).log_prob(y)
    assert torch.allclose(cat.log_prob(logits, y), ref, atol=1e-5)


def test_learned_scale_gaussian_has_a_floor():
    g = make_likelihood("gaussian", 1, scale=None)
    assert g.param_shape((5,)) == (2, 5)
    params = torch.stack([torch.zeros(3, 5), torch.full((3, 5), -1e4)], dim=1)  # (B, 2, 5)
    lp = g.log_prob(params, torch.zeros(3, 5))
    assert torch.isfinite(lp).all()
    assert (lp < 5 * (7.0 - 0.5 * math.log(2 * math.pi)) + 1).all()
