import pickle

import pytest
import torch

from fusevae.config import FusionConfig, ModalityConfig, ModelConfig


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(2)


def small_config(fusion: str = "poe", latent: int = 8, m_vectors: int = 0) -> ModelConfig:
    """A small image + label model (plus optional vector modalities) for fast tests."""
    mods = [
        ModalityConfig("image", "image", [1, 28, 28], encoder_hidden=[32, 32], decoder_hidden=[32]),
        ModalityConfig(
            "label", "label", [], num_classes=10, likelihood="categorical", encoder_hidden=[16, 32], decoder_hidden=[32]
        ),
    ]
    for i in range(m_vectors):
        mods.append(
            ModalityConfig(f"vec{i}", "vector", [5], likelihood="gaussian", encoder_hidden=[32], decoder_hidden=[32])
        )
    return ModelConfig(modalities=mods, latent_dim=latent, fusion=FusionConfig(kind=fusion, heads=2))


@pytest.fixture(scope="session")
def mnist():
    from fusevae.data import load_dataset

    return load_dataset("mnist")


def pickle_checkpoint(folder):
    """A checkpoint file whose pickle payload would create folder/pwned if it were ever unpickled."""

    class Payload:
        def __reduce__(self):
            return (open, (str(folder / "pwned"), "w"))

    path = folder / "evil.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    return path
