"""Real photos that ship inside the scikit-image wheel: offline backgrounds for PolyMNIST-style sets.

PolyMNIST (Sutter et al. 2021) draws each modality's digits on crops of its own background photo.
These photos are bundled with scikit-image itself (no pooch download), so the sets build offline.
The first five are the most distinct colourful photos; grayscale textures and photos come last and
are replicated to RGB.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from skimage import data

_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": data.astronaut,  # orange suit, flag, shuttle
    "chelsea": data.chelsea,  # beige tabby cat
    "coffee": data.coffee,  # red cup on brown wood
    "immunohistochemistry": data.immunohistochemistry,  # brown stain on blue-white tissue
    "rocket": data.rocket,  # dark blue night sky, launch towers
    "motorcycle": lambda: data.stereo_motorcycle()[0],  # red motorbike in a workshop (left stereo view)
    "retina": data.retina,  # orange fundus on black
    "hubble_deep_field": data.hubble_deep_field,  # coloured galaxies on black
    "brick": data.brick,  # gray: brick wall
    "grass": data.grass,  # gray: grass texture
    "gravel": data.gravel,  # gray: gravel texture
    "camera": data.camera,  # gray: cameraman
}
PHOTOS: tuple[str, ...] = tuple(_LOADERS)


@cache
def load_photo(name: str) -> np.ndarray:
    """Photo `name` as read-only float32 (H, W, 3) in [0, 1]; alpha dropped, gray replicated to RGB."""
    if name not in _LOADERS:
        raise ValueError(f"unknown photo {name!r}; known photos: {', '.join(PHOTOS)}")
    img = np.asarray(_LOADERS[name]())
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    else:
        out = np.clip(img.astype(np.float32), 0.0, 1.0)
    out = np.ascontiguousarray(out)
    out.flags.writeable = False  # shared by every caller through the cache
    return out
