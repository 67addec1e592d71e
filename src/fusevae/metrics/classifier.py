"""Per-modality classifiers that score generated data by its class (coherence, sensor-fusion paper IV-B).

A classifier is trained by the library on the data set's labels, once: its weights are cached
under the hash of the training data, the labels and its config, so every model scored on the
same data is judged by the same classifier. Its own test accuracy travels with it and is
reported beside every coherence number, because coherence cannot exceed what the judge sees.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..data.tensor_dataset import MultimodalTensorDataset

CLASSIFIER_VERSION = 2
JUDGE_ARCHS = ("flat", "pooled")


@dataclass(frozen=True)
class ClassifierConfig:
    """How a judge classifier is trained; part of its cache key."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    width: int = 32  # channels of the first convolution (images) or hidden units / 4 (vectors)
    seed: int = 0
    max_items: int | None = None  # train on the first n training items only (quick runs, tests)
    # image body: "flat" (two strided convolutions, then a dense layer over the map: position-aware) or "pooled"
    # (four convolutions, then a global max over positions: an object found wherever it is and at any size)
    arch: str = "flat"

    def __post_init__(self) -> None:
        if self.arch not in JUDGE_ARCHS:
            raise ValueError(f"judge arch must be one of {list(JUDGE_ARCHS)}, got {self.arch!r}")

    def key_fields(self, image: bool = True) -> dict[str, object]:
        """The fields its cache key hashes: `arch` only for an image judge and where it is not "flat" (the only
        cases it changes the net), so judges cached before the field existed keep their keys."""
        fields = asdict(self)
        if fields["arch"] == "flat" or not image:
            del fields["arch"]
        return fields


