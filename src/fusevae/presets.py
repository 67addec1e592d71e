"""Named models of the papers as presets: a fusion, a scheme and an estimator on the data set's networks.

`compose` builds any combination of the three axes with the library's defaults; each named
preset is `compose` with the paper's choices, every constant visible here and overridable
with --set. Combinations that cannot work fail when the model and objective are built.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import ExperimentConfig, FusionConfig, ModalityConfig, ModelConfig, ObjectiveConfig, TrainConfig
from .data.dataset import Architecture
from .fusion import mixture_components

LCD_ALPHA = 0.1  # the paper states no rate; 0.1 beat 0.25 and 0.5 on every likelihood (bench/results/lcd_alpha.md)
IWAE_K = 10  # default samples per row (per mixture component) when iwae or dreg is chosen


@dataclass(frozen=True)
class Constants:
    """The training constants of a named model, and where they come from (`fusevae presets --constants`).

    Each preset carries its own paper's values; where the paper leaves one open, `source` says
    what the library chose and on what data. Nothing here is applied to models it was not given for.
    """

    label_weight: float = 1.0  # lambda on label modalities (SMVAE eq. 2's reweighting)
    warmup_fraction: float = 0.0  # KL warm-up over this share of the training budget (0: none)
    warmup_epochs: float = 0.0  # ... or over this many epochs whatever the budget (set one of the two)
    beta: float = 1.0  # final KL weight
    k: int = IWAE_K  # iwae / dreg samples per row (per mixture component); the ELBO draws one
    lr: float = 1e-3  # Adam
    batch_size: int = 128
    source: str = ""


# free compositions (no preset): the library's values, no paper's. The warm-up share is the 3 epochs of a
# 10-epoch run that keep PoE experts from collapsing to the prior within ~30 batches (MNIST training).
LIBRARY = Constants(
    warmup_fraction=0.3,
    source="library defaults, not a paper's: KL warm-up over 30% of the budget (3 of 10 epochs, without which PoE "
    "experts collapse to the prior within ~30 batches on MNIST), lambda 1, Adam 1e-3, batch 128, K = 10",
)
MVAE = Constants(
    warmup_epochs=10,
    batch_size=100,
    source="MVAE (Wu & Goodman 2018) on MNIST: batch 100, Adam 1e-3 (github.com/mhw32/multimodal-vae-public, "
    "mnist/train.py). Its lambda = 50 on the label and KL annealing over 200 of 500 epochs (0.4 of the budget) lost "
    "on binarised-MNIST VALIDATION data at 10 epochs to lambda 1 with the KL warm-up over the whole budget, on "
    "log p(image,label) (-98.94 -> -94.83, K = 1000 on 1,000 validation items, seed 0) and on image->label and "
    "joint coherence (bench/results/mnist_label_weight_warmup.md); at 30 epochs a warm-up over 10 epochs "
    "(MultiVae's MVAE, whatever the budget) beat one over the whole budget on the same VALIDATION protocol, seeds 0 "
    "and 1: joint coherence 0.600 -> 0.677, label->image 0.383 -> 0.405, log p(image,label) -91.80 -> -91.97 "
    "(within the seeds' spread; bench/results/mnist_warmup_e30.md). So: lambda 1 and a warm-up over 10 epochs "
    "(the whole budget at 10); the paper's values: --set objective.weights.label=50 --set "
    "objective.warmup_epochs=0 --set objective.warmup_fraction=0.4",
)
MMVAE = Constants(
    source="MMVAE (Shi et al. 2019): DReG 'looser' bound, no KL warm-up, Adam 1e-3, batch 128 (the MNIST-SVHN "
    "flags of github.com/iffsid/mmvae); K = 10 per expert, MultiVae's default: the paper's K = 30 costs 3x here",
)
MOPOE = Constants(
    source="MoPoE (Sutter et al. 2021): the plain ELBO of the mixture, beta = 1 and no KL warm-up, Adam 1e-3 (its "
    "PolyMNIST protocol adds beta = 2.5 and a Laplace likelihood: configs/benchmarks/polymnist_conv.yaml); "
    "batch 128 (its 256 is PolyMNIST's); the N(0, I) expert only in the product of all modalities "
    "(model.fusion.prior_expert=full), as Sutter et al.'s code and MultiVae: on binarised-MNIST VALIDATION data at "
    "10 epochs, seeds 0 and 1, it gives log p(image,label) -106.59 +- 1.51 and label->image coherence 0.972, against "
    "-127.44 +- 21.69 and 0.764 with the prior in every subset's product (bench/results/mopoe_prior_kl.md)",
)
MOPOE_PRIOR_EXPERT = "full"  # see MOPOE.source: chosen on validation data, matching Sutter et al.'s code
SMVAE = Constants(
    warmup_epochs=10,
    batch_size=100,
    source="SMVAE (eq. 2) names lambda and a beta warm-up but gives no values: lambda 1 and a KL warm-up over the "
    "whole budget were chosen by the library on binarised-MNIST VALIDATION data at 10 epochs, on log p(image,label) "
    "(K = 1000 on 1,000 validation items, seed 0: -95.82, against -98.06 for the library's earlier lambda 50 with "
    "warm-up 0.3; bench/results/"
    "mnist_label_weight_warmup.md; it costs label->image coherence, 0.975 -> 0.530); at 30 epochs a warm-up over "
    "10 epochs (the whole budget at 10) beat one over the whole budget on the same VALIDATION protocol, seeds 0 and "
    "1: joint coherence 0.647 -> 0.700, label->image 0.444 -> 0.488, log p(image,label) -91.88 -> -91.88 "
    "(bench/results/mnist_warmup_e30.md), as it did for mvae; "
    "Adam 1e-3; batch 100 (the paper gives none; MVAE's 100 was chosen over 128 on the same validation data with the "
    "peer protocol's networks: -96.25 against -97.20, bench/results/smvae_gap.md); the earlier values: --set "
    "objective.weights.label=50 --set objective.warmup_epochs=0 --set objective.warmup_fraction=0.3 --set "
    "train.batch_size=128",
)
JMVAE = Constants(
    warmup_fraction=0.4,
    batch_size=100,
    source="JMVAE-kl (Suzuki et al. 2016) as MultiVae reproduces it on binarised MNIST (-86.86): alpha = 0.1, KL "
    "warm-up over 200 of 500 epochs (0.4 of the budget), batch 100, Adam 1e-3; MultiVae's encoder heads (a 512-512 "
    "MLP over each multi-modality subset's features, a linear map for a single modality's): on binarised-MNIST "
    "VALIDATION data at 10 epochs, seed 0, they give label->image coherence 0.750 and joint coherence 0.752 at "
    "log p(image,label) -101.82, against 0.688, 0.742 and -100.63 for M2VAE's 64-wide heads "
    "(bench/results/jmvae_head.md)",
)
SENSOR_FUSION = Constants(
    warmup_fraction=0.0,
    source="sensor-fusion paper section IV: classical VAEs (the ELBO), Adam 1e-3 on MNIST-SVHN (5e-4 on its other "
    "sets); it states no warm-up, lambda or batch. No KL warm-up, as the plain ELBO reads, was also the best of 0, "
    "0.3 and the whole budget on the coherence its tables report, on VALIDATION data (BCE on the three-image set at "
    "Table I's budget, seed 0: cross coherence from 1 / 2 inputs 0.229 / 0.399 against 0.181 / 0.326 for 0.3 and "
    "0.144 / 0.229 for the whole budget; it costs likelihood, bench/results/sensor_fusion_warmup.md); lambda 1 and "
    "batch 128 are the library's",
)
M2VAE = Constants(
    warmup_fraction=0.3,
    source="M2VAE (Korthals et al. 2019) section 5: alpha = 0.01 on the mutual KL terms; it states no warm-up, "
    "lambda, rate or batch for these models: those are the library's (warm-up over 30% of the budget, lambda 1, "
    "Adam 1e-3, batch 128)",
)


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
    constants: Constants = LIBRARY,
) -> ExperimentConfig:
    """Any fusion x scheme x estimator on the data set's own networks (`arch`) and a 10-epoch budget.

    The networks and latent size are the data set's (its registry entry, or the user's data);
    a preset never replaces them. `constants` are the training constants (a preset passes its
    paper's; a free composition gets `LIBRARY`). Scheme defaults: lcd turns on latent component
    dropout (alpha = 0.1); smvae uses the SMVAE preset's options; mmvae (and a mixture fusion
    under iwae/dreg) uses MMVAE's "looser" bound with `constants.k` samples per component.
    """
    arch = as_architecture(arch)
    specs = arch.modalities
    components = len(specs) if scheme == "mmvae" else mixture_components(fusion, len(specs))
    mixture = components > 1 or scheme == "mmvae"
    k = 1 if estimator == "elbo" else constants.k * components
    objective = ObjectiveConfig(
        kind=scheme,
        estimator=estimator,
        k=k,
        variant="looser" if mixture else "tighter",
        beta=constants.beta,
        warmup_fraction=constants.warmup_fraction,
        warmup_epochs=constants.warmup_epochs,
        weights={s.name: constants.label_weight for s in specs if s.kind == "label" and constants.label_weight != 1},
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
        train=TrainConfig(epochs=10, batch_size=constants.batch_size, lr=constants.lr),
    )


Preset = Callable[[Architecture, str], ExperimentConfig]
PRESETS: dict[str, Preset] = {}
CONSTANTS: dict[str, Constants] = {}  # each preset's constants and their source


def preset(
    name: str, fusion: str, scheme: str, estimator: str = "elbo", doc: str = "", constants: Constants = LIBRARY
) -> Preset:
    """Register `name` as compose(fusion, scheme, estimator) with its paper's `constants`."""

    def build(arch: Architecture, data: str) -> ExperimentConfig:
        return compose(arch, data, fusion, scheme, estimator, name, constants)

    build.__doc__ = f"{doc}\n\nConstants: {constants.source}"
    build.__name__ = name
    PRESETS[name] = build
    CONSTANTS[name] = constants
    return build


