"""Synergy gain (sensor-fusion paper IV-B): does seeing every modality reconstruct modality m better?

G_m = (S_m - U_m) / U_m, where S_m is the judged accuracy of m reconstructed from z ~ q(z | X)
(all modalities) by the multimodal model, and U_m that of m reconstructed by a unimodal VAE of the
same architecture, latent size, budget and seed trained on m alone. The library trains the unimodal
VAEs itself and caches them under the hash of their config and data, so every model on the same
data set is compared with the same baselines.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from ..config import ExperimentConfig, FusionConfig, ObjectiveConfig
from ..data import MultimodalData
from ..data.tensor_dataset import MultimodalTensorDataset
from ..distributions import DiagGaussian
from ..locks import holding
from ..model import MultimodalVAE
from .classifier import Classifier, accuracies
from .coherence import judged_classes

# U moves every row's gain at once, so the baseline must not be one that trains badly: without a KL warm-up the
# Fashion- and Animal-MNIST VAEs of the three-image set reconstruct their class far worse (U 0.517 / 0.316 against
# 0.753 / 0.856 over 30 % of the budget and 0.768 / 0.860 over all of it, on VALIDATION items at Table I's budget;
# bench/results/synergy_baseline_warmup.md). The whole budget had the highest mean U; 0.3 was within 0.01 of it.
BASELINE_WARMUP_FRACTION = 1.0

# A baseline whose code carries under this many nats about its input has collapsed: it reconstructs the mean item
# whatever it is shown, so U is the accuracy of a constant answer and G measures nothing. The rate
# E_x KL(q(z | x) || p(z)) bounds the information I(x; z) from above (Alemi et al. 2018, "Fixing a broken ELBO"),
# and 0.1 nats is a seventh of the log 2 needed to tell two equally likely classes apart. Not tuned: the scenes'
# image and depth baselines of Table III's budget sit near 0.001 nats, its radar baseline near 16.
MIN_BASELINE_RATE = 0.1

# A classical baseline can collapse where its modality alone moves the likelihood little: the scenes' image and depth
# VAEs of Table III's budget carry 0.0004 / 0.0013 nats, because the KL term, rising with the warm-up, closes the
# code before the decoder has learnt to read it. Such a baseline (its rate on validation items under
# MIN_BASELINE_RATE) is trained again with the KL weight held at 0 for this share of its warm-up, so the decoder
# learns to read z first; the rest of the warm-up brings it to the plain ELBO (beta 1) by the end of the budget.
# Chosen on VALIDATION items of the scenes at Table III's budget (bench/results/synergy_baseline_hold.md): the
# image's U is highest at 0.25 of the shares tried (0, 0.1, 0.25, 0.5, 0.75); its depth baseline stays collapsed
# under every one (its ELBO at beta 1 prefers no code), so depth's G is not measured.
BASELINE_HOLD = 0.25
# the validation items (at most) on which a baseline's rate decides whether it collapsed: as many as coherence reads
VALIDATION_ITEMS = 2000


@dataclass
class SynergyScore:
    """Synergy of one modality: S (from all), U (unimodal baseline), G = (S - U) / U; micro accuracies.

    `gain` is None where G is not defined: the baseline collapsed (`rate` below MIN_BASELINE_RATE) or scores 0."""

    modality: str
    joint: float  # S
    unimodal: float  # U
    gain: float | None  # G
    rate: float | None = None  # the baseline's rate, nats (None: not measured)
    hold: float = 0.0  # the share of the baseline's warm-up at KL weight 0 (BASELINE_HOLD: a collapse retrained)


def gain_of(joint: float, unimodal: float, rate: float | None) -> float | None:
    """G = (S - U) / U, or None where the baseline collapsed or scores nothing right."""
    if unimodal == 0.0 or (rate is not None and rate < MIN_BASELINE_RATE):
        return None
    return (joint - unimodal) / unimodal


@torch.no_grad()
def baseline_rates(
    baselines: Mapping[str, MultimodalVAE], dataset: MultimodalTensorDataset, batch_size: int = 512
) -> dict[str, float]:
    """Each unimodal baseline's rate E_x KL(q(z | x) || p(z)) in nats on the complete items of `dataset`."""
    items = complete_items(dataset)
    out = {}
    for m, base in baselines.items():
        base.eval()
        device = next(base.parameters()).device
        own = items.select([m])
        total = 0.0
        for block in torch.arange(len(own)).split(batch_size):
            q = base.posterior(own[block].to(device))
            if not isinstance(q, DiagGaussian):
                raise TypeError(f"the baseline of {m!r} must have a Gaussian posterior, got {type(q).__name__}")
            total += float(q.kl_standard_normal().sum())
        out[m] = total / len(own)
    return out


