"""PolyMNIST-style M-modality set (Sutter et al. 2021) built offline from MNIST and bundled photos.

Every item has M modalities (1 to 10). Modality m is an RGB image of an MNIST digit of the item's
class drawn on a random crop of background photo PHOTOS[m]; each modality shows a different digit
instance (class-matched by `pair_by_class`), so only the class is shared between modalities.

Compositing rule (`composite`): the digit inverts the background's colours in proportion to its
intensity a, out = bg * (1 - a) + (1 - bg) * a, so a = 0 keeps the background and a = 1 inverts it.
Images are stored as uint8 (590 MB for 5 modalities of 50k items instead of 2.4 GB as float32).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor

from .paired import pair_by_class
from .photos import PHOTOS, load_photo
from .splits import Split

MAX_MODALITIES = 10
_CHUNK = 4096  # items composited at once: bounds the float32 working memory to a few tens of MB


def composite(digits: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """Digits (N, H, W) in [0, 1] drawn on backgrounds (N, C, H, W) in [0, 1] by intensity-weighted inversion."""
    out = 1.0 - 2.0 * backgrounds  # bg * (1 - a) + (1 - bg) * a == bg + a * (1 - 2 * bg), with fewer temporaries
    out *= digits[:, None]
    out += backgrounds
    return out


def crops(photo: np.ndarray, top: np.ndarray, left: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The (N, C, h, w) windows of `photo` (H, W, C) whose top-left corners are (top[i], left[i])."""
    windows = sliding_window_view(photo, size, axis=(0, 1))  # (H - h + 1, W - w + 1, C, h, w), a view
    return windows[top, left]


def digits_on_photo(digits: np.ndarray, photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each digit (N, h, w) in [0, 1] on its own random crop of `photo`, as uint8 (N, 3, h, w)."""
    n, h, w = digits.shape
    if photo.shape[0] < h or photo.shape[1] < w:
        raise ValueError(f"photo of shape {photo.shape[:2]} is smaller than the {h}x{w} digits")
    top = rng.integers(0, photo.shape[0] - h + 1, size=n)
    left = rng.integers(0, photo.shape[1] - w + 1, size=n)
    out = np.empty((n, 3, h, w), dtype=np.uint8)
    for s in range(0, n, _CHUNK):
        e = min(s + _CHUNK, n)
        mixed = composite(digits[s:e], crops(photo, top[s:e], left[s:e], (h, w)))
        out[s:e] = np.rint(np.clip(mixed, 0.0, 1.0) * 255.0)
    return out


def make_polymnist(split: Split, m: int = 5, partners: int = 1, seed: int = 0) -> tuple[dict[str, Tensor], Tensor]:
    """M class-matched modalities {"m0": uint8 (N, 3, 28, 28), ...} for N = len(split) * partners items, and labels.

    Modality 0 shows the split's own digits (each repeated `partners` times), modality j a class-matched
    partner on a crop of PHOTOS[j]. Modality j depends only on (seed, j), so fewer modalities give a prefix.
    """
    if not 1 <= m <= MAX_MODALITIES:
        raise ValueError(f"m must be between 1 and {MAX_MODALITIES}, got {m}")
    rows, labels = pair_by_class(split, [split] * (m - 1), partners, seed)
    images = split.images[:, 0].numpy()
    out = {}
    for j in range(m):
        rng = np.random.default_rng([seed, j])
        digits = images[rows[j].numpy()]
        out[f"m{j}"] = torch.from_numpy(digits_on_photo(digits, load_photo(PHOTOS[j]), rng))
    return out, labels
