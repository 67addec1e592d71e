"""Mixed precision, torch.compile and the hot path: networks may run low, densities never do."""

import pytest
import torch

from fusevae import api
from fusevae.checkpoint import load_model
from fusevae.config import ObjectiveConfig
from fusevae.data.batch import make_batch
from fusevae.metrics.likelihood import importance_log_likelihoods
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.train import LitMultimodalVAE

from .conftest import small_config
from .test_training import SMALL, _test_bound


def _batch(n=16):
    x = torch.rand(n, 1, 28, 28).round()
    y = torch.randint(0, 10, (n,))
    mask = torch.ones(n, 2, dtype=torch.bool)
    mask[: n // 4, 1] = False  # some labels missing
    return make_batch({"image": x, "label": y}, ("image", "label"), mask=mask)


@pytest.mark.parametrize("fusion", ["poe", "mopoe", "set_attention"])
def test_bf16_autocast_keeps_posteriors_and_likelihoods_in_float32(fusion):
    model = MultimodalVAE(small_config(fusion))
    batch = _batch()
    with torch.autocast("cpu", torch.bfloat16):
        q = model.fuse(model.encode(batch), batch.mask)
        params = model.decode(q.rsample(3))
        loss = make_objective(ObjectiveConfig(kind="mvae"), model)(model, batch, 1.0).loss
    dist = q.components if hasattr(q, "components") else q
    assert dist.mu.dtype == dist.logvar.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in params.values())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_bf16_likelihoods_agree_with_float32():
    model = MultimodalVAE(small_config("poe")).eval()
    batch = _batch(32)
    out = {}
    for precision in ("32", "bf16"):
        torch.manual_seed(1)  # the same importance samples for both
        out[precision] = importance_log_likelihoods(
            model, batch, ["image", "label"], {"xy": ["image", "label"]}, k=64, precision=precision
        )["xy"]
    assert (out["bf16"] - out["32"]).abs().max() < 0.1, (out["bf16"] - out["32"]).abs().max()
    with pytest.raises(ValueError, match="precision must be one of"):
        importance_log_likelihoods(model, batch, ["image"], {"x": ["image"]}, k=4, precision="8")


def test_bf16_mixed_training_improves_the_bound(tmp_path, mnist):
    cfg = api.make_config("mvae", "mnist", SMALL + ["train.epochs=2", "train.precision=bf16-mixed"])
    torch.manual_seed(cfg.train.seed)
    before = _test_bound(MultimodalVAE(cfg.model).eval(), mnist)
    run = api.train(cfg, out=tmp_path / "bf16", progress=False)
    model, loaded = load_model(run)
    assert loaded.train.precision == "bf16-mixed"
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32
    after = _test_bound(model, mnist)
    assert after > before + 200, (before, after)


def test_warmup_beta_is_the_same_for_a_float_and_a_tensor_epoch():
    model = MultimodalVAE(small_config())
    objective = make_objective(ObjectiveConfig(kind="mvae", warmup_epochs=3.0, beta=2.0), model)
    for epoch in (0.0, 1.5, 3.0, 7.0):
        assert float(objective.beta(torch.tensor(epoch))) == pytest.approx(objective.beta(epoch))


def test_compiled_step_compiles_once_across_epochs():
    dynamo = pytest.importorskip("torch._dynamo")
    cfg = api.make_config("mvae", "mnist", SMALL + ["train.compile=true"])
    lit = LitMultimodalVAE(cfg)
    batch = _batch(8)
    dynamo.reset()
    counters = dynamo.utils.counters
    counters.clear()
    eager = make_objective(cfg.objective, lit.model)
    for epoch in (0.1, 0.2, 0.7):
        torch.manual_seed(0)
        loss = lit._loss(lit.model, batch, torch.tensor(epoch)).loss
        loss.backward()
        assert torch.isfinite(loss)
        torch.manual_seed(0)
        reference = eager(lit.model, batch, epoch).loss
        # the compiled graph draws its own noise, so the two agree only up to the Monte Carlo spread
        assert abs(loss.detach().item() - reference.detach().item()) < 0.2 * abs(reference.detach().item())
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])


def test_batch_on_its_own_device_is_not_copied():
    batch = _batch(4)
    assert batch.to("cpu") is batch


def test_label_encoder_lookup_equals_encoding_every_row_with_gradients():
    from fusevae.modalities import ModalityNets

    cfg = small_config().modalities[1]
    nets = ModalityNets(cfg, 8, "relu")
    y = torch.randint(0, 10, (64,))
    looked_up = nets.encode(y)  # 64 > 10 classes: the class table path
    direct = nets.encoder(y)
    assert torch.allclose(looked_up, direct, atol=1e-6)
    w = torch.randn_like(direct)
    g1 = torch.autograd.grad((looked_up * w).sum(), list(nets.encoder.parameters()))
    g2 = torch.autograd.grad((direct * w).sum(), list(nets.encoder.parameters()))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g2, strict=True))
    assert torch.equal(nets.encode(y[:3]), nets.encoder(y[:3]))  # fewer items than classes: direct
