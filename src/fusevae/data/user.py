"""`from_arrays`: a `MultimodalData` from a user's own arrays (numpy or torch), checked before anything is built.

Each modality is one array (N, *item). What it is (kind, shape, likelihood, classes, network) is inferred
from its dtype and shape where that is unambiguous, and `specs[name]` overrides any of it:

* integer (N,)                      -> "label", categorical, num_classes = max + 1 (at least 2), network "mlp"
* integer (N, T)                    -> "tokens" [T], categorical, num_classes = max + 1 (at least 2; above any
                                       given pad_index), pad_index None unless given, network "sequence"
* uint8 (N, H, W) / (N, C, H, W)    -> "image", stored as uint8 levels and served / 255 in [0, 1] (quantized),
                                       Bernoulli
* float (N,) / (N, D)               -> "vector" [1] / [D], Gaussian with a learned scale
* float (N, A, B), A == B >= 8      -> "image" [1, A, A] (the data gains a channel axis)
* float (N, T, C) otherwise         -> "timeseries" [T, C], Gaussian with a learned scale
* float (N, C, H, W) / (N, H, W, C) -> "image" [C, H, W] for C in 1..4: channels first when the first item axis is
                                       1..4, else channels last when the last one is (transposed to [C, H, W])

Bool arrays count as float 0/1. A float image whose present values all lie in [0, 1] gets a Bernoulli likelihood,
any other a Gaussian with a learned scale (likelihood_scale None: the decoder predicts it per element, so data of
any scale trains without standardising it first). Gaussian and Laplace modalities learn their scale unless the
spec gives likelihood_scale. Images default to the "conv" network when square with 28, 32 or 64 pixels a side,
else to "mlp". Any other integer array of 2+ item axes (int64 (N, H, W)) or float array of 4+ is ambiguous and
needs `specs[name]["kind"]`.

`specs[name]` is a dict of ModalityConfig fields that replace the inferred ones (a changed kind, shape or
likelihood re-derives the fields that depend on it), or a full ModalityConfig used as it is. A given `shape`
reshapes the items to it (e.g. (N, 784) -> [1, 28, 28]), or transposes (H, W, C) items to a [C, H, W] shape.
Data is converted by its final kind: label / tokens to int64 (from integer or bool data only), vector /
timeseries to float32 (integers cast as they are), images to float32, or kept uint8 and quantized.

Every problem raises one BatchError (a ValueError) naming it before any data set is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..config import ConfigError, ModalityConfig, from_dict
from ..likelihoods import make_likelihood
from ..modalities import INTEGER_KINDS, KINDS, check_spec
from ..tensor_checks import non_finite_counts, value_range
from .batch import BatchError
from .dataset import EvaluationSpec, MultimodalData
from .tensor_dataset import MultimodalTensorDataset

__all__ = ["NAME_PATTERN", "check_name", "from_arrays", "infer_modality"]

SPLITS = ("train", "valid", "test")
# modality and data-set names: config override paths (model.modalities.<name>.x), subset keys ("a+b"), table
# columns and file names all take them, so they hold letters, digits, '_' and '-' only
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
CONV_SIDES = (28, 32, 64)
LEARNED_SCALE = ("gaussian", "laplace")
_FIELDS = tuple(f.name for f in dataclasses.fields(ModalityConfig))


def check_name(name: object, what: str = "modality") -> str:
    """`name` if it is a valid modality / data-set name, else a BatchError saying why."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise BatchError(
            f"{what} name {name!r} is not allowed: use letters, digits, '_' and '-' only (no '.', ',', '|', '+', "
            "'=', '/' or whitespace: they break config override paths, subset keys and table columns)"
        )
    return name


