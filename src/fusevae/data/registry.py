"""Data sets by name: one entry each, with its loader, its modalities and the networks that fit it.

The registry is the only place a data set's name is looked up. An entry says what the data is
(description, modality specs with their default networks, evaluation spec), how to put it on disk
(`fetch`) and how to read it (`load`), and the model-wide architecture defaults that go with it
(latent size, activations). Adding a data set is one file with one `register_dataset` call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .dataset import Architecture, EvaluationSpec, MultimodalData

Root = str | os.PathLike[str] | None


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    description: str
    architecture: Callable[[], Architecture]  # cheap: reads no files
    load: Callable[[Root, bool], MultimodalData]  # (root, binarize) -> data
    fetch: Callable[[Root], str]  # put the data on disk from its offline source; returns where
    evaluation: EvaluationSpec = EvaluationSpec()
    # the likelihood protocol: Bernoulli images binarised (afresh at every training draw, once with a fixed
    # seed for validation and test), as JMVAE, MVAE's successors, MultiVae and multi-view-AE score MNIST;
    # a config made for this data set starts with train.binarize set to this (the user may turn it off)
    binarize: bool = False


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry, overwrite: bool = False) -> DatasetEntry:
    """Add a data set under `entry.name` (refuses a taken name unless `overwrite`)."""
    if entry.name in _DATASETS and not overwrite:
        raise ValueError(f"data set {entry.name!r} is already registered")
    _DATASETS[entry.name] = entry
    return entry


def dataset_entry(name: str) -> DatasetEntry:
    if not isinstance(name, str) or name not in _DATASETS:
        raise ValueError(
            f"unknown data set {name!r}; registered: {sorted(_DATASETS)}. Your own data: "
            "fusevae.data.from_arrays(...) in Python, or a data spec file (--data path/to/spec.yaml)"
        )
    return _DATASETS[name]


def registered_datasets() -> dict[str, DatasetEntry]:
    return dict(_DATASETS)