def unimodal_config(cfg: ExperimentConfig, modality: str, hold: float = 0.0) -> ExperimentConfig:
    """The baseline U of `modality` for a model trained by cfg: a plain VAE of that modality alone.

    The sensor-fusion paper (IV-B, Table I) reports one unimodal score per modality for all its rows, so every
    row and seed of a table shares one baseline: the modality's own networks and latent size and the cell's
    budget (epochs, items), but none of the preset's constants. It is a classical VAE trained as the library
    trains the paper's rows (`presets.SENSOR_FUSION`: the plain ELBO, beta 1, lambda 1, Adam 1e-3, batch 128),
    from seed 0, with its own KL warm-up (`BASELINE_WARMUP_FRACTION`), held at 0 for its first `hold` share (the
    retraining of a collapsed baseline: `BASELINE_HOLD`). Rows then differ in S alone, and a table of many presets
    trains one baseline per modality, not one per preset and seed.
    """
    from ..presets import SENSOR_FUSION

    names = [m.name for m in cfg.model.modalities]
    if modality not in names:
        raise ValueError(f"unknown modality {modality!r}; the config has {names}")
    out = copy.deepcopy(cfg)
    out.preset = f"unimodal-{modality}"
    out.model.modalities = [m for m in out.model.modalities if m.name == modality]
    out.model.fusion = FusionConfig(kind="poe")  # one expert: its own Gaussian, whatever the preset fuses
    out.objective = ObjectiveConfig(kind="joint", beta=1.0, warmup_fraction=BASELINE_WARMUP_FRACTION, warmup_hold=hold)
    out.train = replace(
        out.train, batch_size=SENSOR_FUSION.batch_size, lr=SENSOR_FUSION.lr, optimizer="adam", seed=0, missing={}
    )
    return out


# how a run is carried out, not what it learns: workers with other thread counts share one baseline
_HOW = ("threads", "checkpoint_every_steps", "checkpoint_every_minutes")


def _key(cfg: ExperimentConfig, data: MultimodalData) -> str:
    what = cfg.to_dict()
    what["train"] = {k: v for k, v in what["train"].items() if k not in _HOW}
    if not what["objective"].get("warmup_hold"):  # the classical baseline keeps the key it had before holds existed
        what["objective"].pop("warmup_hold", None)
    h = hashlib.sha256(json.dumps(what, sort_keys=True).encode())
    for part in (data.train, data.valid):
        for n in part.modalities:
            h.update(part.data[n].contiguous().numpy().tobytes())
            if n in part.rows:
                h.update(part.rows[n].numpy().tobytes())
        h.update(part.mask.numpy().tobytes())
    return h.hexdigest()[:20]


def unimodal_baseline(
    cfg: ExperimentConfig, data: MultimodalData, modality: str, cache_dir: str | os.PathLike[str]
) -> MultimodalVAE:
    """The unimodal VAE for `modality` from the cache, training (or resuming) it there first if needed.

    A classical baseline that collapsed (its rate on the validation items under MIN_BASELINE_RATE) gives way to
    one trained with the KL weight held at 0 for the first BASELINE_HOLD of its warm-up; `baseline_hold` says
    which one a model is. Where that one collapses too, it is returned: its rate then withholds the gain."""
    udata = data.select([modality])
    model = _cached_fit(unimodal_config(cfg, modality), udata, Path(cache_dir))
    valid = data.valid.select([modality])
    if valid.labels is not None and bool(valid.mask.any()):  # the validation items that have the modality
        if baseline_rates({modality: model}, valid.subset(VALIDATION_ITEMS))[modality] < MIN_BASELINE_RATE:
            model = _cached_fit(unimodal_config(cfg, modality, hold=BASELINE_HOLD), udata, Path(cache_dir))
    return model


def baseline_hold(model: MultimodalVAE) -> float:
    """The share of its warm-up a baseline from `unimodal_baseline` spent at KL weight 0 (0: the classical one)."""
    return float(getattr(model, "baseline_hold", 0.0))


