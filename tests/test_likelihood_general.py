"""The likelihood table for any modalities, against a linear-Gaussian model whose log-densities are exact.

z ~ N(0, I_D) and x_m = W_m z + b_m + sigma eps for modalities a, b, c: every x_S is Gaussian,
N(b_S, W_S W_S^T + sigma^2 I), so joint, marginal and conditional log-likelihoods are known in closed form.
W_m has orthogonal columns, so each p(x_m | z) is, as a function of z, a diagonal Gaussian and a product
of Gaussian experts can be the exact posterior p(z | x_S) for every subset S.
"""

import itertools
import math

import pytest
import torch
from torch import nn

from fusevae.config import FusionConfig, ModalityConfig, ModelConfig
from fusevae.data import TABLE1, EvaluationSpec, MultimodalTensorDataset
from fusevae.distributions import DiagGaussian
from fusevae.metrics.likelihood import (
    importance_log_likelihoods,
    likelihood_markdown,
    likelihood_table,
    mixture_log_likelihoods,
)
from fusevae.model import MultimodalVAE
from fusevae.networks import register_network

D, SIGMA, EMBED, N_ITEMS = 2, 0.5, 3, 200
DIMS = {"a": 2, "b": 3, "c": 2}
SCALES = {"a": (1.5, 0.5), "b": (0.8, 1.2), "c": (0.4, 2.0)}
NAMES = tuple(DIMS)
NETWORK = "test_likelihood_general_linear"


def _linear_encoder(ctx, embed=EMBED):
    return nn.Linear(math.prod(ctx.event_shape), embed)


def _linear_decoder(ctx):
    return nn.Linear(ctx.latent_dim, math.prod(ctx.param_shape))


register_network(NETWORK, encoder=_linear_encoder, decoder=_linear_decoder, overwrite=True)


def _truth():
    g = torch.Generator().manual_seed(11)
    truth = {}
    for m, d in DIMS.items():
        q, _ = torch.linalg.qr(torch.randn(d, D, generator=g, dtype=torch.float64))  # orthonormal columns
        s = torch.tensor(SCALES[m], dtype=torch.float64)
        truth[m] = (q, s, q * s, torch.randn(d, generator=g, dtype=torch.float64))  # Q, s, W = Q diag(s), b
    return truth


TRUTH = _truth()


def _model(fusion="poe", subsets="all", shift=0.0, inflate=1.0):
    """The true decoders; for poe, experts whose product is the true posterior (shifted / inflated if asked)."""
    mods = [
        ModalityConfig(m, "vector", [d], likelihood="gaussian", likelihood_scale=SIGMA, network=NETWORK)
        for m, d in DIMS.items()
    ]
    cfg = ModelConfig(modalities=mods, latent_dim=D, fusion=FusionConfig(kind=fusion, subsets=subsets))
    model = MultimodalVAE(cfg)
    with torch.no_grad():
        for m, (q, s, w, b) in TRUTH.items():
            d = DIMS[m]
            model.nets[m].decoder.weight.copy_(w)
            model.nets[m].decoder.bias.copy_(b)
            model.nets[m].encoder.weight.copy_(torch.eye(EMBED, d))  # embedding: x padded with zeros
            model.nets[m].encoder.bias.zero_()
            if fusion != "poe":
                continue
            # p(x_m | z) as a function of z: N(z; diag(1/s) Q^T (x - b), sigma^2 diag(1/s^2))
            head = model.expert_heads[m]
            head.weight.zero_()
            head.weight[:D, :d] = (q / s).T
            head.bias[:D] = -(q / s).T @ b + shift
            head.bias[D:] = torch.log(SIGMA**2 / s**2 * inflate)
    return model.eval()


def _dataset(n=N_ITEMS, seed=5):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, D, generator=g, dtype=torch.float64)
    data = {}
    for m, (_, _, w, b) in TRUTH.items():
        data[m] = (z @ w.T + b + SIGMA * torch.randn(n, DIMS[m], generator=g, dtype=torch.float64)).float()
    return MultimodalTensorDataset(data, NAMES)


