"""The bimodal mixture of Gaussians of the M2VAE paper (section 4.2, Fig. 3), built as its authors did.

Ten classes observed by two 2-D sensors that are each ambiguous about some classes, so only their
fusion resolves every class: `x` puts the classes on a grid where (5, 6, 7) and (0, 8) share a mean;
`w` puts them on the unit circle at angle 2 pi c / 9, where 0 and 9 share a mean. The classes are the
60,000 MNIST training labels (their order and frequencies); noise sd 0.06 on x and 0.1 on w; each
modality min-max scaled to [0, 1]; shuffled and split 99 / 1 into training and test items.
"""

from __future__ import annotations

import numpy as np

X_NOISE, W_NOISE = 0.06, 0.1
TEST_FRACTION = 0.01

_Y = np.linspace(0.0, 1.0, 4)
_X3 = np.linspace(0.0, 1.0, 3)
_X2 = np.linspace(0.25, 0.75, 2)
# class -> (x, y) of its mean on the grid; 5, 6, 7 and 0, 8 collapse (the grid sensor cannot tell them apart)
GRID_MEANS = np.array(
    [
        (_X2[0], _Y[3]),  # 0 (with 8)
        (_X3[1], _Y[0]),  # 1
        (_X3[2], _Y[0]),  # 2
        (_X2[0], _Y[1]),  # 3
        (_X2[1], _Y[1]),  # 4
        (_X3[1], _Y[2]),  # 5 (with 6 and 7)
        (_X3[1], _Y[2]),  # 6
        (_X3[1], _Y[2]),  # 7
        (_X2[0], _Y[3]),  # 8
        (_X2[1], _Y[3]),  # 9
    ]
)
# class -> point on the unit circle at angle 2 pi c / 9; 0 and 9 coincide
CIRCLE_MEANS = np.stack([np.cos(2 * np.pi * np.arange(10) / 9), np.sin(2 * np.pi * np.arange(10) / 9)], axis=1)


def _min_max(v: np.ndarray) -> np.ndarray:
    lo, hi = v.min(0), v.max(0)
    return (v - lo) / np.where(hi > lo, hi - lo, 1.0)


def make_mog(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Observations (x, w), each float32 (N, 2) in [0, 1], of the classes `labels` (N,) in 0..9."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not len(labels) or labels.min() < 0 or labels.max() > 9:
        raise ValueError("labels must be a non-empty 1-d array of classes 0..9")
    rng = np.random.default_rng(seed)
    x = GRID_MEANS[labels] + X_NOISE * rng.standard_normal((len(labels), 2))
    w = CIRCLE_MEANS[labels] + W_NOISE * rng.standard_normal((len(labels), 2))
    return _min_max(x).astype(np.float32), _min_max(w).astype(np.float32)


def split_mog(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A shuffled 99 / 1 split of n items: (training indices, test indices)."""
    order = np.random.default_rng([seed, 1]).permutation(n)
    n_test = max(1, int(round(n * TEST_FRACTION)))
    return order[n_test:], order[:n_test]
