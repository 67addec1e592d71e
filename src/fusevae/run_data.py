"""Which data a run was trained on: opened from a name, a spec file or an object, and recorded in the run folder.

`data.json` in a run folder records the data's source (a registered name, or a data spec with the
content hash of its files, or the hash of in-memory arrays), so that `evaluate`, `generate` and
`--resume` reload the same data without the user repeating it, and refuse data that changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from .data import MultimodalData, MultimodalTensorDataset, load_dataset, registered_datasets
from .data.user import fixed_binarization

DATA_FILE = "data.json"
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
DataLike = str | os.PathLike[str] | MultimodalData


def open_data(data: DataLike, data_dir: str | None = None, binarize: bool = False) -> MultimodalData:
    """A registered data set's name, a data spec file, or a MultimodalData, as a MultimodalData."""
    if isinstance(data, MultimodalData):
        return binarized(data) if binarize else data
    if not isinstance(data, str | os.PathLike):
        raise TypeError(
            f"data must be a data set name, a data spec path or a MultimodalData, got {type(data).__name__}"
        )
    text = os.fspath(data)
    if text in registered_datasets():
        return load_dataset(text, data_dir, binarize=binarize)
    if text.endswith(SPEC_SUFFIXES) or Path(text).is_file():
        if not Path(text).is_file():
            raise FileNotFoundError(f"data spec {text!r}: no such file")
        from .data.spec import load_spec_data

        return load_spec_data(text, binarize=binarize)
    raise ValueError(
        f"unknown data set {text!r}; registered: {sorted(registered_datasets())}; or give a data spec file "
        "(.yaml / .json) or a MultimodalData (fusevae.data.from_arrays)"
    )


def binarized(data: MultimodalData) -> MultimodalData:
    """Bernoulli image modalities binarised: afresh at every draw in training, once with fixed seeds elsewhere."""
    names = tuple(m.name for m in data.modalities if m.likelihood == "bernoulli")
    if data.source.get("binarize") or not names:
        return data

    def fixed(ds: MultimodalTensorDataset, seed: int) -> MultimodalTensorDataset:
        out = dict(ds.data)
        for i, n in enumerate(names):
            out[n] = fixed_binarization(ds.data[n], n in ds.quantized, seed * 1000 + i)
        levels = {n: ds.data[n] for n in names}
        return MultimodalTensorDataset(
            out, ds.modalities, ds.mask, ds.labels, ds.binarize, ds.rows, ds.quantized, levels
        )

    train = data.train
    train = MultimodalTensorDataset(
        train.data, train.modalities, train.mask, train.labels, names, train.rows, train.quantized
    )
    return replace(
        data,
        train=train,
        valid=fixed(data.valid, 1),
        test=fixed(data.test, 2),
        source={**data.source, "binarize": True},
    )


def record(data: MultimodalData) -> dict[str, Any]:
    """What data.json holds: the data's name and source."""
    return {"name": data.name, **data.source}


def write_record(run: str | os.PathLike[str], data: MultimodalData) -> None:
    path = Path(run) / DATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record(data), indent=2, sort_keys=True, default=str))


def read_record(run: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = Path(run) / DATA_FILE
    return json.loads(path.read_text()) if path.exists() else None


def check_same_data(run: str | os.PathLike[str], data: MultimodalData, accept_changed: bool = False) -> None:
    """Refuse data whose name or content hash differs from what the run recorded (unless accept_changed)."""
    old = read_record(run)
    if old is None or accept_changed:
        return
    new = record(data)
    same = old.get("name") == new.get("name") and old.get("hash") == new.get("hash")
    if not same:
        from .data.spec import DataChangedError

        raise DataChangedError(
            f"{run}: the run was trained on data {old.get('name')!r} (hash {str(old.get('hash'))[:12]}), this data is "
            f"{new.get('name')!r} (hash {str(new.get('hash'))[:12]}); pass the same data, or accept the change "
            "explicitly (--accept-changed-data, accept_changed_data=True)"
        )


def data_for_run(
    run: str | os.PathLike[str],
    cfg_data: str,
    binarize: bool,
    data: DataLike | None = None,
    data_dir: str | None = None,
    accept_changed: bool = False,
) -> MultimodalData:
    """The data of a run folder: the one given (checked against the record), else reloaded from its record."""
    if data is not None:
        ds = open_data(data, data_dir, binarize)
        check_same_data(run, ds, accept_changed)
        return ds
    rec = read_record(run)
    if rec is None or rec.get("kind") == "registered":
        return load_dataset(rec["name"] if rec else cfg_data, data_dir, binarize=binarize)
    if rec.get("kind") == "spec":
        from .data.spec import load_source

        # rebuilt from the spec as recorded at training time; refuses changed files unless accepted
        return load_source(rec, accept_changed=accept_changed, binarize=binarize)
    raise ValueError(
        f"{run}: the run was trained on in-memory arrays ({rec.get('name')!r}, hash {str(rec.get('hash'))[:12]}); "
        "pass the same data again (data=...)"
    )