# the models of SMVAE Table 1, MMVAE/MoPoE baselines and sensor-fusion Table I
preset(
    "mvae",
    "poe",
    "mvae",
    doc="MVAE: product of experts with a prior expert; joint + single-modality ELBOs",
    constants=MVAE,
)
preset(
    "mmvae",
    "moe",
    "mmvae",
    "dreg",
    doc="MMVAE: uniform mixture of unimodal experts; stratified DReG 'looser' bound, 10 samples per expert",
    constants=MMVAE,
)
preset(
    "smvae",
    "set_attention",
    "smvae",
    doc="SMVAE: set attention (eq. 8); a random subset per sample + the full set",
    constants=SMVAE,
)
# the sensor-fusion paper's rows: name -> (fusion, scheme, what it is)
SENSOR_FUSION_ROWS = {
    "poe": ("poe", "joint", "the paper's MVAE row without cross generation: product of experts, joint ELBO alone"),
    "rbcm": ("rbcm", "joint", "RBCM joint posterior (sensor-fusion eq. 5-9), joint ELBO only"),
    "bce": ("bce", "joint", "BCE joint posterior (eq. 10-11): lowest-variance expert per dimension; joint ELBO"),
    "rce": ("rce", "joint", "RCE joint posterior: a random expert per dimension; joint ELBO"),
    "mvae+ecg": ("poe", "ecg", "PoE trained with exhaustive cross generation (all 2^M-1 subsets, eq. 12)"),
    "bce+ecg": ("bce", "ecg", "BCE trained with exhaustive cross generation (eq. 12)"),
    "rbcm+ecg": ("rbcm", "ecg", "RBCM trained with exhaustive cross generation (eq. 12)"),
    "bce+rmd": ("bce", "rmd", "BCE trained with random modality dropout (a random subset per sample)"),
    "bce+lcd": ("bce", "lcd", "BCE trained with latent component dropout (eq. 13-14, alpha 0.1)"),
    "mvae+lcd": ("poe", "lcd", "PoE trained with latent component dropout (eq. 13-14, alpha 0.1)"),
    "rbcm+lcd": ("rbcm", "lcd", "RBCM trained with latent component dropout (eq. 13-14, alpha 0.1)"),
}
for _name, (_fusion, _scheme, _doc) in SENSOR_FUSION_ROWS.items():
    preset(_name, _fusion, _scheme, doc=_doc, constants=SENSOR_FUSION)


