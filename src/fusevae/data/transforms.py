"""Image transformations as modalities of one colour image set (SMVAE section 4.3).

SMVAE learns vision transformations as modalities of the same images: the original colour image,
its grayscale version, Canny edges, a watermarked copy and a half-occluded copy. Every function here
maps a batch of RGB uint8 images (N, 3, H, W) to uint8, so all modalities share one storage format.
`photo_digits` supplies colour images with classes: MNIST digits drawn on crops of colourful photos.

Transformations (TRANSFORMS, in order; "flipped" is an optional sixth):
    original  -- the RGB image itself, (N, 3, H, W).
    grayscale -- ITU-R BT.601 luminance 0.299 R + 0.587 G + 0.114 B, (N, 1, H, W).
    edges     -- Canny edges of the grayscale image (sigma = EDGE_SIGMA), 0 or 255, (N, 1, H, W).
    watermark -- a fixed white "VAE" mark alpha-blended (WATERMARK_ALPHA) over the image, (N, 3, H, W).
    occluded  -- the right half (columns W // 2 onwards) set to black, (N, 3, H, W).
    flipped   -- the image mirrored left to right, (N, 3, H, W): a geometric, not photometric, change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from skimage.feature import canny
from torch import Tensor

from .photos import PHOTOS, load_photo
from .polymnist import digits_on_photo
from .splits import Split

TRANSFORMS: tuple[str, ...] = ("original", "grayscale", "edges", "watermark", "occluded")
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as in PIL's "L" mode
EDGE_SIGMA = 1.5  # width of Canny's Gaussian smoothing, in pixels: keeps digit outlines, drops most photo texture
WATERMARK_ALPHA = 0.5  # opacity of the white mark
PHOTO_DIGIT_BACKGROUNDS = 5  # photo_digits draws each item's background from PHOTOS[:5]

_GLYPHS = {  # 3x5 bitmaps of the mark's letters
    "V": ("1.1", "1.1", "1.1", "1.1", ".1."),
    "A": (".1.", "1.1", "111", "1.1", "1.1"),
    "E": ("111", "1..", "11.", "1..", "111"),
}


def _check(images: Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")


def original(images: Tensor) -> Tensor:
    """The images themselves (not copied)."""
    _check(images)
    return images


def grayscale(images: Tensor) -> Tensor:
    """Luminance with BT.601 weights, rounded: uint8 (N, 1, H, W)."""
    _check(images)
    w = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
    gray = (images.float() * w).sum(dim=1, keepdim=True)
    return gray.round().clamp(0, 255).to(torch.uint8)


def edges(images: Tensor, sigma: float = EDGE_SIGMA) -> Tensor:
    """Canny edges (skimage, default thresholds) of each image's grayscale, 0 or 255: uint8 (N, 1, H, W)."""
    gray = grayscale(images)[:, 0].numpy().astype(np.float32) / 255.0
    out = np.zeros(gray.shape, dtype=np.uint8)
    for i, img in enumerate(gray):  # canny works on one 2-D image at a time
        out[i][canny(img, sigma=sigma)] = 255
    return torch.from_numpy(out[:, None])


def watermark_mask(h: int, w: int) -> np.ndarray:
    """The mark's pixels for (h, w) images: "VAE" in a 3x5 font, scaled by the largest integer that fits, centred."""
    text = "VAE"
    glyphs = [np.array([[c == "1" for c in row] for row in _GLYPHS[ch]]) for ch in text]
    gap = np.zeros((5, 1), dtype=bool)
    bitmap = np.concatenate([g for ch in glyphs for g in (ch, gap)][:-1], axis=1)  # 5 x 11
    scale = max(1, min(w // bitmap.shape[1], h // bitmap.shape[0]))
    bitmap = np.kron(bitmap, np.ones((scale, scale), dtype=bool))
    bh, bw = min(bitmap.shape[0], h), min(bitmap.shape[1], w)
    mask = np.zeros((h, w), dtype=bool)
    top, left = (h - bh) // 2, (w - bw) // 2
    mask[top : top + bh, left : left + bw] = bitmap[:bh, :bw]
    return mask


def watermark(images: Tensor, alpha: float = WATERMARK_ALPHA) -> Tensor:
    """The fixed white mark of `watermark_mask` blended over every image with opacity `alpha`."""
    _check(images)
    mask = torch.from_numpy(watermark_mask(images.shape[2], images.shape[3]))
    out = images.clone()
    marked = out[:, :, mask].float()
    out[:, :, mask] = (marked * (1.0 - alpha) + 255.0 * alpha).round().clamp(0, 255).to(torch.uint8)
    return out


def occluded(images: Tensor) -> Tensor:
    """The images with their right half (columns W // 2 onwards) set to black."""
    _check(images)
    out = images.clone()
    out[..., images.shape[3] // 2 :] = 0
    return out


def flipped(images: Tensor) -> Tensor:
    """The images mirrored left to right."""
    _check(images)
    return images.flip(3)


_FUNCS: dict[str, Callable[[Tensor], Tensor]] = {
    "original": original,
    "grayscale": grayscale,
    "edges": edges,
    "watermark": watermark,
    "occluded": occluded,
    "flipped": flipped,
}


def make_transforms(images: Tensor, which: tuple[str, ...] = TRANSFORMS) -> dict[str, Tensor]:
    """Each named transformation of uint8 images (N, 3, H, W), as uint8 modalities in the order of `which`."""
    unknown = [name for name in which if name not in _FUNCS]
    if unknown:
        raise ValueError(f"unknown transformation(s) {unknown}; known: {', '.join(_FUNCS)}")
    _check(images)
    return {name: _FUNCS[name](images) for name in which}


def photo_digits(split: Split, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Each digit of `split` on a random crop of a photo chosen per item among PHOTOS[:5]: uint8 (N, 3, 28, 28)."""
    rng = np.random.default_rng(seed)
    digits = split.images[:, 0].numpy()
    choice = rng.integers(0, PHOTO_DIGIT_BACKGROUNDS, size=len(digits))
    out = np.empty((len(digits), 3, *digits.shape[1:]), dtype=np.uint8)
    for p in range(PHOTO_DIGIT_BACKGROUNDS):
        where = np.flatnonzero(choice == p)
        out[where] = digits_on_photo(digits[where], load_photo(PHOTOS[p]), rng)
    return torch.from_numpy(out), split.labels.clone()
