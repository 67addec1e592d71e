"""Data sets, each returning the same Batch format: modality -> tensor plus a presence mask.

Built-in sets are registry entries (`registry`, `builtin`); a user's own tensors, arrays or files
become the same `MultimodalData` through `from_arrays` and data spec files (`user`, `spec`).
"""

from __future__ import annotations

import os

from ..config import ModalityConfig
from . import builtin as _builtin  # noqa: F401  (registers the built-in sets)
from . import easyvqa as _easyvqa  # noqa: F401  (registers easy-VQA)
from . import robot as _robot  # noqa: F401  (registers the simulated robot set)
from .batch import Batch, BatchError, make_batch
from .dataset import TABLE1, Architecture, EvaluationSpec, MultimodalData
from .mnist import data_root
from .registry import DatasetEntry, dataset_entry, register_dataset, registered_datasets
from .spec import DataChangedError, DataSpecError, check_source, load_source, load_spec, load_spec_data
from .tensor_dataset import IndexBatchSampler, MultimodalTensorDataset, batch_loader
from .user import from_arrays

DATASETS = {name: entry.description for name, entry in registered_datasets().items()}


def dataset_modalities(name: str) -> list[ModalityConfig]:
    """The modalities a data set provides, with their default networks, without reading its files."""
    return dataset_entry(name).architecture().specs()


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, binarize: bool = False) -> MultimodalData:
    """Load a registered data set by name from the data directory (see `fusevae data list`).

    With binarize, training images are binarised afresh at every draw (dynamic binarisation)
    and validation/test images once, with fixed seeds.
    """
    entry = dataset_entry(name)
    data = entry.load(root, binarize)
    data.evaluation = entry.evaluation
    data.defaults = entry.architecture()
    data.source = {"kind": "registered", "name": name, "binarize": binarize}
    return data


def fetch_dataset(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """Put data set `name` into the data directory from its offline source; returns where it is."""
    return dataset_entry(name).fetch(root)


__all__ = [
    "DATASETS",
    "TABLE1",
    "Architecture",
    "Batch",
    "BatchError",
    "DataChangedError",
    "DataSpecError",
    "DatasetEntry",
    "EvaluationSpec",
    "IndexBatchSampler",
    "MultimodalData",
    "MultimodalTensorDataset",
    "batch_loader",
    "check_source",
    "from_arrays",
    "load_source",
    "load_spec",
    "load_spec_data",
    "data_root",
    "dataset_entry",
    "dataset_modalities",
    "fetch_dataset",
    "load_dataset",
    "make_batch",
    "register_dataset",
    "registered_datasets",
]
