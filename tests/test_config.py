import pytest

from fusevae.api import make_config
from fusevae.config import ConfigError, ExperimentConfig, apply_overrides
from fusevae.presets import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name, mnist):
    cfg = make_config(name, "mnist")
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.model.latent_dim == 64 and cfg.train.lr == 1e-3
    assert cfg.model.modalities[0].encoder_hidden == [512, 512]


def test_overrides_change_fields_and_reject_unknown_ones(mnist):
    cfg = make_config(
        "smvae", "mnist", ["objective.weights.label=50", "model.modalities.image.decoder_hidden=[64]", "train.epochs=3"]
    )
    assert cfg.objective.weights == {"label": 50.0}
    assert cfg.model.modalities[0].decoder_hidden == [64] and cfg.train.epochs == 3
    with pytest.raises(ConfigError, match="no field"):
        apply_overrides(cfg.to_dict(), ["objective.betta=2"])
    with pytest.raises(ConfigError, match="no item named 'audio'"):
        apply_overrides(cfg.to_dict(), ["model.modalities.audio.shape=[3]"])
    with pytest.raises(ConfigError, match="train.epochs: expected int"):
        make_config("smvae", "mnist", ["train.epochs=ten"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(cfg.to_dict(), ["train.epochs"])
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("nope", "mnist")
