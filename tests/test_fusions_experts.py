"""Closed forms and sampling laws of the expert fusions (sensor-fusion eq. 5-14, MMVAE, MoPoE)."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fusevae.distributions import DiagGaussian, UniformMixture
from fusevae.fusion import (
    BestComponentExpert,
    LatentComponentDropout,
    MixtureOfExperts,
    MixtureOfProductsOfExperts,
    Pooling,
    ProductOfExperts,
    RandomComponentExpert,
    RobustBayesianCommittee,
    product_of_experts,
)

EXPERT_FUSIONS = {
    "poe": ProductOfExperts,
    "rbcm": RobustBayesianCommittee,
    "bce": BestComponentExpert,
    "moe": MixtureOfExperts,
    "mopoe": lambda: MixtureOfProductsOfExperts(3),
}


def _experts(n=4, m=3, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return DiagGaussian(torch.randn(n, m, d, generator=g), torch.randn(n, m, d, generator=g) * 2)


def _as_tuple(q):
    if isinstance(q, DiagGaussian):
        return q.mu, q.logvar
    return q.components.mu * q.present.unsqueeze(-1), q.components.logvar * q.present.unsqueeze(-1), q.present


def test_rbcm_with_every_expert_equal_to_the_prior_is_the_prior():
    experts = DiagGaussian(torch.zeros(3, 4, 6), torch.zeros(3, 4, 6))
    q = RobustBayesianCommittee()(experts, torch.ones(3, 4, dtype=torch.bool))
    assert torch.equal(q.mu, torch.zeros(3, 6)) and torch.allclose(q.logvar, torch.zeros(3, 6))


def test_rbcm_with_beta_one_is_the_bayesian_committee_machine():
    # product of the unimodal posteriors divided by the prior M-1 times, in closed form
    torch.manual_seed(0)
    m = 3
    mu = torch.randn(5, m, 4)
    logvar = torch.rand(5, m, 4) * -2.0  # variances below 1 keep the BCM precision positive
    q = RobustBayesianCommittee(beta=1.0)(DiagGaussian(mu, logvar), torch.ones(5, m, dtype=torch.bool))
    precision = torch.exp(-logvar).sum(1) - (m - 1)
    assert torch.allclose(q.logvar, -torch.log(precision), atol=1e-5)
    assert torch.allclose(q.mu, (torch.exp(-logvar) * mu).sum(1) / precision, atol=1e-5)
    # and as densities: log q - [sum_i log q_i - (M-1) log p] is constant in z
    z = torch.randn(2000, 5, 4)
    prior = DiagGaussian(torch.zeros(5, 4), torch.zeros(5, 4))
    ratio = sum(DiagGaussian(mu[:, i], logvar[:, i]).log_prob(z) for i in range(m)) - (m - 1) * prior.log_prob(z)
    assert (ratio - q.log_prob(z)).std(0).max() < 1e-3


@settings(max_examples=60, deadline=None)
@given(arrays("float32", (3, 4), elements=st.floats(-12, 6, width=32)), st.lists(st.booleans(), min_size=3, max_size=3))
def test_rbcm_precision_is_at_least_the_priors_and_absent_experts_have_no_weight(logvar, present):
    lv = torch.from_numpy(logvar).unsqueeze(0)
    mu = torch.randn(1, 3, 4)
    mask = torch.tensor([present])
    q = RobustBayesianCommittee()(DiagGaussian(mu, lv), mask)
    assert torch.isfinite(q.mu).all() and (q.logvar <= 1e-6).all()  # precision >= 1
    lv2, mu2 = lv.clone(), mu.clone()
    lv2[~mask], mu2[~mask] = -12.0, 1e4
    q2 = RobustBayesianCommittee()(DiagGaussian(mu2, lv2), mask)
    assert torch.allclose(q.mu, q2.mu) and torch.allclose(q.logvar, q2.logvar)


def test_rbcm_with_fixed_beta_keeps_a_positive_precision_where_the_bcm_would_not():
    experts = DiagGaussian(torch.zeros(1, 3, 2), torch.full((1, 3, 2), 2.0))  # variance e^2 > 1
    q = RobustBayesianCommittee(beta=1.0, logvar_max=6.0)(experts, torch.ones(1, 3, dtype=torch.bool))
    assert torch.allclose(q.logvar, torch.full((1, 2), 6.0))


def test_bce_picks_the_present_expert_with_the_lowest_variance_per_dimension():
    experts = _experts()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    q = BestComponentExpert()(experts, mask)
    for n in range(4):
        for j in range(5):
            present = [i for i in range(3) if mask[n, i]]
            if not present:
                assert q.mu[n, j] == 0 and q.logvar[n, j] == 0
                continue
            best = min(present, key=lambda i: experts.logvar[n, i, j])
            assert q.mu[n, j] == experts.mu[n, best, j] and q.logvar[n, j] == experts.logvar[n, best, j]


def test_rce_picks_each_present_expert_uniformly_per_dimension():
    torch.manual_seed(0)
    m, d, n = 4, 3, 20000
    ids = torch.arange(m, dtype=torch.float32).view(1, m, 1).expand(n, m, d)
    experts = DiagGaussian(ids.clone(), torch.zeros(n, m, d))
    mask = torch.tensor([[True, False, True, True]]).expand(n, m)
    q = RandomComponentExpert()(experts, mask)
    counts = torch.stack([(q.mu == i).sum() for i in range(m)]).float()
    assert counts[1] == 0  # never the absent one
    observed = counts[[0, 2, 3]]
    expected = observed.sum() / 3
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, p = 0.001


def test_moe_sampling_is_stratified_over_present_components():
    experts = _experts(n=6, m=3, d=2)
    mask = torch.tensor([[1, 1, 1]] * 3 + [[1, 0, 1]] * 3, dtype=torch.bool)
    q = MixtureOfExperts()(experts, mask)
    _, comp = q.stratified_sample(12)  # (12, 6)
    for row in range(6):
        counts = torch.bincount(comp[:, row], minlength=3)
        expected = torch.tensor([4, 4, 4]) if row < 3 else torch.tensor([6, 0, 6])
        assert torch.equal(counts, expected)


def test_mixture_samples_follow_the_mixture_even_when_k_is_not_a_multiple():
    # one sample per row from a two-component mixture with a random offset: half from each
    experts = DiagGaussian(torch.tensor([[[-50.0], [50.0]]]).expand(20000, 2, 1), torch.zeros(20000, 2, 1))
    q = MixtureOfExperts()(experts, torch.ones(20000, 2, dtype=torch.bool))
    z = q.rsample(1)
    assert abs(float((z > 0).float().mean()) - 0.5) < 0.02


def test_mixture_log_prob_is_the_uniform_mixture_density():
    experts = _experts(n=2, m=3, d=2)
    mask = torch.tensor([[1, 0, 1], [0, 1, 0]], dtype=torch.bool)
    q = MixtureOfExperts()(experts, mask)
    z = torch.randn(7, 2, 2)
    for n in range(2):
        present = [i for i in range(3) if mask[n, i]]
        dens = sum(DiagGaussian(experts.mu[n, i], experts.logvar[n, i]).log_prob(z[:, n]).exp() for i in present)
        assert torch.allclose(q.log_prob(z)[:, n], torch.log(dens / len(present)), atol=1e-5)


def test_mopoe_components_are_the_products_of_every_present_subset():
    experts = _experts(n=3, m=3, d=4)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0]], dtype=torch.bool)
    q = MixtureOfProductsOfExperts(3)(experts, mask)
    assert q.counts.tolist() == [7, 3, 1]
    table = MixtureOfProductsOfExperts(3).table
    for n in range(3):
        for t, subset in enumerate(table):
            if bool((subset & ~mask[n]).any()):
                assert not q.present[n, t]
                continue
            ref = product_of_experts(DiagGaussian(experts.mu[n], experts.logvar[n]), subset.unsqueeze(-1).expand(3, 4))
            assert q.present[n, t]
            assert torch.allclose(q.components.mu[n, t], ref.mu, atol=1e-6)
            assert torch.allclose(q.components.logvar[n, t], ref.logvar, atol=1e-6)


def test_mopoe_can_keep_the_prior_expert_for_the_full_product_only():
    """prior_expert = "full" (Sutter et al.'s code, MultiVae): a single modality's component is its expert itself,
    a pair's the plain product of the two, and only the product of all three takes N(0, I) as well."""
    experts = _experts(n=2, m=3, d=4)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1]], dtype=torch.bool)
    q = MixtureOfProductsOfExperts(3, prior_expert="full")(experts, mask)
    every = MixtureOfProductsOfExperts(3)(experts, mask)
    table = MixtureOfProductsOfExperts(3).table
    assert torch.equal(q.present, every.present)
    for n in range(2):
        for t, subset in enumerate(table):
            if not q.present[n, t]:
                continue
            mu, logvar = experts.mu[n][subset], experts.logvar[n][subset]
            prec = (-logvar).exp().sum(0) + (1.0 if bool(subset.all()) else 0.0)
            assert torch.allclose(q.components.logvar[n, t], -prec.log(), atol=1e-5)
            assert torch.allclose(q.components.mu[n, t], ((-logvar).exp() * mu).sum(0) / prec, atol=1e-5)
    full = int(table.all(-1).nonzero()[0, 0])
    assert torch.allclose(q.components.mu[0, full], every.components.mu[0, full])
    assert torch.isfinite(q.components.mu).all() and torch.isfinite(q.components.logvar).all()  # absent ones too
    with pytest.raises(ValueError, match="prior_expert must be"):
        MixtureOfProductsOfExperts(3, prior_expert="some")


