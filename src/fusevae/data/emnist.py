"""Entangled MNIST (e-MNIST) and mixed e-MNIST (me-MNIST) of the M2VAE paper (section 4.1, Table 3 in 6.1.4).

Pairing MNIST and Fashion-MNIST items only by class (m-MNIST) gives modalities that share the class and nothing
else: within a class, a digit's style says nothing about its garment's. The paper builds a set whose modalities vary
together instead. One conditional VAE (CVAE) with a 2-D latent per source set is trained on its training images and
labels with a beta-VAE objective (beta = 4), so each class's posterior fills the same N(0, I) prior. Then one latent
z ~ N(0, I), kept within 2 sigma "to avoid artifacts", and one class label C are decoded by both CVAEs: p(a | z, C)
gives the digit, p(b | z, C) the garment, and moving z moves both images continuously. The class sequence of each
split is MNIST's own labels for that split (so class frequencies follow MNIST); the stored images are the decoders'
Bernoulli means as uint8 levels. me-MNIST is the same set with the garments shuffled among the items of each class:
the class pairing stays, the continuity between the modalities is gone (the paper's fair m-MNIST counterpart).

The CVAE follows Table 3: encoder Conv C 2x2 stride 2 (28 -> 14) - Conv C 3x3 - Conv C 3x3 (ReLU after each),
flatten, concat the one-hot label C, fc 128 (ReLU), then the mean and log-variance of z; decoder concat the one-hot
label with z, fc 128, fc C x 14 x 14 (ReLU), then the encoder in reverse: transposed Conv C 3x3 twice (ReLU) and a
transposed Conv 1 filter 2x2 stride 2 (14 -> 28) giving Bernoulli logits. The paper uses C = 64. Table 3 also lists a
"1x2x2" in front, which in the Keras example the table resembles is a one-filter 2x2 ReLU convolution; we leave it
out: that single ReLU channel can be dead at initialisation (it was for seed 0), which blinds the encoder. Weights
start as Keras starts them (Glorot-uniform, zero biases): with PyTorch's default initialisation the beta = 4 MNIST
CVAE collapsed to KL = 0 (z ignored, every digit its class mean) for 1 of 7 seeds, with Keras's for none of 12.

Generation time, measured on this project's 2-core CPU (batches of 128): one training epoch over the 50k images
takes 75-80 s with C = 64 on two threads of an otherwise idle machine (110-140 s on one thread), so at the paper's
width the two CVAEs cannot have even two epochs each within 4 minutes. The defaults are therefore C = 16 (10-13 s an
epoch on two idle threads, 13-20 s on one) and 4 epochs per CVAE (the training BCE gains about 1% per epoch after
the third): the whole default generation, both CVAEs plus decoding the 70k pairs and writing the 64 MB cache, took
158 s on one thread. Only width and epochs adapt; the layers are the paper's, and `CVAEConfig(channels=64,
epochs=...)` gives its width. The thread count is the caller's; on this 2-core machine two torch threads ran this
model up to 35 times slower than one whenever another process kept a core busy, so `torch.set_num_threads(1)` is the
faster choice on a shared machine.

Generated sets are cached under `<data root>/emnist/` in a compressed npz named after a short hash of the generating
config and `GENERATOR_VERSION`, with the config as JSON inside; a damaged or mismatched file is generated again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mnist import data_root
from .splits import Split, Splits

GENERATOR_VERSION = 1  # bump when generation changes, so old caches are not taken for new ones
Z_BOUND = 2.0  # section 4.1: "only samples from within 2 sigma of the prior are obtained"
NUM_CLASSES = 10
SPLITS = ("train", "valid", "test")
IMAGE_SHAPE = (1, 28, 28)
_DECODE_BATCH = 1000


@dataclass(frozen=True)
class CVAEConfig:
    """How the two CVAEs are trained and the pairs drawn; every field enters the cache file's hash.

    `channels` is Table 3's convolution width (the paper: 64; 16 here for CPU time, see the module docstring).
    `limit` keeps only the first `limit` items of every source split, both for training the CVAEs and as the class
    sequence of each generated split (quick previews and tests); None uses all of them.
    """

    latent_dim: int = 2
    beta: float = 4.0  # section 5.3: beta* ~ 4 for 28x28x1 images and a 2-D latent
    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    channels: int = 16
    hidden: int = 128  # Table 3's fc 128
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("latent_dim", "epochs", "batch_size", "channels", "hidden", "seed", "limit"):
            value, least = getattr(self, name), 0 if name == "seed" else 1
            if name == "limit" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"CVAEConfig.{name} must be an integer >= {least}, got {value!r}")
        if not (np.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"CVAEConfig.beta must be finite and >= 0, got {self.beta!r}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"CVAEConfig.lr must be finite and > 0, got {self.lr!r}")

    def to_json(self) -> str:
        """The config with the generator version, as canonical JSON (what the cache stores and hashes)."""
        return json.dumps({"version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)

    def digest(self) -> str:
        """A short hash of `to_json()`, naming the cache file."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