class Classifier(nn.Module):
    """A small CNN for (C, H, W) images, a bag of token embeddings for token sequences (`vocab` > 0),
    an MLP for flat vectors and time series; outputs class logits."""

    def __init__(
        self, shape: tuple[int, ...], num_classes: int, width: int = 32, vocab: int = 0, arch: str = "flat"
    ) -> None:
        super().__init__()
        self.shape, self.num_classes, self.vocab = tuple(shape), num_classes, vocab
        # per-element standardisation by the training data: a depth map's ground gradient would
        # otherwise dwarf the objects standing on it
        self.register_buffer("center", torch.zeros(self.shape))
        self.register_buffer("scale", torch.ones(self.shape))
        if vocab > 0:  # token ids: embed, average over positions, classify
            self.net = nn.Sequential(
                _TokenMean(vocab, 4 * width),
                nn.ReLU(),
                nn.Linear(4 * width, 4 * width),
                nn.ReLU(),
                nn.Linear(4 * width, num_classes),
            )
        elif len(self.shape) == 3 and arch == "pooled":
            # easy-VQA's shapes cover tens to hundreds of its 4,096 pixels anywhere in the frame. On its validation
            # images (3 epochs) the flat body reads their shape at 0.51 (shape x colour 0.45), this one at 0.98 (0.97)
            c = self.shape[0]
            self.net = nn.Sequential(
                nn.Conv2d(c, width, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.AdaptiveMaxPool2d(1),
                nn.Flatten(),
                nn.Linear(4 * width, 4 * width),
                nn.ReLU(),
                nn.Linear(4 * width, num_classes),
            )
        elif len(self.shape) == 3:
            c, h, w = self.shape
            self.net = nn.Sequential(
                nn.Conv2d(c, width, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(2 * width * math.ceil(h / 4) * math.ceil(w / 4), 4 * width),
                nn.ReLU(),
                nn.Linear(4 * width, num_classes),
            )
        else:
            d = math.prod(self.shape)
            self.net = nn.Sequential(
                nn.Flatten(), nn.Linear(d, 4 * width), nn.ReLU(), nn.Linear(4 * width, num_classes)
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.vocab > 0:
            return self.net(x.reshape(-1, *self.shape).long())
        return self.net((x.reshape(-1, *self.shape).to(torch.float32) - self.center) / self.scale)

    @torch.no_grad()
    def standardise_by(self, x: Tensor, chunk: int = 4096) -> None:
        """Set the per-element centre and scale to the mean and standard deviation of x (N, *shape)."""
        if self.vocab > 0:  # token ids are looked up, not standardised
            return
        n, total, sq = 0, torch.zeros(self.shape, dtype=torch.float64), torch.zeros(self.shape, dtype=torch.float64)
        for block in x.split(chunk):
            block = block.to(torch.float64)
            n, total, sq = n + len(block), total + block.sum(0), sq + (block**2).sum(0)
        mean = total / n
        self.center.copy_(mean)
        self.scale.copy_((sq / n - mean**2).clamp_min(0).sqrt().clamp_min(0.05))

    @torch.no_grad()
    def probabilities(self, x: Tensor, chunk: int = 4096) -> Tensor:
        """Class probabilities (N, classes) for x (N, *shape), in chunks (the presence AP reads them)."""
        self.eval()
        if not len(x):
            return x.new_zeros(0, self.num_classes, dtype=torch.float32)
        return torch.cat([self(block).softmax(-1) for block in x.split(chunk)])

    def predict(self, x: Tensor, chunk: int = 4096) -> Tensor:
        """Class indices for x (N, *shape), in chunks so memory stays bounded."""
        self.eval()
        return torch.cat([self(block).argmax(-1) for block in x.split(chunk)]) if len(x) else x.new_zeros(0).long()


class _TokenMean(nn.Module):
    """Token ids (N, T) -> the mean of their embeddings (N, E)."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.table(x).mean(1)


def vocabulary(ds: MultimodalTensorDataset, modality: str) -> int:
    """The token vocabulary of an integer sequence modality (N, T) (largest id + 1); 0 for any other data."""
    x = ds.data[modality]
    if x.dim() != 2 or x.is_floating_point() or x.dtype in (torch.bool, torch.uint8):
        return 0
    return int(x.max()) + 1


@dataclass
class TrainedClassifier:
    """A judge for one modality and what it scores on real test data (micro and macro accuracy)."""

    modality: str
    net: Classifier
    accuracy: float  # micro: fraction of test items classified right
    macro_accuracy: float  # mean over classes of the per-class accuracy
    key: str  # the cache key (hash of data, labels and config)


def accuracies(pred: Tensor, target: Tensor, num_classes: int) -> tuple[float, float]:
    """(micro, macro) accuracy; macro averages over the classes that occur in `target`."""
    if pred.shape != target.shape or target.dim() != 1:
        raise ValueError(f"predictions {tuple(pred.shape)} and targets {tuple(target.shape)} must be equal 1-d")
    if not len(target):
        raise ValueError("no items to score")
    right = (pred == target).to(torch.float64)
    counts = torch.bincount(target, minlength=num_classes).to(torch.float64)
    per_class = torch.bincount(target, weights=right, minlength=num_classes) / counts.clamp_min(1)
    return float(right.mean()), float(per_class[counts > 0].mean())


def present_items(ds: MultimodalTensorDataset, modality: str, limit: int | None) -> Tensor:
    """Indices of the items whose `modality` is present (a dropped sensor teaches nothing)."""
    idx = torch.nonzero(ds.mask[:, ds.modalities.index(modality)]).flatten()
    return idx[:limit] if limit is not None else idx


def _fingerprint(ds: MultimodalTensorDataset, modality: str, idx: Tensor) -> bytes:
    h = hashlib.sha256()
    data = ds.data[modality]
    h.update(f"{modality}{tuple(data.shape)}{data.dtype}".encode())
    h.update(data.contiguous().numpy().tobytes())
    rows = ds.rows.get(modality)
    h.update((rows[idx] if rows is not None else idx).numpy().tobytes())
    h.update(ds.labels[idx].numpy().tobytes())  # type: ignore[index]
    return h.digest()


def cache_key(
    train: MultimodalTensorDataset, test: MultimodalTensorDataset, modality: str, cfg: ClassifierConfig
) -> str:
    """sha256 of the training and test data of `modality`, their labels, and the config."""
    fields = cfg.key_fields(image=train.data[modality].dim() == 4)
    h = hashlib.sha256(f"v{CLASSIFIER_VERSION}{json.dumps(fields, sort_keys=True)}".encode())
    h.update(_fingerprint(train, modality, present_items(train, modality, cfg.max_items)))
    h.update(_fingerprint(test, modality, present_items(test, modality, None)))
    return h.hexdigest()[:20]


def fit_classifier(
    train: MultimodalTensorDataset,
    test: MultimodalTensorDataset,
    modality: str,
    num_classes: int,
    cfg: ClassifierConfig | None = None,
) -> TrainedClassifier:
    """Train a judge for `modality` on the training items' labels; score it on the test items."""
    cfg = cfg or ClassifierConfig()
    if train.labels is None or test.labels is None:
        raise ValueError("a coherence classifier needs a data set with class labels")
    if modality not in train.modalities:
        raise ValueError(f"unknown modality {modality!r}; the data set has {list(train.modalities)}")
    idx = present_items(train, modality, cfg.max_items)
    if not len(idx):
        raise ValueError(f"no training item has modality {modality!r}")
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        net = Classifier(
            tuple(train.data[modality].shape[1:]), num_classes, cfg.width, vocabulary(train, modality), cfg.arch
        )
    net.standardise_by(train.values(modality, idx))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    net.train()
    for _ in range(cfg.epochs):
        for block in idx[torch.randperm(len(idx), generator=g)].split(cfg.batch_size):
            loss = nn.functional.cross_entropy(net(train.values(modality, block)), train.labels[block])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    test_idx = present_items(test, modality, None)
    pred = net.predict(test.values(modality, test_idx))
    micro, macro = accuracies(pred, test.labels[test_idx], num_classes)
    return TrainedClassifier(modality, net, micro, macro, cache_key(train, test, modality, cfg))


def load_or_fit_classifier(
    train: MultimodalTensorDataset,
    test: MultimodalTensorDataset,
    modality: str,
    num_classes: int,
    cache_dir: str | os.PathLike[str],
    cfg: ClassifierConfig | None = None,
) -> TrainedClassifier:
    """The cached judge for this data and config if there is one, else a freshly trained (and cached) one."""
    cfg = cfg or ClassifierConfig()
    key = cache_key(train, test, modality, cfg)
    path = Path(cache_dir) / f"classifier-{modality}-{key}.safetensors"
    if path.exists():
        try:
            state = load_file(str(path))
            meta = json.loads(path.with_suffix(".json").read_text())
            shape = tuple(train.data[modality].shape[1:])
            net = Classifier(shape, num_classes, cfg.width, vocabulary(train, modality), cfg.arch)
            net.load_state_dict(state)
            return TrainedClassifier(modality, net, float(meta["accuracy"]), float(meta["macro_accuracy"]), key)
        except (OSError, SafetensorError, ValueError, KeyError, RuntimeError):
            pass  # damaged or partial cache entry: train again and overwrite it
    trained = fit_classifier(train, test, modality, num_classes, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"accuracy": trained.accuracy, "macro_accuracy": trained.macro_accuracy, "config": asdict(cfg)}
    partial = path.with_name(path.name + ".part")
    save_file({k: v.contiguous() for k, v in trained.net.state_dict().items()}, str(partial))
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    os.replace(partial, path)
    return trained