def _cached_fit(ucfg: ExperimentConfig, udata: MultimodalData, cache_dir: Path) -> MultimodalVAE:
    from ..checkpoint import load_model
    from ..train import fit

    run = cache_dir / f"unimodal-{ucfg.model.modalities[0].name}-{_key(ucfg, udata)}"
    with holding(run):  # workers sharing a benchmark folder: one trains it, the others wait and load it
        if not (run / "model.safetensors").exists():
            fit(ucfg, udata, run, resume=(run / "checkpoints" / "last.ckpt").exists(), progress=False)
    model, _ = load_model(run)
    model.baseline_hold = ucfg.objective.warmup_hold
    return model.eval()


@torch.no_grad()
def _reconstructed_classes(
    model: MultimodalVAE, dataset: MultimodalTensorDataset, judges: Mapping[str, Classifier], target: str, bs: int
) -> Tensor:
    device = next(model.parameters()).device
    preds = []
    for block in torch.arange(len(dataset)).split(bs):
        z = model.posterior(dataset[block].to(device)).rsample()  # z ~ q(z | every modality the model has)
        preds.append(judged_classes(model, judges, target, model.decode(z, [target])[target]).cpu())
    return torch.cat(preds)


def complete_items(dataset: MultimodalTensorDataset) -> MultimodalTensorDataset:
    """The items of `dataset` that have every modality (synergy reconstructs each from all of them)."""
    if dataset.labels is None:
        raise ValueError("synergy needs a data set with class labels")
    full = torch.nonzero(dataset.mask.all(1)).flatten()
    if not len(full):
        raise ValueError("synergy needs items with every modality present")
    return MultimodalTensorDataset(
        {n: dataset.data[n] if n in dataset.rows else dataset.data[n][full] for n in dataset.modalities},
        dataset.modalities,
        None,
        dataset.labels[full],
        (),
        {n: r[full] for n, r in dataset.rows.items()},
        dataset.quantized,
    )


def _accuracy(
    model: MultimodalVAE,
    items: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    target: str,
    num_classes: int,
    batch_size: int,
    seed: int,
) -> float:
    with torch.random.fork_rng():  # the same noise for S and U, so a model equal to its baseline scores G = 0
        torch.manual_seed(seed)
        pred = _reconstructed_classes(model, items, judges, target, batch_size)
    return accuracies(pred, items.labels, num_classes)[0]  # type: ignore[arg-type]


@torch.no_grad()
def unimodal_scores(
    baselines: Mapping[str, MultimodalVAE],
    dataset: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    num_classes: int,
    batch_size: int = 512,
    seed: int = 0,
) -> dict[str, float]:
    """U per modality: the judged accuracy of its unimodal baseline's reconstructions, as `synergy` scores it.

    Alone, so a table whose baselines were retrained (another machine, or a constant of theirs changed) can
    bring the U and G of its finished cells up to date from their recorded S without their models."""
    return _unimodal_scores(baselines, complete_items(dataset), judges, num_classes, batch_size, seed)


def _unimodal_scores(
    baselines: Mapping[str, MultimodalVAE],
    items: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    num_classes: int,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    out = {}
    for m, base in baselines.items():
        if base.names != (m,):
            raise ValueError(f"the baseline for {m!r} must be a unimodal model of that modality")
        base.eval()
        out[m] = _accuracy(base, items.select([m]), judges, m, num_classes, batch_size, seed)
    return out


@torch.no_grad()
def synergy(
    model: MultimodalVAE,
    baselines: Mapping[str, MultimodalVAE],
    dataset: MultimodalTensorDataset,
    judges: Mapping[str, Classifier],
    num_classes: int,
    batch_size: int = 512,
    seed: int = 0,
) -> list[SynergyScore]:
    """G per modality that has a baseline, on the items of `dataset` that have every modality."""
    for m in baselines:
        if m not in model.names:
            raise ValueError(f"the baseline for {m!r} must be a unimodal model of that modality of the model")
    items = complete_items(dataset)
    unimodal = _unimodal_scores(baselines, items, judges, num_classes, batch_size, seed)
    rates = baseline_rates(baselines, dataset, batch_size)
    model.eval()
    out = []
    for m, u in unimodal.items():
        s = _accuracy(model, items, judges, m, num_classes, batch_size, seed)
        out.append(SynergyScore(m, s, u, gain_of(s, u, rates[m]), rates[m], baseline_hold(baselines[m])))
    return out