def _exact_log_p(ds, subset):
    """log N(x_S; b_S, W_S W_S^T + sigma^2 I) per item."""
    w = torch.cat([TRUTH[m][2] for m in subset])
    b = torch.cat([TRUTH[m][3] for m in subset])
    x = torch.cat([ds.data[m].double() for m in subset], 1)
    cov = w @ w.T + SIGMA**2 * torch.eye(len(b), dtype=torch.float64)
    return torch.distributions.MultivariateNormal(b, cov).log_prob(x)


SINGLES = tuple((m,) for m in NAMES)
PAIRS = tuple(itertools.combinations(NAMES, 2))
CONDITIONALS = ((("a",), ("b", "c")), (("b",), ("a", "c")), (("c",), ("a", "b")), (("a",), ("b",)), (("c",), ("b",)))
SPEC = EvaluationSpec(proposals=SINGLES + PAIRS, marginals=SINGLES + PAIRS, conditionals=CONDITIONALS)


def _exact_table(ds):
    """Exact mean of every metric key: joints and marginals, and conditionals log p(A, B) - log p(B)."""
    out = {"log p(a,b,c)": float(_exact_log_p(ds, NAMES).mean())}
    for s in SINGLES + PAIRS:
        out[f"log p({','.join(s)})"] = float(_exact_log_p(ds, s).mean())
    for a, b in CONDITIONALS:
        ab = tuple(m for m in NAMES if m in a or m in b)
        out[f"log p({','.join(a)}|{','.join(b)})"] = float((_exact_log_p(ds, ab) - _exact_log_p(ds, b)).mean())
    return out


def _table(model, ds, k, spec=SPEC, seed=0, **kw):
    torch.manual_seed(seed)
    return likelihood_table(model, ds, spec, k=k, progress=False, **kw)


ROWS = ["q(z|a,b,c)"] + [f"q(z|{','.join(s)})" for s in SINGLES + PAIRS]


def test_estimates_are_lower_bounds_that_tighten_with_k_for_every_proposal():
    ds = _dataset()
    exact = _exact_table(ds)
    model = _model(shift=0.3, inflate=2.0)  # a deliberately imperfect proposal for every subset
    t10, t1000 = _table(model, ds, 10), _table(model, ds, 1000)
    assert [r for r in t1000 if r.startswith("q(z|")] == ROWS
    assert t1000["setup"]["skipped proposals"] == [] and t1000["setup"]["n"] == N_ITEMS
    assert t1000["setup"]["modalities"] == list(NAMES)
    assert t1000["setup"]["conditioning proposals"] == {
        b: f"mixture of q(z|{b}) and q(z|a,b,c)" for b in ("b,c", "a,c", "a,b", "b")
    }
    for row in ROWS:
        assert set(t1000[row]) == set(exact) | {key + " se" for key in exact}
        for key, value in exact.items():
            e10, e1000 = t10[row][key], t1000[row][key]
            if "|" in key:  # a difference of two estimates: no bound, but it converges
                assert abs(e1000 - value) < 0.2, (row, key, e1000, value)
                assert abs(e1000 - value) < abs(e10 - value) + 0.02, (row, key, e10, e1000, value)
                continue
            gap10, gap1000 = value - e10, value - e1000
            assert gap10 > -0.02 and gap1000 > -0.02, (row, key, gap10, gap1000)  # below exact, up to MC noise
            assert gap1000 < gap10, (row, key, gap10, gap1000)
            # a proposal fitted to the target set is close at K=1000; one fitted to another set is within a nat
            assert gap1000 < (0.02 if row == f"q(z|{key[6:-1]})" else 0.5), (row, key, gap1000)
    for b in ("b,c", "a,c", "a,b", "b"):
        assert t1000[f"log p({b})"]["proposal"] == f"mixture of q(z|{b}) and q(z|a,b,c)"
        assert abs(t1000[f"log p({b})"]["mean"] - exact[f"log p({b})"]) < 0.05


