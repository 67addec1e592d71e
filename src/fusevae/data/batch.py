"""The batch format every data set returns: modality -> tensor, plus a presence mask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


class BatchError(ValueError):
    """A batch does not fit the model: unknown modality, wrong shape or dtype, NaN, bad mask."""


@dataclass
class Batch:
    """data[name] has shape (B, *event); mask[b, m] is True when modality m of sample b is present.

    Entries of absent modalities hold zeros (never NaN), so one sample can lack a modality
    that its neighbour has. `labels` (B,) is the class, kept for evaluation only.
    """

    data: dict[str, Tensor]
    mask: Tensor
    modalities: tuple[str, ...]
    labels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    def to(self, device: torch.device | str, float_dtype: torch.dtype | None = None) -> Batch:
        """The batch on `device`; with `float_dtype`, its real-valued entries in that type (a model's own: numpy's
        float64 arrays reach no float32 network), integer entries (labels, tokens) as they are."""
        recast = float_dtype is not None and any(
            v.is_floating_point() and v.dtype != float_dtype for v in self.data.values()
        )
        if self.mask.device == torch.device(device) and not recast:
            return self
        return Batch(
            {k: v.to(device, float_dtype if recast and v.is_floating_point() else None) for k, v in self.data.items()},
            self.mask.to(device),
            self.modalities,
            None if self.labels is None else self.labels.to(device),
        )

    def index(self, idx: Tensor | slice) -> Batch:
        return Batch(
            {k: v[idx] for k, v in self.data.items()},
            self.mask[idx],
            self.modalities,
            None if self.labels is None else self.labels[idx],
        )


def make_batch(
    data: Mapping[str, Tensor],
    modalities: tuple[str, ...] | list[str],
    mask: Tensor | None = None,
    labels: Tensor | None = None,
) -> Batch:
    """Build a Batch from any subset of modalities; missing names are absent for every sample.

    Present-but-masked entries are zeroed so they can never leak into an encoder.
    """
    modalities = tuple(modalities)
    unknown = sorted(set(data) - set(modalities))
    if unknown:
        raise BatchError(f"unknown modality {unknown}; this model has {list(modalities)}")
    if not data:
        raise BatchError("empty batch: give at least one modality")
    sizes = {name: int(t.shape[0]) for name, t in data.items()}
    if len(set(sizes.values())) != 1:
        raise BatchError(f"modalities disagree on the batch size: {sizes}")
    n = next(iter(sizes.values()))
    any_tensor = next(iter(data.values()))
    given = torch.tensor([name in data for name in modalities], device=any_tensor.device)
    if mask is None:
        mask = given.expand(n, -1).clone()
    else:
        if mask.dtype != torch.bool or mask.shape != (n, len(modalities)):
            raise BatchError(
                f"mask must be bool of shape ({n}, {len(modalities)}), got {mask.dtype} {tuple(mask.shape)}"
            )
        missing_cols = (mask & ~given).any(dim=0)
        if bool(missing_cols.any()):
            bad = [modalities[i] for i in torch.nonzero(missing_cols).flatten().tolist()]
            raise BatchError(f"mask marks {bad} present but no data was given for it")
    out = {}
    for i, name in enumerate(modalities):
        if name in data:
            t = data[name]
            keep = mask[:, i].reshape(n, *([1] * (t.dim() - 1)))
            out[name] = torch.where(keep, t, torch.zeros((), dtype=t.dtype, device=t.device))
    return Batch(out, mask, modalities, labels)
