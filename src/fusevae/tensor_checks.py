"""Value checks over whole data sets in row chunks, so checking never holds a copy of the data.

`torch.isfinite` on a (50000, 1, 28, 28) float tensor allocates about 1.5 times the tensor in
temporaries, and boolean row selection copies it; chunks keep both to a few megabytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

CHUNK_ROWS = 4096


def row_chunks(x: Tensor, present: Tensor | None = None, rows: int = CHUNK_ROWS) -> Iterator[Tensor]:
    """Consecutive row blocks of x, keeping only the rows where `present` is True."""
    for start in range(0, x.shape[0], rows):
        block = x[start : start + rows]
        if present is not None:
            keep = present[start : start + rows]
            if not bool(keep.all()):
                block = block[keep]
        yield block


def all_finite(x: Tensor) -> bool:
    """Whether every value of x is finite (integer tensors always are)."""
    if not (x.is_floating_point() or x.is_complex()):
        return True
    return all(bool(torch.isfinite(block).all()) for block in row_chunks(x))


def value_range(x: Tensor, present: Tensor | None = None) -> tuple[float, float] | None:
    """(min, max) over the present rows, or None when there are none."""
    lo, hi, seen = float("inf"), float("-inf"), False
    for block in row_chunks(x, present):
        if block.numel():
            seen = True
            lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    return (lo, hi) if seen else None


def non_finite_counts(x: Tensor, present: Tensor | None = None) -> tuple[int, int]:
    """(non-finite values, of which NaN) over the present rows."""
    bad = nan = 0
    for block in row_chunks(x, present):
        finite = torch.isfinite(block)
        if not bool(finite.all()):
            bad += int((~finite).sum())
            nan += int(torch.isnan(block).sum())
    return bad, nan
