"""Typed experiment configuration: dataclasses that round-trip through JSON with strict checks.

A checkpoint carries its full config; loading validates every key and type against
these classes, so a config from another version or a typo fails with the field's path.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass
class ModalityConfig:
    """One modality: what its data is and which networks read and write it."""

    name: str
    kind: str  # "image", "label", "vector", "tokens" (integer sequence [T]) or "timeseries" (float [T, C])
    shape: list[int]  # event shape of one item: [1, 28, 28] for MNIST, [] for a label, [T] for tokens
    num_classes: int = 0  # a label's classes; a token sequence's vocabulary size
    likelihood: str = "bernoulli"
    likelihood_scale: float | None = 1.0  # Gaussian/Laplace: fixed scale, or None to learn it
    # the `mlp` network's hidden widths (other networks take their sizes from network_options)
    encoder_hidden: list[int] = field(default_factory=lambda: [512, 512])
    decoder_hidden: list[int] = field(default_factory=lambda: [512, 512, 512])
    # the network family of encoder and decoder: a registered name (mlp, conv, sequence, or one a user registered
    # with fusevae.register_network) or an importable "package.module:factory"; its options are JSON keyword arguments
    network: str = "mlp"
    network_options: dict[str, Any] = field(default_factory=dict)
    # another family for the encoder or the decoder alone (None: `network`); their options replace network_options
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    decoder: str | None = None
    decoder_options: dict[str, Any] = field(default_factory=dict)
    pad_index: int | None = None  # tokens: the padding token, masked out of the encoder's input


@dataclass
class FusionConfig:
    """How the joint posterior q(z | x_S) is formed for a subset S."""

    # poe | moe | mopoe | rbcm | bce | rce | set_attention | mean | sum | subset_encoders | zero_fill
    kind: str = "poe"
    heads: int = 4  # set_attention: number of attention heads
    rbcm_beta: float | None = None  # rbcm: None = the paper's per-dimension beta; a number fixes every beta
    lcd_alpha: float = 0.0  # latent component dropout rate during training (sensor-fusion eq. 13-14); 0 = off
    # subset_encoders: "all" non-empty subsets (M2VAE), "jmvae" (full, leave-one-out, singles) or "singles" (full
    # and singles: tVAE)
    subsets: str = "all"
    # mopoe: which subset products include the N(0, I) expert: "every" subset's, or only the product of all the
    # model's modalities ("full", as Sutter et al.'s MoPoE code and MultiVae do)
    prior_expert: str = "every"
    # subset_encoders: hidden widths of each subset's head over the concatenated modality features; M2VAE Table 2's
    # "concat-64-2" is [64]; [] is a linear head, as JMVAE's and MultiVae's encoders end in a linear layer
    head_hidden: list[int] = field(default_factory=lambda: [64])
    # subset_encoders: the single-modality heads' widths when they differ from head_hidden (None: the same); MultiVae's
    # JMVAE ends its unimodal encoders in a linear map but reads the joint through a 512-512 MLP
    single_head_hidden: list[int] | None = None
    # subset_encoders: the heads of subsets of two or more modalities read their own copy of every modality's encoder
    # (initialised as the shared one), as MultiVae's JMVAE joint encoder does; false: every head reads the encoders
    # the single-modality heads read (M2VAE's shared feature stacks)
    own_features: bool = False


@dataclass
class ModelConfig:
    modalities: list[ModalityConfig]
    latent_dim: int = 64
    activation: str = "swish"
    decoder_activation: str | None = None  # the decoders' hidden activation when it differs (M2VAE Table 2: tanh)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    # log-variance of every posterior is kept in (logvar_min, logvar_max); see distributions.bounded_logvar
    logvar_min: float = -12.0
    logvar_max: float = 6.0


@dataclass
class ObjectiveConfig:
    """Which subsets a step evaluates, what each reconstructs, and how it is estimated."""

    kind: str = "mvae"  # the scheme: joint | mvae | ecg | rmd | lcd | smvae | mmvae | jmvae | jmvae_zero | tvae | m2vae
    estimator: str = "elbo"  # elbo | iwae | dreg
    k: int = 1  # samples per subset row during training (for a mixture: in total, spread over its components)
    variant: str = "tighter"  # iwae/dreg on a mixture posterior: "tighter" or MMVAE's "looser"
    # the "looser" ELBO of a mixture: the KL of each sample's own component ("sampled") or the mean of the present
    # components' closed-form KLs ("mean", as MoPoE's code computes it); same expectation
    mixture_kl: str = "sampled"
    beta: float = 1.0  # final KL weight (SMVAE eq. 2)
    warmup_epochs: float = 0.0  # KL weight rises linearly from 0 to beta over this many epochs
    # ... or over this share of the training budget (train.epochs), so a schedule scales with the budget:
    # MVAE's 200 annealing epochs of 500 are 0.4. Set one of the two, not both.
    warmup_fraction: float = 0.0
    # the share of the warm-up spent at KL weight 0 before it starts to rise (0: it rises from the first step), so
    # the decoder learns to read z before the KL term can close the code (`metrics.synergy.BASELINE_HOLD`)
    warmup_hold: float = 0.0
    weights: dict[str, float] = field(default_factory=dict)  # lambda per modality (eq. 2), default 1
    # mvae: extra random subsets per step (MVAE sub-sampling for M > 2)
    random_subsets: int = 0
    # smvae (eq. 3-4)
    include_full: bool = False  # also evaluate the full present set every step
    reconstruct: str = "present"  # "present": every present modality; "subset": only the inputs
    permute: bool = True  # feed each subset in a random order (eq. 4)
    l2: float = 0.0  # L2 regularisation of mu -> 0 and sigma -> 1 (SMVAE section 3)
    # jmvae (M2VAE eq. 3) and m2vae (eq. 10): weight of the KL terms between a set's posterior and its subsets'
    alpha: float = 1.0
    # jmvae with M >= 3: the encoders its KL terms tie to the joint one. "rest": each leave-one-out set (M2VAE
    # eq. 17-18; the single-modality encoders then learn only from items that lack modalities), "singles": each
    # modality alone (Suzuki et al.'s unimodal encoders), "rest+singles": both. The three agree for M = 2.
    ties: str = "rest"
    # jmvae: the KL warm-up also scales the alpha-weighted tie terms, as MultiVae's JMVAE does (its annealing factor
    # multiplies the prior KL and the joint-to-single KLs together); off: ties at full weight from the first step
    anneal_ties: bool = False
    # m2vae, jmvae, jmvae_zero, tvae: beta per reconstructed set S from a normalised beta (M2VAE section 3,
    # Higgins et al. 2017): beta_S = beta_norm * D_S / D_z, D_S the data size of S, D_z the latent size
    beta_norm: float | None = None
    subset_beta: dict[str, float] = field(default_factory=dict)  # m2vae: beta of named subsets, e.g. {"x+w": 2.0}
    # tvae: the share of the epochs that trains the joint VAE; the rest trains the single-modality encoders
    joint_fraction: float = 0.5


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | rmsprop (M2VAE Table 2's MoG models)
    seed: int = 0
    # Bernoulli images in [0,1] binarised: afresh at every training draw, once (fixed seed) for validation and
    # test; registered MNIST-like sets start with true (their likelihood protocol), your own data with false
    binarize: bool = False
    limit_train: int = 0  # use only the first N training items (0: all)
    limit_val: int = 0
    # missing sensors: modality -> probability that a training/validation item lacks it (fixed per item and seed)
    missing: dict[str, float] = field(default_factory=dict)
    accelerator: str = "auto"
    devices: int | str = 1  # a count, "auto", or device indices like "0,1"
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for several processes or GPUs
    precision: str = "32-true"  # "bf16-mixed" / "16-mixed": networks in low precision, densities in float32
    compile: bool = False  # torch.compile the objective (forward and backward of a step)
    threads: int = 0  # torch threads on CPU (0: leave PyTorch's default)
    # mid-epoch checkpoints (last.ckpt): every N steps, else every M minutes; 0 and 0 = epoch ends only
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 10.0


@dataclass
class ExperimentConfig:
    preset: str
    data: str
    model: ModelConfig
    objective: ObjectiveConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        return from_dict(cls, data)


CONFIG_VERSION = 1


def warmup_length(warmup_fraction: float, warmup_epochs: float, epochs: float) -> float:
    """The KL warm-up's length in epochs: a share of the training budget, or a fixed length (0: none)."""
    return warmup_fraction * epochs if warmup_fraction > 0 else warmup_epochs