JMVAE_ALPHA = 0.1  # weight of the KL terms (JMVAE-kl; MultiVae's reproduction of -86.86 on MNIST)
# MultiVae's JMVAE joint encoder reads its modality encoders' outputs through a 512-512 MLP
# (multivae.models.nn.default_architectures.MultipleHeadJointEncoder); its unimodal encoders end in a linear map
JMVAE_JOINT_HEAD = (512, 512)


def _special(name: str, build: Callable[[Architecture, str], ExperimentConfig], constants: Constants) -> None:
    build.__doc__ = f"{(build.__doc__ or '').strip()}\n\nConstants: {constants.source}"
    PRESETS[name] = build
    CONSTANTS[name] = constants


def _mopoe(arch: Architecture, data: str) -> ExperimentConfig:
    """MoPoE: mixture over the products of experts of every subset (the prior expert in the full product); ELBO"""
    cfg = compose(arch, data, "mopoe", "joint", "elbo", "mopoe", MOPOE)
    cfg.model.fusion.prior_expert = MOPOE_PRIOR_EXPERT
    return cfg


def _jmvae(arch: Architecture, data: str) -> ExperimentConfig:
    """JMVAE-kl: subset encoders (joint, leave-one-out, single); joint ELBO - alpha * sum_m KL(q(z|X) || q(z|X\\m))"""
    cfg = compose(arch, data, "subset_encoders", "jmvae", "elbo", "jmvae", JMVAE)
    cfg.model.fusion.subsets = "jmvae"
    cfg.model.fusion.head_hidden = list(JMVAE_JOINT_HEAD)
    cfg.model.fusion.single_head_hidden = []
    cfg.objective.alpha = JMVAE_ALPHA
    return cfg


