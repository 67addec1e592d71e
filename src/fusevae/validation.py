"""Checks at the boundary between user data and the model: one clear error per problem.

Each check names the modality and says what was expected, so a wrong shape, a float
label, a NaN pixel or a label out of range stops before it can turn into a silent NaN.
Run once per data set (not per training step, which would force a host sync) and on
every call of the user API.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .config import ModalityConfig, ModelConfig
from .data.batch import Batch, BatchError
from .tensor_checks import non_finite_counts, value_range

INTEGER_KINDS = ("label", "tokens")  # held as int64 indices (modalities.INTEGER_KINDS)
# likelihoods whose data must lie in [0, 1]
UNIT_INTERVAL = ("bernoulli",)


def check_modality(cfg: ModalityConfig, x: Tensor, present: Tensor | None = None, where: str = "batch") -> None:
    """x (N, *event) for modality `cfg`; only the rows where `present` is True are checked for values."""
    name = cfg.name
    event = tuple(cfg.shape)
    if tuple(x.shape[1:]) != event:
        raise BatchError(
            f"{where}: modality {name!r} expects items of shape {event} (a tensor (N, {', '.join(map(str, event))})),"
            f" got {tuple(x.shape)}"
            if event
            else f"{where}: modality {name!r} expects one value per item (a tensor (N,)), got shape {tuple(x.shape)}"
        )
    if cfg.kind in INTEGER_KINDS:
        what = "class" if cfg.kind == "label" else "token"
        if x.is_floating_point() or x.dtype == torch.bool or x.is_complex():
            raise BatchError(
                f"{where}: modality {name!r} holds {what} indices and needs an integer tensor, got {x.dtype}"
            )
        span = value_range(x, present)
        if span is not None and (span[0] < 0 or span[1] >= cfg.num_classes):
            raise BatchError(
                f"{where}: modality {name!r} has {what} indices in [{int(span[0])}, {int(span[1])}];"
                f" expected 0 .. {cfg.num_classes - 1}"
            )
        return
    if not x.is_floating_point():
        raise BatchError(f"{where}: modality {name!r} needs a floating-point tensor, got {x.dtype}")
    bad, n_nan = non_finite_counts(x, present)
    if bad:
        raise BatchError(
            f"{where}: modality {name!r} holds {bad} non-finite values ({n_nan} NaN, "
            f"{bad - n_nan} inf) in present items; mask those items out or clean the data"
        )
    span = value_range(x, present) if cfg.likelihood in UNIT_INTERVAL else None
    if span is not None and (span[0] < 0.0 or span[1] > 1.0):
        raise BatchError(
            f"{where}: modality {name!r} uses a {cfg.likelihood} likelihood and needs values in [0, 1],"
            f" got [{span[0]:.3g}, {span[1]:.3g}]"
        )


def check_batch(cfg: ModelConfig, batch: Batch, where: str = "batch") -> None:
    """Every modality of `batch` against the model's config, and the mask against the data."""
    by_name = {m.name: m for m in cfg.modalities}
    names = tuple(by_name)
    if tuple(batch.modalities) != names:
        raise BatchError(f"{where}: batch is laid out for modalities {list(batch.modalities)}, model has {list(names)}")
    if not bool(batch.mask.any(1).all()):
        empty = torch.nonzero(~batch.mask.any(1)).flatten().tolist()[:5]
        raise BatchError(f"{where}: items {empty} have no present modality; every item needs at least one")
    for i, name in enumerate(names):
        if name in batch.data:
            check_modality(by_name[name], batch.data[name], batch.mask[:, i], where)


def check_subset(names: Sequence[str], subset: Sequence[str] | None) -> None:
    if subset is None:
        return
    unknown = sorted(set(subset) - set(names))
    if unknown:
        raise BatchError(f"unknown modality {unknown} in subset; this model has {list(names)}")
    if not subset:
        raise BatchError("empty subset: name at least one modality (the prior needs no posterior)")


def check_dataset(cfg: ModelConfig, dataset: object, where: str) -> None:
    """A MultimodalTensorDataset against the model's config, once, before training on it."""
    modalities = tuple(getattr(dataset, "modalities", ()))
    names = tuple(m.name for m in cfg.modalities)
    if modalities != names:
        raise BatchError(f"{where}: data set has modalities {list(modalities)}, the model expects {list(names)}")
    data, mask = dataset.data, dataset.mask  # type: ignore[attr-defined]
    rows = getattr(dataset, "rows", {})
    quantized = getattr(dataset, "quantized", ())
    for i, m in enumerate(cfg.modalities):
        if m.name in quantized:  # uint8 levels, served in [0, 1]: finite and in range by construction
            check_modality(m, data[m.name][:1].to(torch.float32) / 255.0, None, where)
            continue
        # a modality whose items index shared rows is checked over all of its rows
        check_modality(m, data[m.name], None if m.name in rows else mask[:, i], where)


def check_learnable(cfg: ModelConfig, dataset: object, where: str = "training set") -> None:
    """Every modality present in at least one item of the set a model trains on.

    A modality no item has (a mask of all False, an inverted mask) would train nothing of its encoder and decoder
    while the bound looks fine, and fail only at evaluation: refused before training, naming it."""
    mask = dataset.mask  # type: ignore[attr-defined]
    if mask.shape[0] == 0:
        raise BatchError(f"{where}: the set has no items")
    absent = [m.name for i, m in enumerate(cfg.modalities) if not bool(mask[:, i].any())]
    if absent:
        raise BatchError(
            f"{where}: {'modality' if len(absent) == 1 else 'modalities'} {', '.join(repr(a) for a in absent)} "
            f"{'is' if len(absent) == 1 else 'are'} present in none of its {mask.shape[0]} items "
            "(its mask is all False), so the model could not learn it; check the mask (True marks a present item) "
            "or leave the modality out"
        )


@torch.no_grad()
def diagnose_non_finite(model: torch.nn.Module, batch: Batch) -> str:
    """Where a non-finite loss comes from: a parameter, a modality's encoder, the fusion, or a modality's likelihood.

    Re-runs the pieces of one joint pass on `batch` and names the first that is not finite.
    """
    for pname, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            return f"parameter {pname} holds non-finite values (the previous update diverged)"
    names = model.names  # type: ignore[attr-defined]
    for i, name in enumerate(names):
        if name in batch.data:
            x = batch.data[name][batch.mask[:, i]]
            if x.is_floating_point() and not bool(torch.isfinite(x).all()):
                return f"modality {name!r}: the input data holds NaN or inf"
            e = model.nets[name].encode(batch.data[name])  # type: ignore[attr-defined,index]
            if not bool(torch.isfinite(e).all()):
                return f"modality {name!r}: the encoder output is non-finite"
    q = model.fuse(model.encode(batch), batch.mask)  # type: ignore[attr-defined,operator]
    if not bool(torch.isfinite(q.mean).all()):
        return "the fused posterior q(z | x) has a non-finite mean"
    z = q.rsample()
    for i, name in enumerate(names):
        if name in batch.data:
            lp = model.nets[name].log_prob(model.nets[name].decode(z), batch.data[name])  # type: ignore[index]
            if not bool(torch.isfinite(lp[batch.mask[:, i]]).all()):
                return f"modality {name!r}: the log-likelihood log p(x | z) is non-finite"
    return "no single piece is non-finite on a fresh pass; the estimator's combination overflowed"