def test_the_true_posterior_as_proposal_gives_exact_values_and_conditionals_use_their_own_proposal():
    """With q(z | x_S) = p(z | x_S) the weights are constant: log p(x_S) from row S is exact for any K.

    log p(a | b,c) from the full row (log p(a | b) from row a,b) is exact too only if log p(b,c) came from
    q(z | b,c): the prior would not be.
    """
    ds = _dataset(60)
    exact = _exact_table(ds)
    t = _table(_model(), ds, 4, conditioning="own")
    assert t["q(z|a,b,c)"]["log p(a,b,c)"] == pytest.approx(exact["log p(a,b,c)"], abs=2e-3)
    assert t["q(z|a,b,c)"]["log p(a,b,c) se"] > 0
    for s in SINGLES + PAIRS:
        key = f"log p({','.join(s)})"
        assert t[f"q(z|{','.join(s)})"][key] == pytest.approx(exact[key], abs=2e-3), key
    for a, b in CONDITIONALS:  # from the row whose proposal is the true posterior of the numerator's set
        key = f"log p({','.join(a)}|{','.join(b)})"
        ab = ",".join(m for m in NAMES if m in a or m in b)
        assert t[f"q(z|{ab})"][key] == pytest.approx(exact[key], abs=4e-3), key
    # a marginal from a proposal that conditions on more than it scores is a strictly lower bound
    assert t["q(z|a,b,c)"]["log p(a)"] < exact["log p(a)"] - 0.05


def _hand_table1(model, ds, k, batch_size, seed):
    """SMVAE Table 1 as the two-modality code defined it, from importance_log_likelihoods directly."""
    torch.manual_seed(seed)
    out = {}
    for s in range(0, len(ds), batch_size):
        batch = ds[torch.arange(s, min(s + batch_size, len(ds)))]
        log_py = importance_log_likelihoods(model, batch, [], {"y": ["label"]}, k)["y"]
        out.setdefault("log p(label)", []).append(log_py)
        for label, proposal in (("q(z|image,label)", ["image", "label"]), ("q(z|image)", ["image"])):
            r = importance_log_likelihoods(model, batch, proposal, {"xy": ["image", "label"], "x": ["image"]}, k)
            out.setdefault((label, "log p(image,label)"), []).append(r["xy"])
            out.setdefault((label, "log p(image)"), []).append(r["x"])
            out.setdefault((label, "log p(image|label)"), []).append(r["xy"] - log_py)
    return {key: float(torch.cat(v).mean()) for key, v in out.items()}


def test_table1_on_image_and_label_is_the_smvae_definition():
    torch.manual_seed(0)
    mods = [
        ModalityConfig("image", "image", [1, 28, 28], encoder_hidden=[16], decoder_hidden=[16]),
        ModalityConfig(
            "label", "label", [], num_classes=10, likelihood="categorical", encoder_hidden=[8], decoder_hidden=[8]
        ),
    ]
    model = MultimodalVAE(ModelConfig(modalities=mods, latent_dim=4)).eval()
    g = torch.Generator().manual_seed(2)
    ds = MultimodalTensorDataset(
        {"image": torch.rand(30, 1, 28, 28, generator=g), "label": torch.randint(0, 10, (30,), generator=g)},
        ("image", "label"),
    )
    table = _table(model, ds, 40, spec=TABLE1, seed=7, batch_size=16)
    hand = _hand_table1(model, ds, 40, 16, seed=7)
    assert [r for r in table if r.startswith("q(z|")] == ["q(z|image,label)", "q(z|image)"]
    for row in ("q(z|image,label)", "q(z|image)"):
        assert list(table[row]) == [
            "log p(image,label)",
            "log p(image,label) se",
            "log p(image)",
            "log p(image) se",
            "log p(image|label)",
            "log p(image|label) se",
        ]
        for metric in ("log p(image,label)", "log p(image)", "log p(image|label)"):
            assert table[row][metric] == hand[row, metric], (row, metric)
    assert table["log p(label)"] == {"mean": hand["log p(label)"], "proposal": "prior"}
    assert table["setup"]["conditioning proposals"] == {"label": "prior"}
    assert table["setup"]["k"] == 40 and table["setup"]["n"] == 30 and table["setup"]["precision"] == "32"
    # without the label prior, log p(label) comes from the label's own posterior (with the joint one): other numbers
    other = _table(model, ds, 40, spec=TABLE1, seed=7, batch_size=16, label_prior=False)
    assert other["setup"]["conditioning proposals"] == {"label": "mixture of q(z|label) and q(z|image,label)"}
    assert other["log p(label)"]["mean"] != table["log p(label)"]["mean"]