M2VAE_ALPHA = 0.01  # M2VAE 5.1.1: alpha = 1 collapses the classes of the joint encoder; alpha <= 1e-2 does not


def _m2vae(arch: Architecture, data: str) -> ExperimentConfig:
    """M2VAE: an encoder for every subset; the recursive bound of eq. 11 (alpha 0.01 on the mutual KL terms)"""
    cfg = compose(arch, data, "subset_encoders", "m2vae", "elbo", "m2vae", M2VAE)
    cfg.model.fusion.subsets = "all"
    cfg.objective.alpha = M2VAE_ALPHA
    return cfg


def _jmvae_zero(arch: Architecture, data: str) -> ExperimentConfig:
    """JMVAE-Zero: one joint encoder fed zeros for missing modalities; joint ELBO over single-modality copies"""
    return compose(arch, data, "zero_fill", "jmvae_zero", "elbo", "jmvae-zero", M2VAE)


def _tvae(arch: Architecture, data: str) -> ExperimentConfig:
    """tVAE: the joint VAE first, then single-modality encoders trained through the frozen decoders"""
    cfg = compose(arch, data, "subset_encoders", "tvae", "elbo", "tvae", M2VAE)
    cfg.model.fusion.subsets = "singles"
    return cfg


_special("mopoe", _mopoe, MOPOE)
_special("jmvae", _jmvae, JMVAE)
_special("m2vae", _m2vae, M2VAE)
_special("jmvae-zero", _jmvae_zero, M2VAE)
_special("tvae", _tvae, M2VAE)


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
    out = compose(arch, data, f, s, e, constants=CONSTANTS[name])  # another axis, the preset's constants
    out.train = cfg.train
    # the axes kept keep the preset's own settings of them (jmvae's subsets and alpha, mopoe's prior expert)
    if f == cfg.model.fusion.kind:
        out.model.fusion = copy.deepcopy(cfg.model.fusion)
    if s == cfg.objective.kind:
        estimated = {"estimator", "k", "variant"}  # what the estimator axis decides
        for fld in dataclasses.fields(cfg.objective):
            if fld.name not in estimated:
                setattr(out.objective, fld.name, copy.deepcopy(getattr(cfg.objective, fld.name)))
    return out


def describe_presets() -> list[tuple[str, str]]:
    return [(n, (f.__doc__ or "").strip().splitlines()[0]) for n, f in PRESETS.items()]
