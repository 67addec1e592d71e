"""ExternalModel: an outside model scored by fusevae's evaluator must score exactly like the same model inside."""

import pytest
import torch
from torch import nn

from fusevae import api
from fusevae.config import ModalityConfig
from fusevae.data import load_dataset
from fusevae.data.dataset import EvaluationSpec
from fusevae.distributions import DiagGaussian
from fusevae.external import ExternalModel
from fusevae.metrics.coherence import cross_coherence
from fusevae.metrics.likelihood import likelihood_table
from fusevae.model import MultimodalVAE


def _wrapped(model: MultimodalVAE) -> ExternalModel:
    """The fusevae model seen only through the two calls an outside library provides."""

    def posterior(data, subset):
        q = model.posterior(data, subset)
        if isinstance(q, DiagGaussian):
            return q.mu, q.logvar
        c = q.components
        return [(c.mu[:, i], c.logvar[:, i]) for i in range(c.mu.shape[1]) if bool(q.present[:, i].all())]

    decoders = {n: model.nets[n].decoder for n in model.names}
    return ExternalModel(model.cfg.modalities, model.latent_dim, posterior, decoders, model.encodable_subsets())


@pytest.fixture(scope="module")
def test_items():
    return load_dataset("mnist", binarize=True).test.subset(40)


@pytest.mark.parametrize("preset", ["mvae", "jmvae"])
def test_a_wrapped_gaussian_model_gets_the_same_likelihood_table(preset, test_items):
    torch.manual_seed(0)
    model = MultimodalVAE(api.make_config(preset, "mnist", ["model.latent_dim=8"]).model).eval()
    spec = load_dataset("mnist", binarize=True).evaluation
    torch.manual_seed(1)
    inside = likelihood_table(model, test_items, spec, k=30, batch_size=20, progress=False)
    torch.manual_seed(1)
    outside = likelihood_table(_wrapped(model), test_items, spec, k=30, batch_size=20, progress=False)
    for row, cols in inside.items():
        if row.startswith("q(z"):
            for key, value in cols.items():
                assert outside[row][key] == pytest.approx(value, abs=1e-4), (row, key)
    assert outside["setup"]["skipped proposals"] == inside["setup"]["skipped proposals"]


def test_a_wrapped_mixture_scores_its_joint_proposal_the_same(test_items):
    torch.manual_seed(0)
    model = MultimodalVAE(api.make_config("mmvae", "mnist", ["model.latent_dim=8"]).model).eval()
    # no conditional: a prior draw for log p(y) would take other random numbers from a mixture than from a Gaussian
    spec = EvaluationSpec(marginals=(("image",), ("label",)), conditionals=())
    torch.manual_seed(2)
    inside = likelihood_table(model, test_items, spec, k=30, batch_size=40, progress=False)
    torch.manual_seed(2)
    outside = likelihood_table(_wrapped(model), test_items, spec, k=30, batch_size=40, progress=False)
    for key, value in inside["q(z|image,label)"].items():
        assert outside["q(z|image,label)"][key] == pytest.approx(value, abs=1e-4), key


def test_a_wrapped_model_gets_the_same_coherence(test_items):
    torch.manual_seed(0)
    model = MultimodalVAE(api.make_config("mvae", "mnist", ["model.latent_dim=8"]).model).eval()
    inside = cross_coherence(model, test_items, {}, seed=3)
    outside = cross_coherence(_wrapped(model), test_items, {}, seed=3)
    assert [(c.inputs, c.target, c.micro) for c in inside] == [(c.inputs, c.target, c.micro) for c in outside]


def test_an_outside_model_states_what_it_lacks():
    spec = ModalityConfig(name="x", kind="vector", shape=[3], likelihood="gaussian")
    with pytest.raises(ValueError, match="no decoder"):
        ExternalModel([spec], 2, lambda d, s: (None, None), {})
    with pytest.raises(ValueError, match="decoder must map"):
        ExternalModel([spec], 2, lambda d, s: (None, None), {"x": nn.Linear(2, 4)})
    model = ExternalModel([spec], 2, lambda d, s: (torch.zeros(1, 3), torch.zeros(1, 3)), {"x": nn.Linear(2, 3)})
    with pytest.raises(ValueError, match="shape"):
        model.posterior({"x": torch.zeros(1, 3)})
    prior = ExternalModel([spec], 2, lambda d, s: (d["x"][:, :2], d["x"][:, :2]), {"x": nn.Linear(2, 3)})
    q = prior.fuse(prior.as_batch({"x": torch.ones(4, 3)}), torch.zeros(4, 1, dtype=torch.bool))
    assert torch.equal(q.mu, torch.zeros(4, 2)) and torch.equal(q.logvar, torch.zeros(4, 2))  # no input: the prior