class CVAE(nn.Module):
    """The conditional VAE of Table 3: images (N, 1, 28, 28) and class labels in, Bernoulli logits out."""

    def __init__(self, cfg: CVAEConfig, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        c, self.channels, self.num_classes = cfg.channels, cfg.channels, num_classes
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 2, stride=2),  # 1 -> 64, 2x2, stride 2: 28 -> 14 ('same' needs no padding here)
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),  # 64x3x3
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),  # 64x3x3
            nn.ReLU(),
            nn.Flatten(),
        )
        self.hidden = nn.Linear(c * 14 * 14 + num_classes, cfg.hidden)  # concat label C - fc 128
        self.mu = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.logvar = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.decoder_fc = nn.Sequential(
            nn.Linear(cfg.latent_dim + num_classes, cfg.hidden),  # concat label C - fc 128
            nn.ReLU(),
            nn.Linear(cfg.hidden, c * 14 * 14),
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(  # deconv: the encoder in reverse
            nn.ConvTranspose2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 2, stride=2),  # 64 -> 1, 2x2, stride 2: 14 -> 28, Bernoulli logits
        )
        for layer in self.modules():  # Keras's defaults: PyTorch's leave MNIST's beta = 4 CVAE collapsed for some seeds
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def _one_hot(self, labels: Tensor) -> Tensor:
        return F.one_hot(labels, self.num_classes).float()

    def encode(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z | x, C), each (N, latent_dim)."""
        h = F.relu(self.hidden(torch.cat([self.encoder(images), self._one_hot(labels)], dim=1)))
        return self.mu(h), self.logvar(h)

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """Bernoulli logits of p(x | z, C), (N, 1, 28, 28)."""
        h = self.decoder_fc(torch.cat([z, self._one_hot(labels)], dim=1))
        return self.decoder(h.view(-1, self.channels, 14, 14))

    def forward(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Logits of the reconstruction from one reparameterised z, and the posterior's mean and log-variance."""
        mu, logvar = self.encode(images, labels)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, labels), mu, logvar

    def terms(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Batch means of the BCE summed over pixels and of KL(q(z | x, C) || N(0, I)) summed over z (6.1.4)."""
        logits, mu, logvar = self(images, labels)
        bce = F.binary_cross_entropy_with_logits(logits, images, reduction="sum")
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
        return bce / len(images), kl / len(images)

    def loss(self, images: Tensor, labels: Tensor, beta: float) -> Tensor:
        """The beta-VAE objective to minimise: BCE + beta * KL, batch means."""
        bce, kl = self.terms(images, labels)
        return bce + beta * kl


def train_cvae(images: Tensor, labels: Tensor, cfg: CVAEConfig, progress: bool = False, name: str = "") -> CVAE:
    """A CVAE trained by Adam on (images, labels) for cfg.epochs, seeded by cfg.seed.

    The global torch random state is left as it was (the seeding happens in a forked state), and the thread count
    is whatever the caller set.
    """
    if images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE or len(labels) != len(images):
        got = f"{tuple(images.shape)} and {len(labels)}"
        raise ValueError(f"train_cvae: need images (N, 1, 28, 28) and N labels, got {got}")
    images, labels = images.float(), labels.long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = CVAE(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        model.train()
        for epoch in range(cfg.epochs):
            start, sums = time.perf_counter(), np.zeros(2)
            order = torch.randperm(len(images))
            for i in range(0, len(images), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                bce, kl = model.terms(images[idx], labels[idx])
                opt.zero_grad()
                (bce + cfg.beta * kl).backward()
                opt.step()
                sums += (bce.item() * len(idx), kl.item() * len(idx))
            if progress:
                bce_mean, kl_mean = sums / len(images)
                print(
                    f"e-MNIST: {name} CVAE epoch {epoch + 1}/{cfg.epochs}: BCE {bce_mean:.1f}, KL {kl_mean:.2f} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    model.eval()
    return model


def sample_latents(n: int, dim: int, seed: int, bound: float = Z_BOUND) -> np.ndarray:
    """n draws of z ~ N(0, I) in `dim` dimensions, every coordinate with |z_i| > bound drawn again; float32 (n, dim)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, dim))
    outside = np.abs(z) > bound
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > bound
    return z.astype(np.float32)


