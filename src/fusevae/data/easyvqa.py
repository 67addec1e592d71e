"""easy-VQA: 64 x 64 images of one shape with questions about it, the offline stand-in for an image-caption set.

The source is the MIT-licensed `easy-vqa` 1.0 wheel on PyPI (4,000 training and 1,000 test images; 38,575 and
9,673 questions; 13 answers). An item is one image with one question and its answer, the answer appended to the
question's words as one token sequence ("what color is the triangle ? blue" without the mark). Two sets:

* `easyvqa`: the questions whose answer names an attribute ("what shape ...", "what color ...", "what is the
  red shape?"), so the text always states the shape or the colour, often both;
* `easyvqa-all`: every question, yes/no ones included ("is there not a circle?"), most of which state neither.

Coherence is judged on the image's attributes, shape and colour together (3 x 8 = 24 classes). The questions
do not state them for every image, so each image's attributes are read from its questions and answers where
they say it (a "what" question presupposes the attributes it names and its answer gives one; a yes/no answer
says whether a named attribute is present, and excluding all but one value decides it) and otherwise from its
pixels by easy-VQA's drawing rules: the shape is filled with one of eight exact HTML colours on a uniform
background, rectangles fill their bounding box, triangles stand on a horizontal base at the bottom and circles
are widest in the middle. A test checks that the two readings agree on every image where both exist.

The official training images are split 90 / 10 into training and validation by image (seeded), so no image of
a validation item is seen in training; the official test set is the test set.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..config import ModalityConfig
from .dataset import Architecture, MultimodalData
from .mnist import data_root
from .registry import DatasetEntry, register_dataset
from .sources import files_from_wheel
from .tensor_dataset import MultimodalTensorDataset
from .user import fixed_binarization

FOLDER = "easy-vqa"
REQUIREMENT = "easy-vqa==1.0"
SIZE = 64
SHAPES = ("circle", "rectangle", "triangle")
# easy-VQA's colour names and the exact RGB it fills a shape with (HTML colour values; its "green" is HTML lime)
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "teal": (0, 128, 128),
    "yellow": (255, 255, 0),
    "brown": (165, 42, 42),
}
CLASS_NAMES = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)  # class = shape * 8 + colour
PAD = "<pad>"
VALID_SHARE = 0.1
SPLIT_SEED = 0


@dataclass
class VqaPart:
    """One official split: images (N, 3, 64, 64) uint8 by image id, and (question, answer, image id) rows."""

    images: np.ndarray
    questions: list[tuple[str, str, int]]


def _root(root: str | os.PathLike[str] | None) -> Path:
    return data_root(root) / FOLDER


def fetch_easyvqa(root: str | os.PathLike[str] | None = None, wheel: str | os.PathLike[str] | None = None) -> Path:
    """Put easy-VQA's images and question files under `<data dir>/easy-vqa/` from the PyPI wheel; returns it."""
    import zipfile

    target = _root(root)
    if (target / "test" / "questions.json").exists():
        return target
    prefix = "easy_vqa/data/"
    if wheel is not None:
        with zipfile.ZipFile(wheel) as z:
            names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    else:  # the member list is fixed by the 1.0 wheel: two question files, answers, 5,000 images
        names = [f"{prefix}answers.txt"] + [
            f"{prefix}{part}/{f}"
            for part, n in (("train", 4000), ("test", 1000))
            for f in ("questions.json", *(f"images/{i}.png" for i in range(n)))
        ]
    files_from_wheel(REQUIREMENT, "easy_vqa", {n: target / n[len(prefix) :] for n in names}, wheel)
    return target


def read_part(root: str | os.PathLike[str] | None, part: str) -> VqaPart:
    """Read one official split (`train` or `test`) from the fetched files."""
    from PIL import Image

    folder = _root(root) / part
    qfile = folder / "questions.json"
    if not qfile.exists():
        raise FileNotFoundError(
            f"easy-VQA not found in {folder.parent} (looked for {part}/questions.json). Run `fusevae data fetch "
            "easyvqa` (it takes the files from the easy-vqa wheel on PyPI), or point --data-dir at a folder holding it."
        )
    rows = [(str(q), str(a), int(i)) for q, a, i in json.loads(qfile.read_text())]
    n = max(i for _, _, i in rows) + 1
    images = np.empty((n, 3, SIZE, SIZE), np.uint8)
    for i in range(n):
        with Image.open(folder / "images" / f"{i}.png") as im:
            a = np.asarray(im.convert("RGB"))
        if a.shape != (SIZE, SIZE, 3):
            raise ValueError(f"{folder}/images/{i}.png: expected {SIZE}x{SIZE} RGB, got {a.shape}")
        images[i] = a.transpose(2, 0, 1)
    return VqaPart(images, rows)


