"""Named models of the papers as presets: every constant visible here and overridable with --set."""

from __future__ import annotations

import copy
from collections.abc import Callable

from .config import ExperimentConfig, FusionConfig, ModalityConfig, ModelConfig, ObjectiveConfig, TrainConfig


def mvae_mnist_architecture(specs: list[ModalityConfig]) -> list[ModalityConfig]:
    """MVAE's MNIST networks (Wu & Goodman 2018): image 784-512-512, label embedding 10-512-512,
    decoders with three 512-unit hidden layers, Swish activations."""
    out = []
    for s in specs:
        m = copy.deepcopy(s)
        m.encoder_hidden = [512, 512]
        m.decoder_hidden = [512, 512, 512]
        out.append(m)
    return out


def mvae_mnist_model(specs: list[ModalityConfig], fusion: FusionConfig) -> ModelConfig:
    """MVAE's MNIST architecture with a 64-d latent, around the given fusion."""
    return ModelConfig(modalities=mvae_mnist_architecture(specs), latent_dim=64, activation="swish", fusion=fusion)


def mvae(specs: list[ModalityConfig], data: str) -> ExperimentConfig:
    """MVAE: product of experts with a prior expert; joint + single-modality ELBOs; KL warm-up; lambda_label=50."""
    return ExperimentConfig(
        preset="mvae",
        data=data,
        model=mvae_mnist_model(specs, FusionConfig(kind="poe")),
        objective=ObjectiveConfig(
            kind="mvae",
            estimator="elbo",
            beta=1.0,
            warmup_epochs=3.0,  # without warm-up the experts collapse to the prior within ~30 batches
            weights={s.name: 50.0 for s in specs if s.kind == "label"},  # MVAE's lambda for MNIST labels
        ),
        train=TrainConfig(epochs=10, batch_size=128, lr=1e-3),
    )


def smvae(specs: list[ModalityConfig], data: str) -> ExperimentConfig:
    """SMVAE: set attention over modality embeddings (eq. 8); a random subset per sample (eq. 3-4) + the full set.

    Defaults chosen by bench/smvae_ablation.py (10 epochs, K=1000): adding the full set's ELBO,
    lambda=50 on the label, reconstructing each subset's inputs and the L2 term each helped.
    """
    return ExperimentConfig(
        preset="smvae",
        data=data,
        model=mvae_mnist_model(specs, FusionConfig(kind="set_attention", heads=4)),
        objective=ObjectiveConfig(
            kind="smvae",
            estimator="elbo",
            beta=1.0,
            warmup_epochs=3.0,
            # lambda=50 on the label beat lambda=1 on log p(x,y) in bench/smvae_ablation.py
            weights={s.name: 50.0 for s in specs if s.kind == "label"},
            include_full=True,  # the full present set's ELBO every step, beside the random subset
            reconstruct="subset",  # eq. 3: log p(X_s | z), each subset reconstructs its own inputs
            permute=True,
            l2=1e-3,  # section 3's L2 pull of mu to 0 and sigma to 1
        ),
        train=TrainConfig(epochs=10, batch_size=128, lr=1e-3),
    )


PRESETS: dict[str, Callable[[list[ModalityConfig], str], ExperimentConfig]] = {"mvae": mvae, "smvae": smvae}


def preset_config(name: str, specs: list[ModalityConfig], data: str) -> ExperimentConfig:
    """The full config of a named model for a data set's modalities."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name](specs, data)


def describe_presets() -> list[tuple[str, str]]:
    return [(n, (f.__doc__ or "").strip().splitlines()[0]) for n, f in PRESETS.items()]
