"""Data spec files: a YAML or JSON description of a user's array files, loaded through `from_arrays`.

```yaml
name: my_sensors             # optional (default: the spec file's name)
description: free text       # optional
files: data.npz              # .npz, .safetensors, or a folder of .npy files (one file per array, <key>.npy)
# or per split: files: {train: train.npz, valid: valid.npz, test: test.npz} (valid / test optional:
# a split without a file is carved out of train by `split`)
split: [0.8, 0.1, 0.1]       # train / valid / test fractions, for the splits carved out of one file
seed: 0                      # the split's permutation
label: digit                 # optional: the class labels; a modality's name (it is both), or an array's
num_classes: 10              # optional: when there are more classes than the largest label + 1
class_names: [zero, one]     # optional: one per class
class_factors: [[shape, 3], [colour, 8]]  # optional: the class as a code of named factors, the first most
                             # significant (class = shape * 8 + colour); coherence is also scored on each
evaluation:                  # optional: what the evaluation table reports (fusevae.data.dataset.EvaluationSpec)
  proposals: [[image]]
  marginals: [[image]]
  conditionals: [[[image], [digit]]]
modalities:                  # optional: default every array but the label and masks, in sorted order
  - name: image              # the modality, and the array of that name in the files
    array: other_key         # optional: read this array instead
    mask: image_present      # optional: bool (N,) array in the files, the items that have this modality
    kind: image              # optional, like every ModalityConfig field below: inferred (fusevae.data.user)
    likelihood: bernoulli
    shape: [1, 28, 28]       # reshapes the items (or transposes (H, W, C) ones)
    network: conv
    network_options: {}
```

File paths are relative to the spec file's folder. Arrays are read with `allow_pickle=False` (npz, npy) or
safetensors, never pickle. Every data file's bytes are hashed (sha256, streamed), and `MultimodalData.source`
records {"kind": "spec", "spec": <absolute path of the spec file>, "spec_content": <the parsed spec>,
"files": {path as written: sha256}, "hash": <sha256 of files and content>}, so that `check_source` can tell
later whether a run's data files changed and `load_source` can rebuild the same data.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModalityConfig
from .batch import BatchError
from .dataset import EvaluationSpec, MultimodalData
from .user import NAME_PATTERN, SPLITS, _build, _np, check_name

__all__ = [
    "DataChangedError",
    "DataSpec",
    "DataSpecError",
    "ModalityEntry",
    "check_source",
    "load_source",
    "load_spec",
    "load_spec_data",
    "save_arrays",
]

SPEC_KEYS = (
    "name",
    "description",
    "files",
    "split",
    "seed",
    "label",
    "num_classes",
    "class_names",
    "class_factors",
    "evaluation",
    "modalities",
)
MODALITY_KEYS = ("name", "array", "mask") + tuple(
    f.name for f in dataclasses.fields(ModalityConfig) if f.name != "name"
)
EVALUATION_KEYS = ("proposals", "marginals", "conditionals")
CHUNK = 1 << 20
ACCEPT_FLAG = "--accept-changed-data"


class DataSpecError(ValueError):
    """A data spec file is malformed: an unknown key, a value of the wrong type, a missing file or array."""


class DataChangedError(ValueError):
    """A data file's content differs from the hash a run recorded (or the file is gone)."""