# -- what the questions say ---------------------------------------------------------------------------------------


def statements(question: str, answer: str) -> list[tuple[str, str, bool]]:
    """What one question and its answer say about the image: (attribute, value, present) triples.

    A "what" question presupposes every shape or colour it names, and its answer is the asked attribute's
    value; a yes/no question says whether the shape or colour it names is there ("not" / "no" negate it).
    """
    words = question.rstrip("?").split()
    named = [("shape", w) for w in words if w in SHAPES] + [("colour", w) for w in words if w in COLOURS]
    if words[0] == "what":
        out = [(kind, value, True) for kind, value in named]
        if answer in SHAPES:
            out.append(("shape", answer, True))
        elif answer in COLOURS:
            out.append(("colour", answer, True))
        else:
            raise ValueError(
                f"easy-VQA question {question!r}: a 'what' answer must name a shape or colour, got {answer!r}"
            )
        return out
    if answer not in ("yes", "no"):
        raise ValueError(f"easy-VQA question {question!r}: expected a yes/no answer, got {answer!r}")
    negated = "not" in words or "no" in words
    return [(kind, value, (answer == "yes") != negated) for kind, value in named]


def attributes_from_text(rows: list[tuple[str, str, int]], n_images: int) -> np.ndarray:
    """(n_images, 2) shape and colour index per image from its questions, -1 where they do not decide it."""
    values = {"shape": SHAPES, "colour": tuple(COLOURS)}
    known = np.full((n_images, 2), -1, np.int64)
    excluded = [[set(), set()] for _ in range(n_images)]
    for q, a, i in rows:
        for kind, value, present in statements(q, a):
            col = 0 if kind == "shape" else 1
            idx = values[kind].index(value)
            if present:
                if known[i, col] not in (-1, idx):
                    raise ValueError(f"easy-VQA image {i}: its questions give two {kind}s")
                known[i, col] = idx
            else:
                excluded[i][col].add(idx)
    for i in range(n_images):
        for col, kind in enumerate(("shape", "colour")):
            left = set(range(len(values[kind]))) - excluded[i][col]
            if known[i, col] >= 0 and known[i, col] not in left:
                raise ValueError(f"easy-VQA image {i}: its questions both state and exclude its {kind}")
            if known[i, col] < 0 and len(left) == 1:
                known[i, col] = left.pop()
    return known


# -- what the pixels say ------------------------------------------------------------------------------------------


def attributes_from_pixels(image: np.ndarray) -> tuple[int, int]:
    """Shape and colour index of one (3, 64, 64) uint8 image by easy-VQA's drawing rules (module docstring)."""
    key = (image.astype(np.int32) * np.array([1 << 16, 1 << 8, 1], np.int32)[:, None, None]).sum(0).ravel()
    colours, counts = np.unique(key, return_counts=True)
    palette = [(r << 16) | (g << 8) | b for r, g, b in COLOURS.values()]
    # the shape's colour: the most frequent exact palette colour that is not the background
    fill = next((int(colours[j]) for j in np.argsort(-counts)[1:] if int(colours[j]) in palette), None)
    if fill is None:
        raise ValueError("easy-VQA image holds no pixel of any of its eight shape colours")
    colour = palette.index(fill)
    mask = (key == fill).reshape(SIZE, SIZE)
    ys, xs = np.nonzero(mask)
    box = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if box.mean() >= 0.99:  # a rectangle fills its bounding box
        return SHAPES.index("rectangle"), colour
    widths = box.sum(1)
    widest = (np.argmax(widths) + len(widths) - 1 - np.argmax(widths[::-1])) / 2 / max(len(widths) - 1, 1)
    # a triangle is widest at its base, the bottom row; a circle in the middle (rows 0.42-0.58 of its box here)
    return SHAPES.index("triangle" if widest >= 0.75 else "circle"), colour


def image_classes(part: VqaPart) -> tuple[np.ndarray, np.ndarray]:
    """Each image's class (shape * 8 + colour) and whether the questions alone decided it."""
    text = attributes_from_text(part.questions, len(part.images))
    pixels = np.array([attributes_from_pixels(im) for im in part.images], np.int64).reshape(-1, 2)
    decided = (text >= 0).all(1)
    both = np.where(text >= 0, text, pixels)
    return both[:, 0] * len(COLOURS) + both[:, 1], decided


# -- text as tokens ----------------------------------------------------------------------------------------------


def vocabulary(rows: list[tuple[str, str, int]]) -> tuple[str, ...]:
    """The padding token, then every word of the questions and answers in sorted order."""
    words = {w for q, a, _ in rows for w in (*q.rstrip("?").split(), a)}
    return (PAD, *sorted(words))


