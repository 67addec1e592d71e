"""In-memory train/validation/test splits of a labelled image set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class Split:
    images: Tensor  # (N, 1, H, W) float32 in [0, 1]
    labels: Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def concat(self, other: Split) -> Split:
        """This split's items followed by `other`'s."""
        return Split(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]))


@dataclass
class Splits:
    train: Split
    valid: Split
    test: Split

    @staticmethod
    def from_arrays(
        xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray, xte: np.ndarray, yte: np.ndarray
    ) -> Splits:
        return Splits(_split(xtr, ytr), _split(xva, yva), _split(xte, yte))


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    x = x.astype(np.float32, copy=False).reshape(len(x), 1, 28, 28)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("image values must be finite and lie in [0, 1]")
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    return Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