def _check(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _check(arg, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{path}: {value!r} matches none of {tp}")
    if tp is Any:  # free JSON (network options): anything json can write
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {value!r} is not JSON data") from None
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{path}: expected null, got {value!r}")
        return None
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(tp)
        return [_check(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        kt, vt = typing.get_args(tp)
        return {_check(kt, k, f"{path}.<key>"): _check(vt, v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{path}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported type {tp}")


def from_dict(cls: type[T], data: Any, path: str = "config") -> T:
    """Build dataclass `cls` from plain data, naming the path of any unknown or ill-typed field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {unknown} for {cls.__name__}; known: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path}.{name}: required field is missing")
            continue
        kwargs[name] = _check(hints[name], data[name], f"{path}.{name}")
    return cls(**kwargs)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as JSON, else kept as a string).

    A list of named items (model.modalities) is addressed by the item's name:
    `model.modalities.label.decoder_hidden=[256,256]`.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. objective.beta=0.5")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            node = _step(node, part, ".".join(parts[: i + 1]))
        last = parts[-1]
        if isinstance(node, dict):
            if last not in node and not _is_free_mapping(parts):
                raise ConfigError(f"override {key!r}: no field {last!r} here; known: {sorted(node)}")
            node[last] = value
        else:
            raise ConfigError(f"override {key!r}: {'.'.join(parts[:-1])} is not a mapping")
    return data


def _is_free_mapping(parts: list[str]) -> bool:
    # dict-valued fields accept new keys (objective.weights.<modality>, train.missing.<modality>)
    return len(parts) >= 2 and parts[-2] in (
        "weights",
        "missing",
        "subset_beta",
        "network_options",
        "encoder_options",
        "decoder_options",
    )


def _step(node: Any, part: str, where: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise ConfigError(f"override: no field {where!r}; known here: {sorted(node)}")
        return node[part]
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and item.get("name") == part:
                return item
        names = [i.get("name") for i in node if isinstance(i, dict)]
        raise ConfigError(f"override: no item named {part!r} in {where.rsplit('.', 1)[0]}; names: {names}")
    raise ConfigError(f"override: {where!r} is not a mapping")
