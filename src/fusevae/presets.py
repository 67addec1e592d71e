"""Named models of the papers as presets: a fusion, a scheme and an estimator on the data set's networks.

`compose` builds any combination of the three axes with the library's defaults; each named
preset is `compose` with the paper's choices, every constant visible here and overridable
with --set. Combinations that cannot work fail when the model and objective are built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .config import ExperimentConfig, FusionConfig, ModalityConfig, ModelConfig, ObjectiveConfig, TrainConfig
from .data.dataset import Architecture
from .fusion import mixture_components

LCD_ALPHA = 0.1  # the paper states no rate; 0.1 beat 0.25 and 0.5 on every likelihood (bench/results/lcd_alpha.md)
IWAE_K = 10  # default samples per row (per mixture component) when iwae or dreg is chosen


def as_architecture(arch: Architecture | Sequence[ModalityConfig]) -> Architecture:
    """An Architecture as it is, or modality specs with the default 64-d latent and Swish."""
    return arch if isinstance(arch, Architecture) else Architecture(tuple(arch))


def model_config(arch: Architecture, fusion: FusionConfig) -> ModelConfig:
    """The data set's own networks and latent size (its registry entry), around the given fusion."""
    return ModelConfig(
        modalities=arch.specs(),
        latent_dim=arch.latent_dim,
        activation=arch.activation,
        decoder_activation=arch.decoder_activation,
        fusion=fusion,
    )


def compose(
    arch: Architecture | Sequence[ModalityConfig],
    data: str,
    fusion: str = "poe",
    scheme: str = "joint",
    estimator: str = "elbo",
    name: str | None = None,
) -> ExperimentConfig:
    """Any fusion x scheme x estimator on the data set's own networks (`arch`) and a shared budget.

    The networks and latent size are the data set's (its registry entry, or the user's data);
    a preset never replaces them. Shared defaults: KL warm-up over 3 epochs,
    lambda = 50 on label modalities, Adam 1e-3, batch 128, 10 epochs. Scheme defaults:
    lcd turns on latent component dropout (alpha = 0.1); smvae uses the SMVAE preset's
    options; mmvae (and a mixture fusion under iwae/dreg) uses MMVAE's "looser" bound
    with 10 samples per component. iwae and dreg draw 10 samples per row.
    """
    arch = as_architecture(arch)
    specs = arch.modalities
    components = len(specs) if scheme == "mmvae" else mixture_components(fusion, len(specs))
    mixture = components > 1 or scheme == "mmvae"
    k = 1 if estimator == "elbo" else IWAE_K * components
    objective = ObjectiveConfig(
        kind=scheme,
        estimator=estimator,
        k=k,
        variant="looser" if mixture else "tighter",
        beta=1.0,
        warmup_epochs=3.0,  # without warm-up PoE experts collapse to the prior within ~30 batches
        weights={s.name: 50.0 for s in specs if s.kind == "label"},  # MVAE's lambda for MNIST labels
    )
    if scheme == "smvae":
        objective.include_full = True  # the full present set's ELBO every step, beside the random subset
        objective.reconstruct = "subset"  # eq. 3: log p(X_s | z), each subset reconstructs its own inputs
        objective.l2 = 1e-3  # SMVAE section 3's L2 pull of mu to 0 and sigma to 1
    fusion_cfg = FusionConfig(kind=fusion, heads=4, lcd_alpha=LCD_ALPHA if scheme == "lcd" else 0.0)
    return ExperimentConfig(
        preset=name or f"{fusion}+{scheme}+{estimator}",
        data=data,
        model=model_config(arch, fusion_cfg),
        objective=objective,
        train=TrainConfig(epochs=10, batch_size=128, lr=1e-3),
    )


Preset = Callable[[Architecture, str], ExperimentConfig]
PRESETS: dict[str, Preset] = {}


def preset(name: str, fusion: str, scheme: str, estimator: str = "elbo", doc: str = "") -> Preset:
    """Register `name` as compose(fusion, scheme, estimator)."""

    def build(arch: Architecture, data: str) -> ExperimentConfig:
        return compose(arch, data, fusion, scheme, estimator, name)

    build.__doc__ = doc
    build.__name__ = name
    PRESETS[name] = build
    return build