@torch.no_grad()
def decode_means(model: CVAE, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The decoder's Bernoulli means at (z, labels) as uint8 levels 0..255, (N, 1, 28, 28)."""
    model.eval()
    out = np.empty((len(z), *IMAGE_SHAPE), np.uint8)
    for i in range(0, len(z), _DECODE_BATCH):
        zb = torch.from_numpy(np.ascontiguousarray(z[i : i + _DECODE_BATCH]))
        yb = torch.from_numpy(np.asarray(labels[i : i + _DECODE_BATCH], dtype=np.int64))
        out[i : i + len(zb)] = torch.sigmoid(model.decode(zb, yb)).mul(255).round().to(torch.uint8).numpy()
    return out


@dataclass
class EMNISTSplit:
    """One split of generated pairs: item i is (mnist[i], fashion[i]) of class labels[i]."""

    mnist: np.ndarray  # (N, 1, 28, 28) uint8: the MNIST CVAE's mean at (z[i], labels[i])
    fashion: np.ndarray  # (N, 1, 28, 28) uint8: the Fashion CVAE's mean at (z[j], labels[j]), j = fashion_source[i]
    labels: np.ndarray  # (N,) int64 classes 0..9
    z: np.ndarray  # (N, latent_dim) float32: the latent the MNIST image was decoded from
    fashion_source: np.ndarray  # (N,) int64: the item whose garment item i holds (i itself in e-MNIST)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class EMNIST:
    """Generated train/valid/test splits and the config that made them."""

    train: EMNISTSplit
    valid: EMNISTSplit
    test: EMNISTSplit
    config: CVAEConfig

    def splits(self) -> tuple[EMNISTSplit, EMNISTSplit, EMNISTSplit]:
        """(train, valid, test)."""
        return self.train, self.valid, self.test


def _head(split: Split, limit: int | None) -> Split:
    return split if limit is None else Split(split.images[:limit], split.labels[:limit])


def make_emnist(mnist: Splits, fashion: Splits, cfg: CVAEConfig | None = None, progress: bool = False) -> EMNIST:
    """Generate e-MNIST (section 4.1): train a CVAE on each source's training split, decode shared (z, C) pairs.

    The class sequence of each generated split is the MNIST split's labels (the first cfg.limit of them if set);
    z is drawn per split (seeded by cfg.seed and the split's index) from N(0, I) within 2 sigma and decoded by both
    CVAEs; the CVAEs' images are their Bernoulli means, stored as uint8.
    """
    cfg = cfg or CVAEConfig()
    models = {}
    for name, source in (("mnist", mnist), ("fashion", fashion)):
        train = _head(source.train, cfg.limit)
        models[name] = train_cvae(train.images, train.labels, cfg, progress=progress, name=name)
    parts = []
    for index, part in enumerate(SPLITS):
        labels = _head(getattr(mnist, part), cfg.limit).labels.numpy().astype(np.int64)
        z = sample_latents(len(labels), cfg.latent_dim, seed=_seed(cfg.seed, index))
        images = {name: decode_means(model, z, labels) for name, model in models.items()}
        parts.append(EMNISTSplit(images["mnist"], images["fashion"], labels, z, np.arange(len(labels), dtype=np.int64)))
    return EMNIST(*parts, config=cfg)


def _seed(*parts: int) -> int:
    """One integer seed from several (numpy's SeedSequence mixes them)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def make_memnist(emnist: EMNIST, seed: int = 0) -> EMNIST:
    """me-MNIST (section 4.1): each split's garments shuffled among the items of the same class (seeded per split).

    Labels, digits and z stay; every class keeps exactly its garments, but which digit a garment goes with is
    random, so the modalities share the class and no longer vary together.
    """
    parts = []
    for index, s in enumerate(emnist.splits()):
        rng = np.random.default_rng([seed, index])
        source = np.arange(len(s), dtype=np.int64)
        for c in np.unique(s.labels):
            members = np.flatnonzero(s.labels == c)
            source[members] = members[rng.permutation(len(members))]
        parts.append(EMNISTSplit(s.mnist, s.fashion[source], s.labels, s.z, s.fashion_source[source]))
    return EMNIST(*parts, config=emnist.config)


def cache_path(root: str | os.PathLike[str] | None = None, cfg: CVAEConfig | None = None) -> Path:
    """Where `load_emnist` keeps the set generated with `cfg` (default config if None)."""
    cfg = cfg or CVAEConfig()
    return data_root(root) / "emnist" / f"emnist-v{GENERATOR_VERSION}-{cfg.digest()}.npz"


def _read(path: Path, cfg: CVAEConfig) -> EMNIST | None:
    """The cached set, or None if the file is missing, unreadable, of another config or not the expected arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["config"]) != cfg.to_json():
                return None
            arrays = {f"{p}_{k}": z[f"{p}_{k}"] for p in SPLITS for k in ("mnist", "fashion", "labels", "z")}
    except Exception:  # any damage means: generate again
        return None
    parts = []
    for p in SPLITS:
        a = {k: arrays[f"{p}_{k}"] for k in ("mnist", "fashion", "labels", "z")}
        n = len(a["labels"])
        ok = (
            all(a[k].shape == (n, *IMAGE_SHAPE) and a[k].dtype == np.uint8 for k in ("mnist", "fashion"))
            and a["labels"].shape == (n,)
            and a["labels"].dtype == np.int64
            and (n == 0 or (a["labels"].min() >= 0 and a["labels"].max() < NUM_CLASSES))
            and a["z"].shape == (n, cfg.latent_dim)
            and a["z"].dtype == np.float32
            and bool(np.all(np.abs(a["z"]) <= Z_BOUND))
        )
        if not ok:
            return None
        parts.append(EMNISTSplit(**a, fashion_source=np.arange(n, dtype=np.int64)))
    return EMNIST(*parts, config=cfg)


