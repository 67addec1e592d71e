"""Subsets of modalities as boolean masks, sampled per sample without Python loops."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor


def nonempty_subsets(m: int, device: torch.device | None = None) -> Tensor:
    """All 2^M - 1 non-empty subsets as a bool table (2^M - 1, M), smallest first."""
    rows = [c for r in range(1, m + 1) for c in itertools.combinations(range(m), r)]
    table = torch.zeros(len(rows), m, dtype=torch.bool)
    for i, c in enumerate(rows):
        table[i, list(c)] = True
    return table.to(device)


def named_subsets(names: Sequence[str]) -> list[tuple[str, ...]]:
    """All non-empty subsets as tuples of names, in the order of `nonempty_subsets`."""
    return [tuple(n for n, on in zip(names, row, strict=True) if on) for row in nonempty_subsets(len(names)).tolist()]


def singles(mask: Tensor) -> Tensor:
    """One subset per modality, restricted to what is present: (M, B, M)."""
    m = mask.shape[-1]
    eye = torch.eye(m, dtype=torch.bool, device=mask.device)
    return eye.unsqueeze(1) & mask.unsqueeze(0)


def within(table: Tensor, mask: Tensor) -> Tensor:
    """(T, B): whether subset t of `table` (T, M) lies within row b's present set `mask` (B, M)."""
    return ~(table.unsqueeze(1) & ~mask.unsqueeze(0)).any(-1)


def random_subsets(mask: Tensor, table: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """For each row, a subset drawn uniformly among the non-empty subsets of its present set.

    mask (B, M) must have at least one present modality per row; table from nonempty_subsets.
    """
    # contiguous: multinomial draws differently from a transposed view, and seeded runs must not change
    allowed = within(table, mask).T.contiguous()  # (B, T)
    choice = torch.multinomial(allowed.float(), 1, generator=generator).squeeze(1)
    return table[choice]


def random_permutations(b: int, m: int, device: torch.device) -> Tensor:
    """An independent random order of the M modalities for each of b rows: (b, M) indices."""
    return torch.rand(b, m, device=device).argsort(dim=1)