def encode(question: str, answer: str, vocab: tuple[str, ...], length: int) -> list[int]:
    """The question's words then the answer as token ids, padded to `length`."""
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index[w] for w in (*question.rstrip("?").split(), answer)]
    if len(ids) > length:
        raise ValueError(f"easy-VQA question {question!r} with its answer is longer than {length} tokens")
    return ids + [0] * (length - len(ids))


def decode(tokens: list[int] | np.ndarray | torch.Tensor, vocab: tuple[str, ...]) -> tuple[str, str]:
    """Token ids back to (question, answer), the inverse of `encode` on what it produced."""
    words = [vocab[int(t)] for t in tokens if int(t) != 0]
    return " ".join(words[:-1]) + "?", words[-1] if words else ""


def _attribute_question(q: str, a: str) -> bool:
    return a in SHAPES or a in COLOURS


# -- the registry entries --------------------------------------------------------------------------------------


def _architecture(vocab_size: int, length: int) -> Architecture:
    """DCGAN-style convolutions at 64 px for the image, 1-D convolutions over the tokens; a 64-d latent."""
    return Architecture(
        (
            ModalityConfig(name="image", kind="image", shape=[3, SIZE, SIZE], likelihood="bernoulli", network="conv"),
            ModalityConfig(
                name="text",
                kind="tokens",
                shape=[length],
                num_classes=vocab_size,
                likelihood="categorical",
                pad_index=0,
                network="sequence",
            ),
        ),
        latent_dim=64,
        activation="swish",
    )


# fixed by the easy-vqa 1.0 files (checked when loading): 27 words + padding, 9 question words + the answer
VOCAB_SIZE = 28
LENGTH = 10


def load_easyvqa(root: str | os.PathLike[str] | None, binarize: bool, which: str = "attribute") -> MultimodalData:
    """easy-VQA as (image, text) items: `which` "attribute" (answers naming a shape or colour) or "all" questions."""
    train, test = read_part(root, "train"), read_part(root, "test")
    vocab = vocabulary(train.questions + test.questions)
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"easy-VQA: expected a vocabulary of {VOCAB_SIZE} tokens, found {len(vocab)}")
    rng = np.random.default_rng(SPLIT_SEED)
    valid_images = set(rng.permutation(len(train.images))[: round(VALID_SHARE * len(train.images))].tolist())
    sets = []
    classes = {"train": image_classes(train)[0], "test": image_classes(test)[0]}
    splits = ((train, lambda i: i not in valid_images), (train, valid_images.__contains__), (test, None))
    for seed, (part, keep) in enumerate(splits):
        labels = torch.from_numpy(classes["test" if part is test else "train"])
        images = levels = torch.from_numpy(part.images)
        if binarize and seed > 0:  # evaluation images binarised once, with a fixed seed
            images = fixed_binarization(images, True, seed)
        rows = [
            r
            for r in part.questions
            if (keep is None or keep(r[2])) and (which == "all" or _attribute_question(*r[:2]))
        ]
        image_ids = torch.tensor([i for _, _, i in rows], dtype=torch.long)
        text = torch.tensor([encode(q, a, vocab, LENGTH) for q, a, _ in rows], dtype=torch.long)
        sets.append(
            MultimodalTensorDataset(
                {"image": images, "text": text},
                ("image", "text"),
                labels=labels[image_ids],
                rows={"image": image_ids},
                binarize=("image",) if binarize and seed == 0 else (),
                quantized=("image",),
                levels={"image": levels} if binarize and seed > 0 else None,
            )
        )
    name = "easyvqa" if which == "attribute" else "easyvqa-all"
    return MultimodalData(
        name,
        _architecture(VOCAB_SIZE, LENGTH).specs(),
        *sets,
        len(CLASS_NAMES),
        CLASS_NAMES,
        vocabularies={"text": vocab},
        class_factors=(("shape", len(SHAPES)), ("colour", len(COLOURS))),
    )


def _fetch(root: str | os.PathLike[str] | None) -> str:
    return str(fetch_easyvqa(root))


for _name, _which, _what in (
    ("easyvqa", "attribute", "the questions whose answer names the shape or the colour"),
    ("easyvqa-all", "all", "every question, yes/no ones included"),
):
    register_dataset(
        DatasetEntry(
            _name,
            "easy-VQA (the stand-in for an image-caption set): a 64x64 image of one shape and one question with its "
            f"answer as a token sequence; {_what}; judged on shape x colour (24 classes); the official 4,000 "
            "training images split 90/10 by image, 1,000 test images (`fusevae data fetch easyvqa`: from the "
            "easy-vqa wheel on PyPI)",
            partial(_architecture, VOCAB_SIZE, LENGTH),
            partial(load_easyvqa, which=_which),
            _fetch,
        )
    )