# the models of SMVAE Table 1, MMVAE/MoPoE baselines and sensor-fusion Table I
preset("mvae", "poe", "mvae", doc="MVAE: product of experts with a prior expert; joint + single-modality ELBOs")
preset(
    "mmvae",
    "moe",
    "mmvae",
    "dreg",
    doc="MMVAE: uniform mixture of unimodal experts; stratified DReG 'looser' bound, 10 samples per expert",
)
preset("mopoe", "mopoe", "joint", doc="MoPoE: mixture over the products of experts of every subset; ELBO")
preset("smvae", "set_attention", "smvae", doc="SMVAE: set attention (eq. 8); a random subset per sample + the full set")
preset("rbcm", "rbcm", "joint", doc="RBCM joint posterior (sensor-fusion eq. 5-9), joint ELBO only")
preset("bce", "bce", "joint", doc="BCE joint posterior (eq. 10-11): lowest-variance expert per dimension; joint ELBO")
preset("rce", "rce", "joint", doc="RCE joint posterior: a random expert per dimension; joint ELBO")
preset("mvae+ecg", "poe", "ecg", doc="PoE trained with exhaustive cross generation (all 2^M-1 subsets, eq. 12)")
preset("bce+ecg", "bce", "ecg", doc="BCE trained with exhaustive cross generation (eq. 12)")
preset("rbcm+ecg", "rbcm", "ecg", doc="RBCM trained with exhaustive cross generation (eq. 12)")
preset("bce+rmd", "bce", "rmd", doc="BCE trained with random modality dropout (a random subset per sample)")
preset("bce+lcd", "bce", "lcd", doc="BCE trained with latent component dropout (eq. 13-14, alpha 0.1)")
preset("mvae+lcd", "poe", "lcd", doc="PoE trained with latent component dropout (eq. 13-14, alpha 0.1)")
preset("rbcm+lcd", "rbcm", "lcd", doc="RBCM trained with latent component dropout (eq. 13-14, alpha 0.1)")


JMVAE_ALPHA = 0.1  # weight of the KL terms; a hyperparameter of JMVAE, not tuned here


def _jmvae(arch: Architecture, data: str) -> ExperimentConfig:
    """JMVAE-kl: subset encoders (joint, leave-one-out, single); joint ELBO - alpha * sum_m KL(q(z|X) || q(z|X\\m))"""
    cfg = compose(arch, data, "subset_encoders", "jmvae", "elbo", "jmvae")
    cfg.model.fusion.subsets = "jmvae"
    cfg.objective.alpha = JMVAE_ALPHA
    return cfg


PRESETS["jmvae"] = _jmvae

M2VAE_ALPHA = 0.01  # M2VAE 5.1.1: alpha = 1 collapses the classes of the joint encoder; alpha <= 1e-2 does not


def _m2vae(arch: Architecture, data: str) -> ExperimentConfig:
    """M2VAE: an encoder for every subset; the recursive bound of eq. 11 (alpha 0.01 on the mutual KL terms)"""
    cfg = compose(arch, data, "subset_encoders", "m2vae", "elbo", "m2vae")
    cfg.model.fusion.subsets = "all"
    cfg.objective.alpha = M2VAE_ALPHA
    return cfg


def _jmvae_zero(arch: Architecture, data: str) -> ExperimentConfig:
    """JMVAE-Zero: one joint encoder fed zeros for missing modalities; joint ELBO over single-modality copies"""
    return compose(arch, data, "zero_fill", "jmvae_zero", "elbo", "jmvae-zero")


def _tvae(arch: Architecture, data: str) -> ExperimentConfig:
    """tVAE: the joint VAE first, then single-modality encoders trained through the frozen decoders"""
    cfg = compose(arch, data, "subset_encoders", "tvae", "elbo", "tvae")
    cfg.model.fusion.subsets = "singles"
    return cfg


PRESETS["m2vae"] = _m2vae
PRESETS["jmvae-zero"] = _jmvae_zero
PRESETS["tvae"] = _tvae


def preset_config(
    name: str | None,
    arch: Architecture | Sequence[ModalityConfig],
    data: str,
    fusion: str | None = None,
    scheme: str | None = None,
    estimator: str | None = None,
) -> ExperimentConfig:
    """The full config of a named model, or of a free composition, for a data set's modalities.

    With a preset, any of fusion / scheme / estimator given replaces that axis of the
    preset (its other settings stay); without one, the missing axes default to
    poe / joint / elbo.
    """
    arch = as_architecture(arch)
    if name is None:
        return compose(arch, data, fusion or "poe", scheme or "joint", estimator or "elbo")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {sorted(PRESETS)}")
    cfg = PRESETS[name](arch, data)
    if fusion is None and scheme is None and estimator is None:
        return cfg
    f = fusion or cfg.model.fusion.kind
    s = scheme or cfg.objective.kind
    e = estimator or cfg.objective.estimator
    out = compose(arch, data, f, s, e)
    out.train = cfg.train
    return out


def describe_presets() -> list[tuple[str, str]]:
    return [(n, (f.__doc__ or "").strip().splitlines()[0]) for n, f in PRESETS.items()]