def test_items_lacking_a_modality_are_left_out_and_counted():
    full = _dataset(40)
    mask = torch.ones(40, 3, dtype=torch.bool)
    mask[[3, 7, 20], 1] = False  # no b
    mask[11, [0, 2]] = False  # only b
    holey = MultimodalTensorDataset(full.data, NAMES, mask)
    keep = mask.all(1)
    complete = MultimodalTensorDataset({m: v[keep] for m, v in full.data.items()}, NAMES)
    model = _model(shift=0.3, inflate=2.0)
    a = _table(model, holey, 20, batch_size=16)
    b = _table(model, complete, 20, batch_size=16)
    assert a["setup"]["n"] == 36 and a["setup"]["incomplete items"] == 4
    assert b["setup"]["incomplete items"] == 0
    for row in ROWS:
        assert a[row] == b[row], row
    assert _table(model, holey, 20, n=10)["setup"]["n"] == 10  # the first n complete items
    assert "36 test items" in likelihood_markdown({"poe": a}) and "4 items lacking" in likelihood_markdown({"poe": a})
    with pytest.raises(ValueError, match="every modality"):
        only_b = MultimodalTensorDataset(full.data, NAMES, torch.tensor([[False, True, False]] * 40))
        _table(model, only_b, 5)


def test_unencodable_proposals_are_skipped_and_conditioning_falls_back_to_the_prior():
    torch.manual_seed(0)
    model = _model(fusion="subset_encoders", subsets="singles")  # encodes a, b, c and a,b,c only
    ds = _dataset(20)
    spec = EvaluationSpec(
        proposals=(("a", "b"), ("a",)), marginals=(("a",),), conditionals=((("a",), ("b", "c")), (("a",), ("b",)))
    )
    t = _table(model, ds, 16, spec=spec, conditioning="own")
    assert [r for r in t if r.startswith("q(z|")] == ["q(z|a,b,c)", "q(z|a)"]
    assert t["setup"]["skipped proposals"] == ["q(z|a,b)"]
    assert t["setup"]["conditioning proposals"] == {"b,c": "prior (q(z|b,c) not encodable)", "b": "q(z|b)"}
    assert t["log p(b,c)"]["proposal"] == "prior (q(z|b,c) not encodable)"
    mixed = _table(model, ds, 16, spec=spec)["setup"]["conditioning proposals"]
    assert mixed == {
        "b,c": "mixture of the prior and q(z|a,b,c) (q(z|b,c) not encodable)",
        "b": "mixture of q(z|b) and q(z|a,b,c)",
    }
    assert set(t["q(z|a)"]) == {
        f"{key}{se}" for key in ("log p(a,b,c)", "log p(a)", "log p(a|b,c)", "log p(a|b)") for se in ("", " se")
    }
    assert all(math.isfinite(v) for row in ("q(z|a,b,c)", "q(z|a)") for v in t[row].values())
    md = likelihood_markdown({"tvae": t, "poe|x": _table(_model(), ds, 16, spec=spec)})
    lines = md.splitlines()
    assert lines[0] == "| model | proposal | log p(a,b,c) | log p(a) | log p(a\\|b,c) | log p(a\\|b) |"
    assert lines[2].startswith("| tvae | q(z\\|a,b,c) | ")
    assert sum(line.startswith("| poe\\|x | ") for line in lines) == 3  # poe encodes a,b too
    assert sum(line.startswith("| tvae | ") for line in lines) == 2
    footer = "\n".join(lines[6:])
    assert "K = 16" in footer and "20 test items" in footer and "skipped (no encoder): q(z\\|a,b)" in footer
    assert "log p(b,c) from the prior (q(z\\|b,c) not encodable)" in footer