@dataclass(frozen=True)
class ModalityEntry:
    """One modality of a spec: its name, the array it reads, its mask array, and ModalityConfig fields."""

    name: str
    array: str
    mask: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSpec:
    """A parsed data spec; `root` is the folder its file paths are relative to."""

    root: Path
    files: str | dict[str, str]
    name: str = "user"
    path: Path | None = None  # the spec file (absolute); None for a spec built from a dict
    description: str = ""
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    label: str | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    class_factors: tuple[tuple[str, int], ...] = ()
    evaluation: EvaluationSpec | None = None
    modalities: tuple[ModalityEntry, ...] | None = None
    content: dict[str, Any] = field(default_factory=dict)  # the spec as parsed, JSON data

    @classmethod
    def from_dict(
        cls, content: Any, root: str | os.PathLike[str], path: str | os.PathLike[str] | None = None
    ) -> DataSpec:
        """A DataSpec from parsed content, strictly checked (`path` names the file in messages)."""
        where = str(path) if path is not None else "data spec"

        def fail(msg: str) -> DataSpecError:
            return DataSpecError(f"{where}: {msg}")

        if not isinstance(content, Mapping):
            raise fail(f"a data spec is a mapping of keys {list(SPEC_KEYS)}, got {type(content).__name__}")
        for key in content:
            if key not in SPEC_KEYS:
                raise fail(f"unknown key {key!r}; a data spec has the keys {list(SPEC_KEYS)}")
        try:
            json.dumps(content)
        except (TypeError, ValueError) as e:
            raise fail(f"the spec must hold plain data (strings, numbers, lists, mappings): {e}") from None
        if "files" not in content:
            raise fail("'files' is missing: name a .npz or .safetensors file, a folder of .npy files, or one per split")
        files = content["files"]
        if isinstance(files, Mapping):
            bad = [k for k in files if k not in SPLITS]
            if bad or "train" not in files:
                raise fail(
                    f"files per split must be a mapping with the keys train (required), valid, test; got {list(files)}"
                )
            if not all(isinstance(v, str) and v for v in files.values()):
                raise fail("files: each split's file must be a path (a string)")
            files = dict(files)
        elif not isinstance(files, str) or not files:
            raise fail(f"files must be a path or a mapping split -> path, got {files!r}")

        def typed(key: str, kind: type | tuple[type, ...], what: str) -> Any:
            value = content.get(key)
            if value is not None and (isinstance(value, bool) and kind is not bool or not isinstance(value, kind)):
                raise fail(f"{key} must be {what}, got {value!r}")
            return value

        default_name = re.sub(r"[^A-Za-z0-9_-]", "_", Path(path).stem) if path is not None else "user"
        name = typed("name", str, "a string") or default_name
        try:
            check_name(name, "data set")
        except BatchError as e:
            raise fail(str(e)) from None
        split = content.get("split", [0.8, 0.1, 0.1])
        if (
            not isinstance(split, list)
            or len(split) != 3
            or any(isinstance(f, bool) or not isinstance(f, int | float) for f in split)
        ):
            raise fail(f"split must be a list of three fractions [train, valid, test], got {split!r}")
        seed = typed("seed", int, "an integer")
        label = typed("label", str, "the name of a modality or an array")
        num_classes = typed("num_classes", int, "an integer")
        names = content.get("class_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(c, str) for c in names)):
            raise fail("class_names must be a list of strings")
        factors = content.get("class_factors") or []
        if not isinstance(factors, list) or not all(
            isinstance(f, list)
            and len(f) == 2
            and isinstance(f[0], str)
            and isinstance(f[1], int)
            and not isinstance(f[1], bool)
            for f in factors
        ):
            raise fail(
                f"class_factors must be a list of [name, size] pairs, e.g. [[shape, 3], [colour, 8]], got {factors!r}"
            )
        modalities = None
        if content.get("modalities") is not None:
            modalities = tuple(
                _entry(m, i, fail) for i, m in enumerate(_list(content["modalities"], "modalities", fail))
            )
            dup = sorted({m.name for m in modalities if [e.name for e in modalities].count(m.name) > 1})
            if dup:
                raise fail(f"modality {dup} listed twice")
        return cls(
            root=Path(root).resolve(),
            files=files,
            name=name,
            path=None if path is None else Path(path).resolve(),
            description=typed("description", str, "a string") or "",
            split=tuple(float(f) for f in split),  # type: ignore[arg-type]
            seed=0 if seed is None else seed,
            label=label,
            num_classes=num_classes,
            class_names=None if names is None else tuple(names),
            class_factors=tuple((str(n), int(k)) for n, k in factors),
            evaluation=_evaluation(content.get("evaluation"), fail),
            modalities=modalities,
            content=copy.deepcopy(dict(content)),
        )


def _list(value: Any, key: str, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{key} must be a list, got {type(value).__name__}")
    return value


def _entry(m: Any, i: int, fail: Any) -> ModalityEntry:
    if not isinstance(m, Mapping):
        raise fail(f"modalities[{i}] must be a mapping with a name, got {m!r}")
    name = m.get("name")
    label = f"modalities[{i}]" + (f" ({name})" if isinstance(name, str) else "")
    for key in m:
        if key not in MODALITY_KEYS:
            raise fail(f"{label}: unknown key {key!r}; a modality has the keys {list(MODALITY_KEYS)}")
    if not isinstance(name, str):
        raise fail(f"{label}: 'name' is missing or not a string")
    try:
        check_name(name)
    except BatchError as e:
        raise fail(f"{label}: {e}") from None
    for key in ("array", "mask"):
        if key in m and not (isinstance(m[key], str) and m[key]):
            raise fail(f"{label}: {key} must be the name of an array in the files, got {m[key]!r}")
    options = {k: copy.deepcopy(v) for k, v in m.items() if k not in ("name", "array", "mask")}
    return ModalityEntry(name, m.get("array", name), m.get("mask"), options)


def _evaluation(value: Any, fail: Any) -> EvaluationSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail(f"evaluation must be a mapping with keys {list(EVALUATION_KEYS)}")
    for key in value:
        if key not in EVALUATION_KEYS:
            raise fail(f"evaluation: unknown key {key!r}; known: {list(EVALUATION_KEYS)}")

    def subset(s: Any, where: str) -> tuple[str, ...]:
        if not isinstance(s, list) or not all(isinstance(n, str) for n in s):
            raise fail(f"{where} must be a list of modality names, got {s!r}")
        return tuple(s)

    proposals = tuple(subset(s, "evaluation.proposals[]") for s in _list(value.get("proposals", []), "proposals", fail))
    marginals = value.get("marginals")
    if marginals is not None:
        marginals = tuple(subset(s, "evaluation.marginals[]") for s in _list(marginals, "marginals", fail))
    conditionals = value.get("conditionals")
    if conditionals is not None:
        pairs = []
        for c in _list(conditionals, "conditionals", fail):
            if not isinstance(c, list) or len(c) != 2:
                raise fail(f"evaluation.conditionals[] must be pairs [A, B] of modality lists, got {c!r}")
            pairs.append((subset(c[0], "evaluation.conditionals[][0]"), subset(c[1], "evaluation.conditionals[][1]")))
        conditionals = tuple(pairs)
    return EvaluationSpec(proposals, marginals, conditionals)


def load_spec(path: str | os.PathLike[str]) -> DataSpec:
    """Read and check a data spec file (.yaml, .yml or .json); its file paths are relative to its folder."""
    p = Path(path)
    if not p.is_file():
        raise DataSpecError(f"{p}: no such data spec file")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        try:
            content = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataSpecError(f"{p}: not valid JSON: {e}") from None
    elif p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            content = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise DataSpecError(f"{p}: not valid YAML: {e}") from None
    else:
        raise DataSpecError(f"{p}: a data spec is a .yaml, .yml or .json file")
    return DataSpec.from_dict(content, p.resolve().parent, p)


# --------------------------------------------------------------------------------------------- array files


class _ArrayFile:
    """Named arrays in a .npz file, a .safetensors file or a folder of .npy files, read without pickle."""

    def __init__(self, root: Path, written: str, where: str) -> None:
        self.written, self.where = written, where
        self.path = root / written
        if self.path.is_dir():
            self.format = "npy"
            self._keys = sorted(f.stem for f in self.path.glob("*.npy") if f.is_file())
        elif not self.path.is_file():
            raise DataSpecError(f"{where}: data file {written!r} not found (looked at {self.path})")
        elif self.path.suffix.lower() == ".npz":
            self.format = "npz"
            with np.load(self.path, allow_pickle=False) as z:
                self._keys = list(z.files)
        elif self.path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            self.format = "safetensors"
            with safe_open(str(self.path), framework="np") as f:
                self._keys = list(f.keys())
        else:
            raise DataSpecError(
                f"{where}: data file {written!r} must be a .npz or .safetensors file or a folder of .npy files"
            )

    def keys(self) -> list[str]:
        return list(self._keys)

    def require(self, keys: list[str]) -> None:
        missing = [k for k in keys if k not in self._keys]
        if missing:
            raise DataSpecError(f"{self.where}: {self.written!r} has no array {missing}; it holds {self._keys}")

    def hashed_files(self, keys: list[str]) -> dict[str, Path]:
        """The files whose bytes make up `keys`: the file itself, or each key's .npy in the folder."""
        if self.format != "npy":
            return {self.written: self.path}
        return {f"{self.written.rstrip('/')}/{k}.npy": self.path / f"{k}.npy" for k in sorted(set(keys))}

    def read(self, keys: list[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))
        try:
            if self.format == "npz":
                with np.load(self.path, allow_pickle=False) as z:
                    return {k: z[k] for k in keys}
            if self.format == "safetensors":
                from safetensors import safe_open

                with safe_open(str(self.path), framework="np") as f:
                    return {k: f.get_tensor(k) for k in keys}
            return {k: np.load(self.path / f"{k}.npy", allow_pickle=False) for k in keys}
        except (ValueError, OSError) as e:
            raise DataSpecError(f"{self.where}: cannot read {self.written!r}: {e}") from None


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _combined(files: Mapping[str, str], content: Mapping[str, Any]) -> str:
    blob = json.dumps({"files": dict(files), "spec": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def load_spec_data(spec: str | os.PathLike[str] | DataSpec, binarize: bool = False) -> MultimodalData:
    """The MultimodalData a spec file (or a DataSpec) describes, built and checked by `from_arrays`.

    `binarize`: Bernoulli image modalities binarised afresh at every draw in training, once in validation and test.
    """
    if not isinstance(spec, DataSpec):
        spec = load_spec(spec)
    where = str(spec.path) if spec.path is not None else "data spec"
    per_split = {"train": spec.files} if isinstance(spec.files, str) else dict(spec.files)
    opened = {s: _ArrayFile(spec.root, f, where) for s, f in per_split.items()}
    if spec.modalities is not None:
        entries = list(spec.modalities)
    else:
        skip = {spec.label}
        entries = [ModalityEntry(k, k) for k in sorted(opened["train"].keys()) if k not in skip]
        if not entries:
            raise DataSpecError(f"{where}: {per_split['train']!r} holds no array to use as a modality")
        for e in entries:
            try:
                check_name(e.name)
            except BatchError as err:
                raise DataSpecError(f"{where}: array {e.name!r}: {err}; list the modalities in the spec") from None
    names = [e.name for e in entries]
    label_array = spec.label if spec.label is not None and spec.label not in names else None
    keys = [e.array for e in entries] + [e.mask for e in entries if e.mask] + ([label_array] if label_array else [])
    for f in opened.values():
        f.require(keys)
    hashes: dict[str, str] = {}
    for f in opened.values():
        for written, p in f.hashed_files(keys).items():
            hashes[written] = file_hash(p)

    splits: dict[str, dict[str, np.ndarray] | None] = dict.fromkeys(SPLITS)
    masks: dict[str, dict[str, np.ndarray] | None] = dict.fromkeys(SPLITS)
    labels: dict[str, np.ndarray | None] = dict.fromkeys(SPLITS)
    for s, f in opened.items():
        arrays = f.read(keys)
        splits[s] = {e.name: arrays[e.array] for e in entries}
        masks[s] = {e.name: arrays[e.mask] for e in entries if e.mask} or None
        labels[s] = arrays[label_array] if label_array else None
    tuple_form = len(opened) > 1

    def spread(v: dict[str, Any]) -> Any:
        if all(x is None for x in v.values()):
            return None
        return tuple(v[s] for s in SPLITS) if tuple_form else v["train"]

    try:
        data = _build(
            splits["train"],  # type: ignore[arg-type]
            splits["valid"],
            splits["test"],
            specs={e.name: e.options for e in entries},
            labels=spec.label if spec.label in names else None,
            class_labels=spread(labels),
            masks=spread(masks),
            split=spec.split,
            seed=spec.seed,
            name=spec.name,
            num_classes=spec.num_classes,
            class_names=spec.class_names,
            evaluation=spec.evaluation,
            binarize=binarize,
            hash_arrays=False,
            class_factors=spec.class_factors,
        )
    except BatchError as e:
        raise BatchError(f"{where}: {e}") from None
    content = spec.content or _content(spec)
    data.source = {
        "kind": "spec",
        "spec": str(spec.path) if spec.path is not None else None,
        "root": str(spec.root),
        "spec_content": copy.deepcopy(content),
        "files": hashes,
        "hash": _combined(hashes, content),
    }
    return data


def _content(spec: DataSpec) -> dict[str, Any]:
    """The spec as data (for a DataSpec built in code without parsed content)."""
    out: dict[str, Any] = {"name": spec.name, "files": spec.files, "split": list(spec.split), "seed": spec.seed}
    if spec.label is not None:
        out["label"] = spec.label
    if spec.num_classes is not None:
        out["num_classes"] = spec.num_classes
    if spec.class_names is not None:
        out["class_names"] = list(spec.class_names)
    if spec.class_factors:
        out["class_factors"] = [list(f) for f in spec.class_factors]
    if spec.modalities is not None:
        out["modalities"] = [
            {"name": m.name, "array": m.array, **({"mask": m.mask} if m.mask else {}), **m.options}
            for m in spec.modalities
        ]
    if spec.evaluation is not None:
        ev = spec.evaluation
        out["evaluation"] = {
            "proposals": [list(s) for s in ev.proposals],
            "marginals": None if ev.marginals is None else [list(s) for s in ev.marginals],
            "conditionals": None if ev.conditionals is None else [[list(a), list(b)] for a, b in ev.conditionals],
        }
    return out


def _root(source: Mapping[str, Any]) -> Path:
    if source.get("root"):
        return Path(source["root"])
    if source.get("spec"):
        return Path(source["spec"]).parent
    raise DataChangedError("the data source records neither its spec file nor its folder")


def check_source(source: Mapping[str, Any], accept_changed: bool = False) -> dict[str, Any]:
    """Recompute the hashes of a spec source's data files; the source with the current hashes.

    Raises DataChangedError naming the changed files unless `accept_changed` (the CLI's
    --accept-changed-data), and always when a file is gone. Sources of other kinds (arrays passed
    in code, registered data sets) have no files to check and come back as they are.
    """
    if source.get("kind") != "spec":
        return dict(source)
    root = _root(source)
    recorded: dict[str, str] = dict(source.get("files", {}))
    missing = [rel for rel in recorded if not (root / rel).is_file()]
    if missing:
        raise DataChangedError(
            f"data file(s) {missing} of {source.get('spec') or root} are gone (looked in {root}); "
            "restore them to use this run's data"
        )
    now = {rel: file_hash(root / rel) for rel in recorded}
    changed = [rel for rel in recorded if now[rel] != recorded[rel]]
    if changed and not accept_changed:
        detail = ", ".join(f"{rel} (sha256 {recorded[rel][:12]}... now {now[rel][:12]}...)" for rel in changed)
        raise DataChangedError(
            f"data file(s) changed since they were recorded: {detail} in {root}; results on them are not comparable. "
            f"To use the changed data anyway pass {ACCEPT_FLAG} (accept_changed=True)"
        )
    content = source.get("spec_content", {})
    return {**source, "files": now, "hash": _combined(now, content)}


def load_source(source: Mapping[str, Any], accept_changed: bool = False, binarize: bool = False) -> MultimodalData:
    """The data a spec source describes (from its recorded spec content, not the spec file as it is now).

    Checks the files' hashes first (see `check_source`).
    """
    if source.get("kind") != "spec":
        raise ValueError(f"only a spec source can be reloaded from its record, this one is {source.get('kind')!r}")
    check_source(source, accept_changed)
    root = _root(source)
    spec = DataSpec.from_dict(source["spec_content"], root, source.get("spec"))
    return load_spec_data(spec, binarize=binarize)


def save_arrays(path: str | os.PathLike[str], arrays: Mapping[str, Any]) -> Path:
    """Write named arrays as .npz, .safetensors (by suffix) or, for any other path, a folder of .npy files."""
    p = Path(path)
    out = {}
    for k, v in arrays.items():
        if not isinstance(k, str) or NAME_PATTERN.fullmatch(k) is None:
            raise ValueError(f"array name {k!r}: use letters, digits, '_' and '-' only")
        out[k] = np.ascontiguousarray(_np(v, f"array {k!r}"))
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".npz":
        np.savez(p, **out)
    elif p.suffix.lower() == ".safetensors":
        from safetensors.numpy import save_file

        save_file(out, str(p))
    else:
        p.mkdir(parents=True, exist_ok=True)
        for k, v in out.items():
            np.save(p / f"{k}.npy", v, allow_pickle=False)
    return p
