import pytest
import torch

from fusevae.checkpoint import CheckpointError, load_model, load_state, save_model, save_state
from fusevae.config import ExperimentConfig, ObjectiveConfig
from fusevae.model import MultimodalVAE

from .conftest import pickle_checkpoint, small_config


def _cfg(fusion="set_attention"):
    return ExperimentConfig(preset="test", data="mnist", model=small_config(fusion), objective=ObjectiveConfig())


@pytest.mark.parametrize("fusion", ["poe", "set_attention"])
def test_save_then_load_gives_identical_outputs(tmp_path, mnist, fusion):
    cfg = _cfg(fusion)
    model = MultimodalVAE(cfg.model).eval()
    save_model(tmp_path, model, cfg)
    loaded, cfg2 = load_model(tmp_path)
    assert cfg2 == cfg
    batch = mnist.test[torch.arange(7)]
    a, b = model.posterior(batch), loaded.posterior(batch)
    assert torch.equal(a.mu, b.mu) and torch.equal(a.logvar, b.logvar)
    z = torch.randn(7, cfg.model.latent_dim)
    for n in model.names:
        assert torch.equal(model.decode(z)[n], loaded.decode(z)[n])


def test_nested_training_state_round_trips(tmp_path):
    state = {
        "epoch": 3,
        "optimizer_states": [
            {
                "state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.randn(3)}},
                "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}],
            }
        ],
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4}}}},
        "name": "x",
        "none": None,
        "__weird": 1,
    }
    save_state(state, tmp_path / "s.ckpt")
    back = load_state(tmp_path / "s.ckpt")
    assert back["optimizer_states"][0]["state"][0]["step"] == torch.tensor(5.0)
    assert torch.equal(
        back["optimizer_states"][0]["state"][0]["exp_avg"], state["optimizer_states"][0]["state"][0]["exp_avg"]
    )
    assert back["optimizer_states"][0]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["loops"] == state["loops"] and back["__weird"] == 1 and back["none"] is None


def test_a_pickle_checkpoint_is_refused_without_running_it(tmp_path):
    path = pickle_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_state(path)
    torch.save({"w": torch.zeros(2)}, tmp_path / "torch.ckpt")
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        load_state(tmp_path / "torch.ckpt")
    assert not (tmp_path / "pwned").exists()


def test_weights_from_another_architecture_are_refused(tmp_path):
    cfg = _cfg("poe")
    save_model(tmp_path, MultimodalVAE(cfg.model), cfg)
    text = (tmp_path / "config.json").read_text().replace('"latent_dim": 8', '"latent_dim": 9')
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_model(tmp_path)


def test_config_with_unknown_field_or_version_is_refused(tmp_path):
    cfg = _cfg("poe")
    save_model(tmp_path, MultimodalVAE(cfg.model), cfg)
    good = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(good.replace('"latent_dim"', '"latent_dims"'))
    with pytest.raises(CheckpointError, match="unknown field"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(good.replace('"version": 1', '"version": 99'))
    with pytest.raises(CheckpointError, match="version"):
        load_model(tmp_path)