def test_non_finite_values_raise_naming_the_key():
    model = _model()
    with torch.no_grad():
        model.nets["a"].decoder.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"log p\(a,c\): non-finite"):
        _table(model, _dataset(8), 4)


def _off_for(model, subset, shift=4.0):
    """The model with q(z | x_subset) moved `shift` away from its true posterior, every other posterior untouched:
    the poor subset posterior of a model trained only on complete items."""
    fuse = model.fuse
    chosen = torch.tensor([m in subset for m in NAMES])

    def off(encoded, subsets):
        q = fuse(encoded, subsets)
        return DiagGaussian(q.mu + shift * (subsets == chosen).all(-1, keepdim=True), q.logvar)

    model.fuse = off
    return model


def test_a_poor_subset_posterior_spoils_its_own_conditioning_estimate_but_not_the_mixture():
    """log p(b | a,c) = log p(a,b,c) - log p(a,c): with q(z | a,c) far off, log p(a,c) from it alone is many nats
    low and the conditional as many too high; the mixture with q(z | a,b,c) stays within log 2 of exact."""
    ds = _dataset(100)
    exact = _exact_table(ds)
    spec = EvaluationSpec(proposals=(), marginals=(), conditionals=((("b",), ("a", "c")),))
    model = _off_for(_model(), ("a", "c"))
    own = _table(model, ds, 200, spec=spec, conditioning="own")
    mixed = _table(model, ds, 200, spec=spec)
    assert own["setup"]["conditioning proposals"] == {"a,c": "q(z|a,c)"}
    assert mixed["setup"]["conditioning proposals"] == {"a,c": "mixture of q(z|a,c) and q(z|a,b,c)"}
    assert own["log p(a,c)"]["mean"] < exact["log p(a,c)"] - 5
    assert own["q(z|a,b,c)"]["log p(b|a,c)"] > exact["log p(b|a,c)"] + 5
    assert abs(mixed["log p(a,c)"]["mean"] - exact["log p(a,c)"]) < math.log(2) + 0.05
    assert abs(mixed["q(z|a,b,c)"]["log p(b|a,c)"] - exact["log p(b|a,c)"]) < math.log(2) + 0.05
    # the joint row itself does not depend on how log p(x_B) is estimated
    assert own["q(z|a,b,c)"]["log p(a,b,c)"] == mixed["q(z|a,b,c)"]["log p(a,b,c)"]


def test_the_mixture_estimate_is_unbiased_and_tightens_with_k():
    """Its weights average to p(x_B): log p(x_B) from the mixture converges to the exact value from below."""
    ds = _dataset(100)
    exact = _exact_table(ds)
    model = _model(shift=0.3, inflate=2.0)
    batch = ds[torch.arange(len(ds))]
    gaps = []
    for k in (4, 64, 2000):
        torch.manual_seed(1)
        r = mixture_log_likelihoods(model, batch, [["a", "c"], list(NAMES), []], {"ac": ["a", "c"]}, k)
        gaps.append(exact["log p(a,c)"] - float(r["ac"].mean()))
    assert gaps[0] > gaps[1] > gaps[2] > -0.02 and gaps[2] < 0.02, gaps
    # one component is the plain estimator, sample for sample
    torch.manual_seed(3)
    one = mixture_log_likelihoods(model, batch, [["a", "c"]], {"ac": ["a", "c"]}, 50)["ac"]
    torch.manual_seed(3)
    assert torch.equal(one, importance_log_likelihoods(model, batch, ["a", "c"], {"ac": ["a", "c"]}, 50)["ac"])


def test_conditioning_must_be_a_known_method():
    with pytest.raises(ValueError, match="conditioning must be one of"):
        _table(_model(), _dataset(4), 2, conditioning="best")
