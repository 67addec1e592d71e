"""A fusion is one registry entry: its builder, what it reads and its mixture size; make_fusion and the presets
look them up, so a new fusion composes with every scheme without touching the library."""

import pytest
import torch

from fusevae.distributions import DiagGaussian
from fusevae.fusion import FUSIONS, Fusion, fusion_entry, mixture_components, register_fusion, registered_fusions
from fusevae.fusion.base import component_mask, require_experts
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.presets import compose

from .test_compose import _specs, _synthetic


class MostPrecise(Fusion):
    """A user's fusion: per row, the present expert with the smallest total variance (else the prior)."""

    consumes = "experts"

    def forward(self, inputs, mask):
        q = require_experts(inputs, "most_precise")
        m = component_mask(mask, q.mu).all(-1)
        score = q.logvar.sum(-1).masked_fill(~m, float("inf"))
        best = score.argmin(-1)
        rows = torch.arange(len(best))
        mu, logvar = q.mu[rows, best], q.logvar[rows, best]
        empty = ~m.any(-1, keepdim=True)
        return DiagGaussian(mu.masked_fill(empty, 0.0), logvar.masked_fill(empty, 0.0))


if "most_precise" not in registered_fusions():
    register_fusion("most_precise", lambda cfg, e: MostPrecise(), "experts", description="a test fusion")


def test_the_built_in_fusions_carry_their_metadata():
    assert FUSIONS["set_attention"] == "embeddings" and FUSIONS["zero_fill"] == "zero_filled"
    assert [mixture_components(k, 4) for k in ("poe", "moe", "mopoe")] == [1, 4, 15]
    with pytest.raises(ValueError, match="unknown fusion 'nope'"):
        fusion_entry("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_fusion("poe", lambda cfg, e: MostPrecise(), "experts")


@pytest.mark.parametrize("scheme", ["joint", "ecg", "lcd", "mvae"])
def test_a_registered_fusion_composes_with_schemes_and_trains(scheme):
    torch.manual_seed(0)
    cfg = compose(_specs(3), "synthetic", "most_precise", scheme)
    for mod in cfg.model.modalities:
        mod.encoder_hidden, mod.decoder_hidden = [16], [16]
    model = MultimodalVAE(cfg.model)
    objective = make_objective(cfg.objective, model, epochs=2)
    data, mask = _synthetic(3)
    from fusevae.data import make_batch

    batch = make_batch(data, model.names, mask)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        out = objective(model, batch, 1.0)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(out.loss))
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_a_fusion_option_is_refused_on_fusions_whose_entry_does_not_name_it():
    """The registry entry's `options` decide where an option such as mopoe's prior_expert may be set."""
    from fusevae.fusion import make_fusion

    assert fusion_entry("mopoe").options == ("prior_expert",)
    cfg = compose(_specs(2), "synthetic", "mopoe", "joint")
    cfg.model.fusion.prior_expert = "full"
    make_fusion(cfg.model, 8)  # its own option: accepted
    cfg.model.fusion.kind = "most_precise"
    with pytest.raises(ValueError, match="fusion.prior_expert only applies to the mopoe fusion, not 'most_precise'"):
        make_fusion(cfg.model, 8)
    cfg.model.fusion.prior_expert = "every"
    cfg.model.fusion.head_hidden = [8]
    with pytest.raises(ValueError, match="head_hidden only applies to the subset_encoders and zero_fill fusions"):
        make_fusion(cfg.model, 8)