def _np(x: object, what: str) -> np.ndarray:
    """A numpy array of a numpy array, torch tensor or nested list (no copy where none is needed)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        x = x.numpy()
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise BatchError(f"{what} cannot be read as a numeric array: {e}") from None
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    if not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise BatchError(f"{what} must hold numbers or booleans, got an array of dtype {a.dtype}")
    if a.ndim == 0:
        raise BatchError(f"{what} must be an array with one row per item, got a scalar")
    return a


def _is_int(a: np.ndarray) -> bool:
    return bool(np.issubdtype(a.dtype, np.integer))


def _first(idx: np.ndarray, k: int = 5) -> list[int]:
    return [int(i) for i in idx[:k]]


# ---------------------------------------------------------------------------------------------- inference


def _channels(item: tuple[int, ...]) -> str | None:
    """Where a 3-axis item keeps its channels: "first" (C, H, W), "last" (H, W, C), or None."""
    if 1 <= item[0] <= 4:
        return "first"
    if 1 <= item[2] <= 4:
        return "last"
    return None


def _infer_kind(name: str, x: np.ndarray) -> str:
    item = tuple(x.shape[1:])
    hint = f"give specs[{name!r}] = {{'kind': ...}} (one of {list(KINDS)}) and, where needed, a 'shape'"
    if _is_int(x):
        if not item:
            return "label"
        if len(item) == 1:
            return "tokens"
        if x.dtype == np.uint8 and (len(item) == 2 or (len(item) == 3 and _channels(item) is not None)):
            return "image"
        raise BatchError(f"modality {name!r}: cannot infer the kind of {x.dtype} items of shape {list(item)}; {hint}")
    if len(item) <= 1:
        return "vector"
    if len(item) == 2:
        return "image" if item[0] == item[1] >= 8 else "timeseries"
    if len(item) == 3 and _channels(item) is not None:
        return "image"
    raise BatchError(f"modality {name!r}: cannot infer the kind of {x.dtype} items of shape {list(item)}; {hint}")


def _reshape(name: str, x: np.ndarray, shape: list[int]) -> np.ndarray:
    """Items of x laid out as `shape`: as they are, transposed from (H, W, C) to [C, H, W], or reshaped."""
    item, target = tuple(x.shape[1:]), tuple(shape)
    if item == target:
        return x
    if len(item) == 3 and len(target) == 3 and item == (target[1], target[2], target[0]) and 1 <= target[0] <= 4:
        return x.transpose(0, 3, 1, 2)
    if math.prod(item) == math.prod(target):
        return x.reshape(len(x), *target)
    raise BatchError(
        f"modality {name!r}: items of shape {list(item)} ({math.prod(item)} values) cannot take the shape "
        f"{list(target)} ({math.prod(target)} values) given in its spec"
    )


def _arrange(name: str, kind: str, x: np.ndarray) -> np.ndarray:
    """Items of x laid out for `kind` when no shape is given (an image gains a channel axis, and so on)."""
    item = tuple(x.shape[1:])
    n = len(x)
    bad = None
    if kind == "label":
        if item in ((), (1,)):
            return x.reshape(n)
        bad = "a label needs one value per item (N,)"
    elif kind == "tokens":
        if len(item) == 1:
            return x
        bad = "tokens need one sequence per item (N, T)"
    elif kind == "image":
        if len(item) == 2:
            return x.reshape(n, 1, *item)
        if len(item) == 3 and _channels(item) == "first":
            return x
        if len(item) == 3 and _channels(item) == "last":
            return x.transpose(0, 3, 1, 2)
        bad = "an image needs items (H, W), (C, H, W) or (H, W, C) with C in 1..4"
    elif kind == "timeseries":
        if len(item) == 1:
            return x.reshape(n, item[0], 1)
        if len(item) == 2:
            return x
        bad = "a time series needs items (T, C) or (T,)"
    elif kind == "vector":
        return x.reshape(n, max(1, math.prod(item)))
    raise BatchError(f"modality {name!r}: {bad}, got items of shape {list(item)}; give a 'shape' in its spec")


def _default_network(kind: str, shape: list[int]) -> str:
    if kind == "image":
        square = len(shape) == 3 and shape[1] == shape[2] and shape[1] in CONV_SIDES
        return "conv" if square else "mlp"
    return "sequence" if kind in ("timeseries", "tokens") else "mlp"


def _span(xs: list[np.ndarray], presents: list[np.ndarray]) -> tuple[float, float] | None:
    """(min, max) over the present items of every split."""
    spans = [value_range(torch.from_numpy(x), torch.from_numpy(p)) for x, p in zip(xs, presents)]
    spans = [s for s in spans if s is not None]
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None


def infer_modality(
    name: str,
    xs: Sequence[np.ndarray],
    presents: Sequence[np.ndarray],
    wheres: Sequence[str],
    spec: Mapping[str, Any] | ModalityConfig | None = None,
) -> tuple[ModalityConfig, list[np.ndarray], bool]:
    """The ModalityConfig of one modality, its arrays (one per split) converted, and whether they are quantized.

    `xs` holds the modality's array in each split, `presents` its presence (N,) there, `wheres` the
    split names for messages; `spec` overrides the inference (see the module's docstring).
    """
    full = isinstance(spec, ModalityConfig)
    if full:
        if spec.name != name:
            raise BatchError(f"specs[{name!r}] is the ModalityConfig of {spec.name!r}")
        given = dataclasses.asdict(spec)
    else:
        given = dict(spec or {})
        unknown = sorted(set(given) - set(_FIELDS))
        if unknown:
            raise BatchError(f"specs[{name!r}]: unknown field(s) {unknown}; ModalityConfig has {sorted(_FIELDS)}")
        if given.get("name", name) != name:
            raise BatchError(f"specs[{name!r}] names another modality, {given['name']!r}")
    kind, shape = given.get("kind"), given.get("shape")
    if kind is not None and kind not in KINDS:
        raise BatchError(f"modality {name!r}: unknown kind {kind!r}; expected one of {list(KINDS)}")
    if shape is not None and (
        not isinstance(shape, list | tuple)
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
    ):
        raise BatchError(f"modality {name!r}: shape {shape!r} must be a list of positive sizes")
    likelihood = given.get("likelihood")
    if likelihood is not None:
        try:
            make_likelihood(likelihood, 0)
        except (ValueError, TypeError) as e:
            raise BatchError(f"modality {name!r}: {e}") from None
    families = {("int" if _is_int(x) else "float") for x in xs}
    if len(families) > 1:
        dtypes = {w: str(x.dtype) for w, x in zip(wheres, xs)}
        raise BatchError(f"modality {name!r} mixes integer and float data across the splits: {dtypes}")

    # layout: a given shape, else the kind's usual one
    xs = [(x.astype(np.float32) if x.dtype == np.bool_ and (kind or "") not in INTEGER_KINDS else x) for x in xs]
    if shape is not None:
        xs = [_reshape(name, x, list(shape)) for x in xs]
        kind = kind or _infer_kind(name, xs[0])
    else:
        kind = kind or _infer_kind(name, xs[0])
        xs = [_arrange(name, kind, x) for x in xs]
    item = list(xs[0].shape[1:])

    # conversion by kind, then the values of present items
    quantized = kind == "image" and xs[0].dtype == np.uint8
    if kind in INTEGER_KINDS:
        if not all(_is_int(x) or x.dtype == np.bool_ for x in xs):
            raise BatchError(
                f"modality {name!r} is a {kind} modality and holds class indices, which must be integers; got "
                f"{xs[0].dtype} (cast it with .astype(int) if its values are whole numbers)"
            )
        xs = [x.astype(np.int64, copy=False) for x in xs]
    elif not quantized:
        xs = [x.astype(np.float32, copy=False) for x in xs]
        for x, p, where in zip(xs, presents, wheres):
            bad, nan = non_finite_counts(torch.from_numpy(x), torch.from_numpy(p))
            if bad:
                raise BatchError(
                    f"{where} set: modality {name!r} holds {bad} non-finite values ({nan} NaN, {bad - nan} inf) in "
                    "present items; mark those items absent in its mask or clean the data"
                )
    span = _span(xs, list(presents))

    if full:
        cfg = dataclasses.replace(spec, shape=item) if shape is None else spec
    else:
        fields: dict[str, Any] = {"name": name, "kind": kind, "shape": item}
        if likelihood is None:
            if kind in INTEGER_KINDS:
                likelihood = "categorical"
            elif kind == "image" and (quantized or span is None or (span[0] >= 0.0 and span[1] <= 1.0)):
                likelihood = "bernoulli"
            else:
                likelihood = "gaussian"
        fields["likelihood"] = likelihood
        fields["likelihood_scale"] = None if likelihood in LEARNED_SCALE else 1.0
        if kind in INTEGER_KINDS:
            top = int(span[1]) + 1 if span is not None else 2
            pad = given.get("pad_index")
            if isinstance(pad, int) and not isinstance(pad, bool):
                top = max(top, pad + 1)
            fields["num_classes"] = max(2, top)
        fields["network"] = _default_network(kind, item)
        fields.update({k: v for k, v in given.items() if k not in ("name", "kind", "shape", "likelihood")})
        try:
            cfg = from_dict(ModalityConfig, fields, path=f"specs[{name!r}]")
        except ConfigError as e:
            raise BatchError(str(e)) from None
    try:
        check_spec(cfg)
        make_likelihood(cfg.likelihood, len(cfg.shape), cfg.likelihood_scale)
    except ValueError as e:
        raise BatchError(str(e)) from None
    if list(cfg.shape) != item:
        raise BatchError(f"modality {name!r}: its spec has shape {list(cfg.shape)} but its items have shape {item}")

    if kind in INTEGER_KINDS and span is not None and (span[0] < 0 or span[1] >= cfg.num_classes):
        what = "class indices" if kind == "label" else "token indices"
        raise BatchError(
            f"modality {name!r}: {what} out of range: present items hold [{int(span[0])}, {int(span[1])}], "
            f"expected 0 .. {cfg.num_classes - 1} (num_classes {cfg.num_classes})"
        )
    if cfg.likelihood == "bernoulli" and not quantized and span is not None and (span[0] < 0.0 or span[1] > 1.0):
        raise BatchError(
            f"modality {name!r} uses a bernoulli likelihood and needs values in [0, 1], got "
            f"[{span[0]:.3g}, {span[1]:.3g}]; scale the data or set a gaussian likelihood in its spec"
        )
    # absent items hold zeros (never NaN: the data set refuses non-finite values anywhere)
    xs = [
        x if bool(p.all()) else np.where(p.reshape(-1, *[1] * (x.ndim - 1)), x, 0).astype(x.dtype)
        for x, p in zip(xs, presents)
    ]
    return cfg, xs, quantized


# ---------------------------------------------------------------------------------------- masks and labels


def _mask(mask: object, names: tuple[str, ...], n: int, where: str) -> np.ndarray:
    """The presence mask (n, M) of one split: from None, a bool (n, M) array, or a dict modality -> (n,)."""
    if mask is None:
        return np.ones((n, len(names)), dtype=bool)
    if isinstance(mask, Mapping):
        unknown = sorted(set(mask) - set(names), key=str)
        if unknown:
            raise BatchError(f"{where} mask names unknown modality {unknown}; the modalities are {list(names)}")
        out = np.ones((n, len(names)), dtype=bool)
        for i, k in enumerate(names):
            if k in mask:
                col = _np(mask[k], f"{where} mask of {k!r}")
                if col.shape != (n,):
                    raise BatchError(
                        f"{where} mask of modality {k!r} must have shape ({n},), one flag per item, got {col.shape}"
                    )
                out[:, i] = _bool(col, f"{where} mask of {k!r}")
        return out
    m = _np(mask, f"{where} mask")
    if m.shape != (n, len(names)):
        raise BatchError(
            f"{where} mask must have shape (N, M) = ({n}, {len(names)}) with columns {list(names)}, or be a dict "
            f"modality -> (N,); got shape {m.shape}"
        )
    return _bool(m, f"{where} mask")


def _bool(m: np.ndarray, what: str) -> np.ndarray:
    if m.dtype == np.bool_:
        return m
    if _is_int(m) and bool(np.isin(m, (0, 1)).all()):
        return m.astype(bool)
    raise BatchError(f"{what} must be boolean (True: present), got {m.dtype}")


def _check_items(mask: np.ndarray, where: str) -> None:
    empty = np.flatnonzero(~mask.any(1))
    if len(empty):
        raise BatchError(
            f"{where} mask leaves {len(empty)} items with no present modality (first: {_first(empty)}); "
            "every item needs at least one"
        )


def _class_labels(y: object, n: int, where: str) -> np.ndarray:
    a = _np(y, f"{where} class labels")
    if a.ndim != 1 or len(a) != n:
        raise BatchError(f"{where} class labels must have shape ({n},), one per item, got {a.shape}")
    if not _is_int(a):
        raise BatchError(
            f"{where} class labels must be integers, got {a.dtype} (cast with .astype(int) if they are whole numbers)"
        )
    if len(a) and int(a.min()) < 0:
        raise BatchError(f"{where} class labels out of range: {int(a.min())} is negative; classes are 0 .. K-1")
    return a.astype(np.int64, copy=False)


def _per_split(value: object, given: dict[str, bool], what: str) -> dict[str, object]:
    """`value` spread over the splits: one item when only `train` is given, else a (train, valid, test) tuple."""
    if value is None:
        return dict.fromkeys(SPLITS)
    if not isinstance(value, tuple):
        if given["valid"] or given["test"]:
            raise BatchError(f"{what}: with valid or test sets given, pass a tuple (train, valid, test)")
        return {"train": value, "valid": None, "test": None}
    if len(value) != 3:
        raise BatchError(f"{what}: a tuple must hold 3 entries (train, valid, test), got {len(value)}")
    out = dict(zip(SPLITS, value))
    for s in SPLITS:
        if out[s] is not None and not given[s]:
            raise BatchError(f"{what}: there is no {s} set given to go with its entry")
    return out


# ------------------------------------------------------------------------------------------------- splits


def _check_split(split: Sequence[float]) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        raise BatchError(f"split must be three fractions (train, valid, test), got {split!r}") from None
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6 or fr[0] <= 0:
        raise BatchError(f"split must be three fractions (train, valid, test) >= 0 summing to 1, got {list(split)}")
    return fr  # type: ignore[return-value]


def _carve(n: int, fractions: tuple[float, float, float], missing: list[str], seed: int) -> dict[str, np.ndarray]:
    """Sorted item indices of train and each missing split, from one fixed permutation of n items."""
    share = {"train": fractions[0], "valid": fractions[1], "test": fractions[2]}
    total = share["train"] + sum(share[s] for s in missing)
    sizes = {s: int(round(n * share[s] / total)) for s in missing}
    sizes["train"] = n - sum(sizes.values())
    if any(v < 1 for v in sizes.values()):
        raise BatchError(
            f"splitting {n} items by {list(fractions)} gives {sizes}: every split needs at least one item; "
            "give more items or other fractions"
        )
    order = np.random.default_rng(seed).permutation(n)
    out, start = {}, 0
    for s in ("train", *[s for s in ("valid", "test") if s in missing]):
        out[s] = np.sort(order[start : start + sizes[s]])
        start += sizes[s]
    return out


def fixed_binarization(x: torch.Tensor, quantized: bool, seed: int) -> torch.Tensor:
    """A fixed binarisation (once, seeded) of [0, 1] values, or of uint8 levels to 0 / 255."""
    g = torch.Generator().manual_seed(seed)
    if quantized:
        return (torch.bernoulli(x.float() / 255.0, generator=g) * 255).to(torch.uint8)
    return torch.bernoulli(x, generator=g)


def _hash_arrays(parts: dict[str, dict[str, np.ndarray]], masks: dict[str, np.ndarray], labels: dict) -> str:
    h = hashlib.sha256()

    def add(tag: str, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a)
        h.update(f"{tag}|{a.dtype.str}|{list(a.shape)}|".encode())
        h.update(a.reshape(-1).view(np.uint8))

    for s, arrays in parts.items():
        for k, a in arrays.items():
            add(f"{s}/{k}", a)
        add(f"{s}/<mask>", masks[s])
        if labels.get(s) is not None:
            add(f"{s}/<labels>", labels[s])
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- from_arrays


def _class_factors(factors: Any, classes: int) -> tuple[tuple[str, int], ...]:
    """`class_factors` as (name, size) pairs, checked against the class count before anything is built."""
    from ..metrics.factors import check_factors

    if not factors:
        return ()
    if classes == 0:
        raise BatchError("class_factors need class labels: pass labels or class_labels")
    pairs = tuple(tuple(f) for f in factors)
    if not all(
        len(f) == 2 and isinstance(f[0], str) and isinstance(f[1], int | np.integer) and not isinstance(f[1], bool)
        for f in pairs
    ):
        raise BatchError(f"class_factors must be (name, size) pairs, got {factors!r}")
    pairs = tuple((n, int(k)) for n, k in pairs)
    try:
        check_factors(pairs, classes)
    except ValueError as e:
        raise BatchError(f"class_factors: {e}") from None
    return pairs


def from_arrays(
    train: Mapping[str, Any],
    valid: Mapping[str, Any] | None = None,
    test: Mapping[str, Any] | None = None,
    *,
    specs: Mapping[str, Mapping[str, Any] | ModalityConfig] | None = None,
    labels: str | None = None,
    class_labels: Any = None,
    masks: Any = None,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    name: str = "user",
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    evaluation: EvaluationSpec | None = None,
    binarize: bool = False,
    class_factors: Sequence[tuple[str, int]] = (),
) -> MultimodalData:
    """A MultimodalData from arrays: modality name -> array (N, *item), numpy or torch, per split.

    `train`, `valid`, `test`: the splits' arrays, every split with the same modalities (in `train`'s order).
    A split not given is carved out of `train` by `split` (train, valid, test fractions) with one fixed
    permutation drawn from `seed`; with only `train` given it is split three ways.
    `specs`: per modality, ModalityConfig fields that replace the inferred ones, or a full ModalityConfig.
    `labels`: the name of a label modality whose values are also the items' class labels (what coherence
    scores); or `class_labels`: class indices (N,) that are not a modality - one array when only `train` is
    given, else a tuple (train, valid, test). No labels: num_classes 0.
    `masks`: presence of each modality, a bool (N, M) array (columns in modality order) or a dict
    modality -> bool (N,); one when only `train` is given, else a tuple (train, valid, test) (None: all
    present). Absent items may hold anything, NaN included; they are stored as zeros.
    `num_classes`: the class count when it exceeds the largest label + 1; `class_names` one name per class.
    `class_factors`: where a class is a code of named factors ((name, size) pairs, the first most significant:
    class = shape * 8 + colour for (("shape", 3), ("colour", 8))), coherence is also scored on each factor.
    `binarize`: Bernoulli image modalities are binarised afresh at every draw in training, and once
    (seeded) in validation and test.
    The result's `source` is {"kind": "arrays", "hash": sha256 of the arrays, masks and labels,
    "seed", "split" (the fractions, or None when all three splits were given), "sizes"}.
    """
    return _build(
        train,
        valid,
        test,
        specs=specs,
        labels=labels,
        class_labels=class_labels,
        masks=masks,
        split=split,
        seed=seed,
        name=name,
        num_classes=num_classes,
        class_names=class_names,
        evaluation=evaluation,
        binarize=binarize,
        hash_arrays=True,
        class_factors=class_factors,
    )


def _build(
    train: Mapping[str, Any],
    valid: Mapping[str, Any] | None,
    test: Mapping[str, Any] | None,
    *,
    specs: Mapping[str, Mapping[str, Any] | ModalityConfig] | None,
    labels: str | None,
    class_labels: Any,
    masks: Any,
    split: Sequence[float],
    seed: int,
    name: str,
    num_classes: int | None,
    class_names: Sequence[str] | None,
    evaluation: EvaluationSpec | None,
    binarize: bool,
    hash_arrays: bool,
    class_factors: Sequence[tuple[str, int]] = (),
) -> MultimodalData:
    check_name(name, "data set")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise BatchError(f"seed must be an integer, got {seed!r}")
    inputs = {"train": train, "valid": valid, "test": test}
    given = {s: v is not None for s, v in inputs.items()}
    for s, v in inputs.items():
        if v is not None and not isinstance(v, Mapping):
            raise BatchError(f"the {s} set must be a mapping modality name -> array, got {type(v).__name__}")
    if not train:
        raise BatchError("the train set names no modality: pass a mapping modality name -> array (N, ...)")
    names = tuple(train)
    for k in names:
        check_name(k)
    fractions = None if given["valid"] and given["test"] else _check_split(split)

    # arrays per split: same modalities, one length per split
    parts: dict[str, dict[str, np.ndarray]] = {}
    for s, v in inputs.items():
        if v is None:
            continue
        missing = [k for k in names if k not in v]
        if missing:
            raise BatchError(f"modality {missing} missing from the {s} set, which has {list(v)}")
        extra = [k for k in v if k not in names]
        if extra:
            raise BatchError(f"the {s} set has modality {extra}, which the train set lacks (it has {list(names)})")
        parts[s] = {k: _np(v[k], f"{s} set: modality {k!r}") for k in names}
        lengths = {k: len(a) for k, a in parts[s].items()}
        if len(set(lengths.values())) > 1:
            raise BatchError(f"the {s} set's arrays differ in length (items per modality): {lengths}")
        if not next(iter(lengths.values())):
            raise BatchError(f"the {s} set has no items")
    sizes = {s: len(next(iter(a.values()))) for s, a in parts.items()}

    # presence masks
    split_masks = {}
    for s, m in _per_split(masks, given, "masks").items():
        if s in parts:
            split_masks[s] = _mask(m, names, sizes[s], f"{s} set:")
            _check_items(split_masks[s], f"{s} set:")

    # specs: known modalities, then each modality inferred and checked over every split
    specs = dict(specs or {})
    unknown = sorted(set(specs) - set(names), key=str)
    if unknown:
        raise BatchError(f"specs name unknown modality {unknown}; the modalities are {list(names)}")
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise BatchError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if labels is not None and num_classes is not None and labels in names:
        own = specs.get(labels)  # the label modality takes num_classes unless its spec says otherwise
        if not isinstance(own, ModalityConfig) and "num_classes" not in (own or {}):
            specs[labels] = {**(own or {}), "num_classes": num_classes}
    configs: list[ModalityConfig] = []
    data: dict[str, dict[str, np.ndarray]] = {s: {} for s in parts}
    quantized: list[str] = []
    wheres = list(parts)
    for i, k in enumerate(names):
        cfg, xs, q = infer_modality(
            k, [parts[s][k] for s in wheres], [split_masks[s][:, i] for s in wheres], wheres, specs.get(k)
        )
        configs.append(cfg)
        for s, x in zip(wheres, xs):
            data[s][k] = x
        if q:
            quantized.append(k)
    by_name = {c.name: c for c in configs}

    # class labels: a label modality, or arrays that are not a modality
    y: dict[str, np.ndarray | None] = dict.fromkeys(parts)
    if labels is not None and class_labels is not None:
        raise BatchError("give either labels (a label modality's name) or class_labels (arrays), not both")
    if labels is not None:
        if labels not in by_name:
            raise BatchError(f"labels names unknown modality {labels!r}; the modalities are {list(names)}")
        if by_name[labels].kind != "label":
            raise BatchError(
                f"labels must name a label modality (integer (N,)); {labels!r} is a {by_name[labels].kind}"
            )
        col = names.index(labels)
        for s in parts:
            absent = np.flatnonzero(~split_masks[s][:, col])
            if len(absent):
                raise BatchError(
                    f"{s} set: the class labels come from modality {labels!r}, which {len(absent)} items lack "
                    f"(first: {_first(absent)}); give class_labels for every item instead"
                )
            y[s] = data[s][labels]
        classes = by_name[labels].num_classes
        if num_classes is not None and num_classes != classes:
            raise BatchError(f"num_classes {num_classes} differs from modality {labels!r}'s {classes} classes")
    elif class_labels is not None:
        for s, v in _per_split(class_labels, given, "class_labels").items():
            if s in parts:
                if v is None:
                    raise BatchError(f"class_labels: the {s} set needs its class labels too")
                y[s] = _class_labels(v, sizes[s], f"{s} set:")
        top = max(int(a.max()) for a in y.values() if a is not None) + 1
        if num_classes is not None:
            if top > num_classes:
                raise BatchError(
                    f"class labels out of range: the largest is {top - 1}, expected 0 .. {num_classes - 1} "
                    f"(num_classes {num_classes})"
                )
        classes = num_classes if num_classes is not None else max(2, top)
    else:
        if num_classes is not None or class_names is not None:
            raise BatchError("num_classes and class_names need class labels: pass labels or class_labels")
        classes = 0
    if class_names is not None:
        class_names = tuple(class_names)
        if len(class_names) != classes or not all(isinstance(c, str) for c in class_names):
            raise BatchError(f"class_names must be {classes} strings, one per class, got {len(class_names)}")
    factors = _class_factors(class_factors, classes)

    evaluation = evaluation if evaluation is not None else EvaluationSpec()
    try:
        evaluation.resolve(names)
    except ValueError as e:
        raise BatchError(f"evaluation: {e}") from None

    digest = _hash_arrays(parts, split_masks, y) if hash_arrays else None

    # the splits: those given as they are, the missing ones carved out of train
    final: dict[str, tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]] = {
        s: (data[s], split_masks[s], y[s]) for s in parts
    }
    missing = [s for s in ("valid", "test") if not given[s]]
    if missing:
        idx = _carve(sizes["train"], fractions, missing, seed)  # type: ignore[arg-type]
        arrays, mask, lab = final["train"]
        for s, rows in idx.items():
            final[s] = ({k: a[rows] for k, a in arrays.items()}, mask[rows], None if lab is None else lab[rows])
            _check_items(final[s][1], f"{s} set (split from train):")
    bern = tuple(c.name for c in configs if c.kind == "image" and c.likelihood == "bernoulli") if binarize else ()
    sets = {}
    for j, s in enumerate(SPLITS):
        arrays, mask, lab = final[s]
        tensors = {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in arrays.items()}
        levels = {k: tensors[k] for k in bern} if s != "train" else None
        if levels:
            tensors.update({k: fixed_binarization(tensors[k], k in quantized, j) for k in bern})
        sets[s] = MultimodalTensorDataset(
            tensors,
            names,
            torch.from_numpy(np.ascontiguousarray(mask)),
            None if lab is None else torch.from_numpy(np.ascontiguousarray(lab)),
            binarize=bern if s == "train" else (),
            quantized=tuple(quantized),
            levels=levels,
        )
    source: dict[str, Any] = {
        "kind": "arrays",
        "hash": digest,
        "seed": int(seed),
        "split": None if fractions is None else list(fractions),
        "sizes": [len(sets[s]) for s in SPLITS],
    }
    return MultimodalData(
        name,
        configs,
        sets["train"],
        sets["valid"],
        sets["test"],
        num_classes=classes,
        class_names=class_names,
        evaluation=evaluation,
        source=source,
        class_factors=factors,
    )
