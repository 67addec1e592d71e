"""Image modalities of different sets paired by class: the offline stand-in for MNIST-SVHN.

Each item of the anchor set (MNIST) is paired with `k` partners of the same class drawn from
each other set (Fashion-MNIST, Animal-MNIST), uniformly and with a fixed seed, so partners are
reused across anchors as in MMVAE's MNIST-SVHN pairing. Items index the source images (no copies).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .splits import Split

PARTNERS = {"train": 2, "valid": 1, "test": 1}  # partners per anchor item in each part


def pair_by_class(anchor: Split, others: list[Split], k: int, seed: int) -> tuple[list[Tensor], Tensor]:
    """Rows into the anchor and into each other split for len(anchor) * k pairs, and their classes."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    g = torch.Generator().manual_seed(seed)
    anchor_rows = torch.arange(len(anchor)).repeat_interleave(k)
    labels = anchor.labels[anchor_rows]
    out = [anchor_rows]
    for other in others:
        rows = torch.empty_like(anchor_rows)
        for c in labels.unique().tolist():
            pool = torch.nonzero(other.labels == c).flatten()
            if len(pool) == 0:
                raise ValueError(f"class {c} has no item to pair with")
            where = labels == c
            rows[where] = pool[torch.randint(len(pool), (int(where.sum()),), generator=g)]
        out.append(rows)
    return out, labels
