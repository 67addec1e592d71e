import itertools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.distributions import DiagGaussian
from fusevae.fusion import ProductOfExperts, SetAttention
from fusevae.model import MultimodalVAE

from .conftest import small_config


def test_poe_is_the_normalised_product_of_gaussian_densities():
    torch.manual_seed(1)
    mu, logvar = torch.randn(1, 3, 2), torch.randn(1, 3, 2)
    mask = torch.tensor([[True, False, True]])
    fused = ProductOfExperts()(DiagGaussian(mu, logvar), mask)
    # log of the unnormalised product N(0,1) * prod_{present} N(mu_i, s_i) minus the fused density
    # must be constant in z: the product, once normalised, is exactly the fused Gaussian
    z = torch.randn(1000, 1, 2) * 3
    prior = DiagGaussian(torch.zeros(1, 2), torch.zeros(1, 2))
    log_prod = prior.log_prob(z)
    for i in (0, 2):
        log_prod = log_prod + DiagGaussian(mu[:, i], logvar[:, i]).log_prob(z)
    diff = log_prod - fused.log_prob(z)
    assert diff.std() < 1e-3
    # and its normaliser integrates: numeric check on a 1-D grid for the first latent dimension
    grid = torch.linspace(-8, 8, 20001)
    dens = torch.distributions.Normal(0, 1).log_prob(grid)
    for i in (0, 2):
        dens = dens + torch.distributions.Normal(mu[0, i, 0], (0.5 * logvar[0, i, 0]).exp()).log_prob(grid)
    p = dens.exp() / torch.trapezoid(dens.exp(), grid)
    mean = torch.trapezoid(p * grid, grid)
    var = torch.trapezoid(p * (grid - mean) ** 2, grid)
    assert torch.allclose(mean, fused.mu[0, 0], atol=1e-4)
    assert torch.allclose(var.log(), fused.logvar[0, 0], atol=1e-3)


def test_poe_ignores_absent_experts_even_if_they_hold_extreme_values():
    mu, logvar = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
    mask = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    a = ProductOfExperts()(DiagGaussian(mu, logvar), mask)
    mu2, logvar2 = mu.clone(), logvar.clone()
    mu2[~mask] = 1e6
    logvar2[~mask] = -30.0
    b = ProductOfExperts()(DiagGaussian(mu2, logvar2), mask)
    assert torch.allclose(a.mu, b.mu) and torch.allclose(a.logvar, b.logvar)
    assert torch.all(a.mu[3] == 0) and torch.all(a.logvar[3] == 0)  # empty subset: the prior


def _attention(m: int = 4) -> SetAttention:
    torch.manual_seed(0)
    return SetAttention(16, 6, heads=2, logvar_min=-12, logvar_max=6).eval()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.data())
def test_set_attention_is_permutation_invariant_for_any_subset_size(m, data):
    net = _attention()
    emb = torch.randn(3, m, 16)
    mask = torch.ones(3, m, dtype=torch.bool)
    perm = torch.tensor(data.draw(st.permutations(list(range(m)))))
    a = net(emb, mask)
    b = net(emb[:, perm], mask[:, perm])
    assert torch.allclose(a.mu, b.mu, atol=1e-5) and torch.allclose(a.logvar, b.logvar, atol=1e-5)


def test_set_attention_per_sample_masks_equal_separate_calls_on_the_present_modalities():
    net = _attention()
    emb = torch.randn(8, 4, 16)
    subsets = [c for r in range(1, 5) for c in itertools.combinations(range(4), r)][:8]
    mask = torch.zeros(8, 4, dtype=torch.bool)
    for i, c in enumerate(subsets):
        mask[i, list(c)] = True
    emb_garbage = emb.clone()
    emb_garbage[~mask] = 1e3  # what is masked must not matter
    joint = net(emb_garbage, mask)
    for i, c in enumerate(subsets):
        alone = net(emb[i : i + 1, list(c)], torch.ones(1, len(c), dtype=torch.bool))
        assert torch.allclose(joint.mu[i], alone.mu[0], atol=1e-5)
        assert torch.allclose(joint.logvar[i], alone.logvar[0], atol=1e-5)


def test_set_attention_empty_subset_falls_back_to_the_prior_without_nan():
    net = _attention()
    emb = torch.randn(2, 3, 16)
    mask = torch.tensor([[False, False, False], [True, False, False]])
    q = net(emb, mask)
    assert torch.isfinite(q.mu).all() and torch.isfinite(q.logvar).all()
    assert torch.all(q.mu[0] == 0) and torch.all(q.logvar[0] == 0)
    assert not torch.all(q.mu[1] == 0)


def test_model_fuse_many_subsets_matches_one_at_a_time(mnist):
    for fusion in ("poe", "set_attention"):
        model = MultimodalVAE(small_config(fusion)).eval()
        batch = mnist.test[torch.arange(6)]
        enc = model.encode(batch)
        subsets = torch.stack(
            [batch.mask, batch.mask & torch.tensor([True, False]), batch.mask & torch.tensor([False, True])]
        )
        many = model.fuse(enc, subsets)
        assert many.mu.shape == (3, 6, 8)
        for s in range(3):
            one = model.fuse(enc, subsets[s])
            assert torch.allclose(many.mu[s], one.mu, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 5),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.floats(-11.0, 5.0),
    st.floats(-50.0, 50.0),
)
def test_poe_variance_never_exceeds_any_present_expert_or_the_prior(m, present, logvar, mu):
    mus = torch.full((1, m, 3), mu) + torch.randn(1, m, 3)
    logvars = torch.full((1, m, 3), logvar) + torch.rand(1, m, 3)
    mask = torch.tensor([present[:m]])
    q = ProductOfExperts()(DiagGaussian(mus, logvars), mask)
    assert torch.isfinite(q.mu).all() and torch.isfinite(q.logvar).all()
    assert (q.logvar <= 1e-6).all()
    if mask.any():
        assert (q.logvar <= logvars[mask].min(0).values + 1e-5).all()
        # the fused mean is a convex combination of the prior mean 0 and the present means
        lo = torch.minimum(mus[mask].min(0).values, torch.zeros(3))
        hi = torch.maximum(mus[mask].max(0).values, torch.zeros(3))
        assert ((q.mu >= lo - 1e-4) & (q.mu <= hi + 1e-4)).all()