@pytest.mark.parametrize("name", sorted(EXPERT_FUSIONS))
def test_every_expert_fusion_ignores_absent_experts_and_falls_back_to_the_prior(name):
    fusion = EXPERT_FUSIONS[name]()
    experts = _experts()
    mask = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    a = fusion(experts, mask)
    mu2, lv2 = experts.mu.clone(), experts.logvar.clone()
    mu2[~mask], lv2[~mask] = 1e5, -12.0
    b = fusion(DiagGaussian(mu2, lv2), mask)
    for x, y in zip(_as_tuple(a), _as_tuple(b), strict=True):
        assert torch.equal(x, y)
    if isinstance(a, DiagGaussian):
        row = DiagGaussian(a.mu[3], a.logvar[3])
    else:
        assert a.counts[3] == 1
        row = DiagGaussian(a.components.mu[3][a.present[3]][0], a.components.logvar[3][a.present[3]][0])
    assert torch.equal(row.mu, torch.zeros(5)) and torch.equal(row.logvar, torch.zeros(5))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["poe", "rbcm", "bce", "moe", "mopoe", "mean", "sum"]), st.permutations(range(3)))
def test_fusions_are_invariant_to_the_order_of_the_modalities(name, perm):
    torch.manual_seed(0)
    perm = torch.tensor(perm)
    mask = torch.tensor([[1, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=torch.bool)
    if name in ("mean", "sum"):
        fusion = Pooling(8, 5, name, -12.0, 6.0)
        x = torch.randn(3, 3, 8)
        a, b = fusion(x, mask), fusion(x[:, perm], mask[:, perm])
    else:
        fusion = EXPERT_FUSIONS[name]()
        e = _experts(n=3)
        a, b = fusion(e, mask), fusion(DiagGaussian(e.mu[:, perm], e.logvar[:, perm]), mask[:, perm])
    if isinstance(a, UniformMixture):  # the same set of components, maybe in another order
        za = torch.randn(50, 3, 5)
        assert torch.allclose(a.log_prob(za), b.log_prob(za), atol=1e-5)
    else:
        assert torch.allclose(a.mu, b.mu, atol=1e-5) and torch.allclose(a.logvar, b.logvar, atol=1e-5)


@pytest.mark.parametrize("name", sorted(EXPERT_FUSIONS))
def test_lcd_alpha_zero_is_the_identity_and_alpha_one_is_the_prior(name):
    experts = _experts()
    mask = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    inner = EXPERT_FUSIONS[name]()
    plain = inner(experts, mask)
    same = LatentComponentDropout(inner, 0.0).train()(experts, mask)
    for x, y in zip(_as_tuple(plain), _as_tuple(same), strict=True):
        assert torch.equal(x, y)
    prior = LatentComponentDropout(inner, 1.0).train()(experts, mask)
    z = torch.randn(20, 4, 5)
    reference = DiagGaussian(torch.zeros(4, 5), torch.zeros(4, 5))
    assert torch.allclose(prior.log_prob(z), reference.log_prob(z), atol=1e-5)
    # in evaluation mode the wrapper does nothing
    evaluated = LatentComponentDropout(inner, 1.0).eval()(experts, mask)
    for x, y in zip(_as_tuple(plain), _as_tuple(evaluated), strict=True):
        assert torch.equal(x, y)


def test_lcd_drops_each_component_with_probability_alpha():
    torch.manual_seed(0)
    experts = DiagGaussian(torch.ones(4000, 2, 8), torch.full((4000, 2, 8), -3.0))
    q = LatentComponentDropout(BestComponentExpert(), 0.3).train()(experts, torch.ones(4000, 2, dtype=torch.bool))
    # a dimension is the prior only when both experts dropped it: probability alpha^2
    assert abs(float((q.logvar == 0).float().mean()) - 0.09) < 0.01


def test_lcd_refuses_embedding_fusions():
    with pytest.raises(ValueError, match="Gaussian experts"):
        LatentComponentDropout(Pooling(8, 4, "mean", -12.0, 6.0), 0.5)


def test_all_nonempty_subsets_enumerated_once():
    table = MixtureOfProductsOfExperts(4).table
    rows = {tuple(r.tolist()) for r in table}
    assert len(rows) == 15 == 2**4 - 1
    assert rows == {r for r in itertools.product([False, True], repeat=4) if any(r)}


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["poe", "rbcm", "bce", "rce", "moe", "mopoe", "lcd-poe", "lcd-bce"]),
    st.integers(1, 6),  # N
    st.integers(1, 5),  # M
    st.integers(1, 8),  # D
    st.floats(-1e3, 1e3),
    st.data(),
)
def test_any_shape_mask_and_values_give_a_finite_posterior_with_prior_rows(name, n, m, d, scale, data):
    mask = torch.tensor(data.draw(st.lists(st.lists(st.booleans(), min_size=m, max_size=m), min_size=n, max_size=n)))
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    mu = torch.randn(n, m, d) * scale
    logvar = torch.empty(n, m, d).uniform_(-12.0, 6.0)
    inner = name.removeprefix("lcd-")
    fusion = MixtureOfProductsOfExperts(m) if inner == "mopoe" else EXPERT_FUSIONS.get(inner, RandomComponentExpert)()
    if name.startswith("lcd-"):
        fusion = LatentComponentDropout(fusion, 0.5).train()
    q = fusion(DiagGaussian(mu, logvar), mask)
    z = q.rsample(3)
    assert z.shape == (3, n, d) and torch.isfinite(z).all()
    assert torch.isfinite(q.log_prob(z)).all() and torch.isfinite(q.mean).all()
    empty = ~mask.any(1)
    if bool(empty.any()):  # rows without evidence are exactly the prior
        prior = DiagGaussian(torch.zeros(d), torch.zeros(d))
        zz = torch.randn(5, n, d)
        assert torch.allclose(q.log_prob(zz)[:, empty], prior.log_prob(zz[:, empty]), atol=1e-5)