def _write(path: Path, data: EMNIST) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"config": np.array(data.config.to_json())}
    for p, s in zip(SPLITS, data.splits()):
        arrays.update({f"{p}_{f.name}": getattr(s, f.name) for f in fields(s) if f.name != "fashion_source"})
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(part, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(part, path)


def load_emnist(
    root: str | os.PathLike[str] | None = None, cfg: CVAEConfig | None = None, progress: bool = False
) -> EMNIST:
    """e-MNIST from the cache under `<data root>/emnist/`, generated from the local MNIST and Fashion-MNIST first if
    the file is missing, damaged or of another config (then the file is replaced)."""
    from .fashion import load_fashion_mnist
    from .mnist import load_mnist

    cfg = cfg or CVAEConfig()
    path = cache_path(root, cfg)
    data = _read(path, cfg) if path.exists() else None
    if data is not None:
        return data
    if progress:
        print(f"e-MNIST: generating {path.name} (config {cfg.to_json()})", flush=True)
    data = make_emnist(load_mnist(root), load_fashion_mnist(root), cfg, progress=progress)
    _write(path, data)
    return data


def load_memnist(
    root: str | os.PathLike[str] | None = None, cfg: CVAEConfig | None = None, progress: bool = False, seed: int = 0
) -> EMNIST:
    """me-MNIST: the cached e-MNIST of `cfg` with its garments shuffled within each class (see make_memnist)."""
    return make_memnist(load_emnist(root, cfg, progress), seed)
