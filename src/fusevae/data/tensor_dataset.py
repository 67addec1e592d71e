"""Data kept as tensors in memory, served a whole batch per index tensor (no per-item Python)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ..tensor_checks import all_finite
from .batch import Batch, BatchError


def check_drop_rates(rates: Mapping[str, float], modalities: tuple[str, ...]) -> None:
    """Missing-sensor rates name known modalities and lie in [0, 1] (BatchError, a ValueError, otherwise)."""
    unknown = sorted(set(rates) - set(modalities))
    if unknown:
        raise BatchError(f"cannot drop unknown modality {unknown}; the modalities are {list(modalities)}")
    bad = {k: v for k, v in rates.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise BatchError(f"drop rates must lie in [0, 1], got {bad}")


class MultimodalTensorDataset(Dataset):
    """Modalities as tensors (N, *event), a presence mask (N, M), and class labels (N,).

    Indexing with a LongTensor of indices returns a Batch. `binarize` lists the modalities
    that are dynamically binarised (x ~ Bernoulli(pixel intensity)) at every draw. `rows`
    maps a modality to the row of its tensor that each item uses (N,), so sets that pair one
    source item with several partners hold every source image once. `quantized` lists the
    modalities stored as uint8 levels 0..255 and served as float32 in [0, 1]: a quarter of the
    memory of float storage, which many-modality colour sets need (5 RGB modalities of 50k items
    are 0.6 GB as bytes, 2.4 GB as floats). `levels` keeps, for modalities binarised once (evaluation
    sets), the grey levels the draw was made from (stored like the data): a model's decoded Bernoulli
    means are on that scale, so a coherence judge is also scored there (`at_levels`).
    """

    def __init__(
        self,
        data: dict[str, Tensor],
        modalities: tuple[str, ...],
        mask: Tensor | None = None,
        labels: Tensor | None = None,
        binarize: tuple[str, ...] = (),
        rows: dict[str, Tensor] | None = None,
        quantized: tuple[str, ...] = (),
        levels: dict[str, Tensor] | None = None,
    ) -> None:
        self.modalities = tuple(modalities)
        if set(data) != set(self.modalities):
            raise BatchError(f"data has modalities {sorted(data)}, expected {sorted(self.modalities)}")
        self.quantized = tuple(quantized)
        for k in self.quantized:
            if k not in data or data[k].dtype != torch.uint8:
                raise BatchError(f"quantized modality {k!r} must be a uint8 tensor of the data")
        self.rows = dict(rows or {})
        for k, r in self.rows.items():
            if k not in data:
                raise BatchError(f"rows given for unknown modality {k!r}")
            if r.dtype != torch.long or r.dim() != 1 or (len(r) and (int(r.min()) < 0 or int(r.max()) >= len(data[k]))):
                raise BatchError(f"rows of {k!r} must be a 1-d int64 index into its {len(data[k])} rows")
        n = {k: int(self.rows[k].shape[0] if k in self.rows else v.shape[0]) for k, v in data.items()}
        if len(set(n.values())) != 1:
            raise BatchError(f"modalities disagree on the number of items: {n}")
        self.n = next(iter(n.values()))
        for k, v in data.items():
            if not all_finite(v):
                raise BatchError(f"modality {k!r} holds NaN or inf values")
        self.data = data
        self.mask = torch.ones(self.n, len(self.modalities), dtype=torch.bool) if mask is None else mask
        if self.mask.shape != (self.n, len(self.modalities)) or self.mask.dtype != torch.bool:
            raise BatchError(
                f"mask must be bool ({self.n}, {len(self.modalities)}), got {self.mask.dtype} {tuple(self.mask.shape)}"
            )
        if not bool(self.mask.any(1).all()):
            raise BatchError("every item needs at least one present modality")
        self.labels = labels
        self.binarize = tuple(binarize)
        self.levels = dict(levels or {})
        for k, v in self.levels.items():
            if k not in data or v.shape != data[k].shape or v.dtype != data[k].dtype:
                raise BatchError(f"levels of {k!r} must match its data's shape and dtype")

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: Tensor | int | slice | tuple[Tensor, int]) -> Batch:
        """A Batch of the items `idx`; with (indices, seed), binarisation draws from that seed."""
        generator = None
        if isinstance(idx, tuple):
            idx, seed = idx
            generator = torch.Generator().manual_seed(seed)
        if isinstance(idx, int):
            idx = torch.tensor([idx])
        mask = self.mask[idx]
        out = {}
        for i, k in enumerate(self.modalities):
            x = self.values(k, idx)
            if k in self.binarize:
                x = torch.bernoulli(x, generator=generator)
            keep = mask[:, i].reshape(-1, *([1] * (x.dim() - 1)))
            out[k] = torch.where(keep, x, torch.zeros((), dtype=x.dtype))
        return Batch(out, mask, self.modalities, None if self.labels is None else self.labels[idx])

    def values(self, name: str, idx: Tensor) -> Tensor:
        """Modality `name` of items `idx` as stored (grey levels, not binarised), whether present or not."""
        x = self.data[name][self.rows[name][idx]] if name in self.rows else self.data[name][idx]
        return x.to(torch.float32).div_(255.0) if name in self.quantized else x

    def drop_modalities(self, rates: Mapping[str, float], seed: int) -> MultimodalTensorDataset:
        """A copy in which each item loses modality m with probability rates[m] (missing sensors).

        The draw is fixed by `seed`. An item that would lose every modality it has keeps one of
        them, chosen uniformly, so the realised rates fall a little below the nominal ones when
        they are high. Dropped entries are zero in every batch and masked out of the fusion.
        """
        check_drop_rates(rates, self.modalities)
        g = torch.Generator().manual_seed(seed)
        p = torch.tensor([float(rates.get(m, 0.0)) for m in self.modalities])
        drop = torch.rand(self.n, len(self.modalities), generator=g) < p
        mask = self.mask & ~drop
        emptied = ~mask.any(1)
        # rescue: one of the item's own modalities, uniformly (scores are random among the present ones)
        scores = torch.rand(self.n, len(self.modalities), generator=g).masked_fill(~self.mask, -1.0)
        keep = torch.nn.functional.one_hot(scores.argmax(1), len(self.modalities)).bool()
        mask = mask | (keep & emptied.unsqueeze(1))
        return MultimodalTensorDataset(
            self.data, self.modalities, mask, self.labels, self.binarize, self.rows, self.quantized, self.levels
        )

    def select(self, names: tuple[str, ...] | list[str]) -> MultimodalTensorDataset:
        """The same items with only the modalities `names` (e.g. a unimodal baseline's data).

        Items that have none of them left are dropped, since every item needs a present modality.
        """
        names = tuple(names)
        unknown = sorted(set(names) - set(self.modalities))
        if unknown or not names:
            raise BatchError(f"cannot select {list(names)}: the modalities are {list(self.modalities)}")
        cols = [self.modalities.index(n) for n in names]
        mask = self.mask[:, cols]
        keep = mask.any(1)
        rows = {n: self.rows[n] for n in names if n in self.rows}
        data = {n: self.data[n] for n in names}
        levels = {n: self.levels[n] for n in names if n in self.levels}
        if not bool(keep.all()):
            idx = torch.nonzero(keep).flatten()
            for n in names:  # shared-row modalities keep their source tensor; others are indexed
                if n in rows:
                    rows[n] = rows[n][idx]
                else:
                    data[n] = data[n][idx]
                    if n in levels:
                        levels[n] = levels[n][idx]
            mask = mask[idx]
        labels = None if self.labels is None else self.labels[keep]
        binarize = tuple(b for b in self.binarize if b in names)
        quantized = tuple(q for q in self.quantized if q in names)
        return MultimodalTensorDataset(data, names, mask, labels, binarize, rows, quantized, levels)

    def subset(self, n: int) -> MultimodalTensorDataset:
        """The first n items (for quick runs and tests)."""
        s = slice(0, n)
        return MultimodalTensorDataset(
            {k: v if k in self.rows else v[s] for k, v in self.data.items()},
            self.modalities,
            self.mask[s],
            None if self.labels is None else self.labels[s],
            self.binarize,
            {k: r[s] for k, r in self.rows.items()},
            self.quantized,
            {k: v if k in self.rows else v[s] for k, v in self.levels.items()},
        )

    def at_levels(self) -> MultimodalTensorDataset | None:
        """The same items with each once-binarised modality at the grey levels it was drawn from; None if none was."""
        if not self.levels:
            return None
        return MultimodalTensorDataset(
            {**self.data, **self.levels}, self.modalities, self.mask, self.labels, (), self.rows, self.quantized
        )


class IndexBatchSampler(Sampler[tuple[Tensor, int]]):
    """Yields (indices, draw seed) for one batch at a time; reshuffled per epoch from (seed, epoch).

    Sharded across `world_size` ranks (each rank takes every world_size-th batch), so that
    distributed runs need no DistributedSampler. The order of epoch e depends only on the
    seed and e, and each batch carries its own seed for random draws in the data (dynamic
    binarisation), so a run resumed mid-epoch sees exactly the batches it would have seen.
    `completed` counts the batches trained on in this epoch (the training step advances it:
    the loader itself runs ahead by the batches Lightning prefetches).
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.epoch = 0
        self.rank, self.world_size = 0, 1
        self.completed = 0
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_shard(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size

    def _num_batches(self) -> int:
        full = self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)
        return full // self.world_size if self.world_size > 1 else full

    def __len__(self) -> int:
        return self._num_batches()

    def __iter__(self) -> Iterator[Tensor]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        batches = list(order.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        per_rank = self._num_batches()
        start = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            start = self._resume[1]
        self._resume = None
        self.completed = start
        for i in range(start, per_rank):
            j = i * self.world_size + self.rank
            yield batches[j], (self.seed * 1_000_003 + self.epoch) * 1_000_003 + j

    def state_dict(self) -> dict[str, int]:
        """Where training stands in the data order: epoch and batches completed on this rank."""
        return {
            "epoch": self.epoch,
            "completed": self.completed,
            "n": self.n,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue the epoch `state` was saved in from its next batch."""
        for key in ("n", "batch_size", "seed", "world_size"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(
                    f"the checkpoint's data order has {key}={state[key]}, this run has {getattr(self, key)}: "
                    "resume with the same data, batch size, seed and number of processes"
                )
        self._resume = (int(state["epoch"]), int(state["completed"]))


class BatchLoader(DataLoader):
    """A DataLoader of whole Batches whose position in the data order is saved with checkpoints.

    Lightning stores `state_dict()` in its loop state and calls `load_state_dict` before
    iterating again, so a run resumed mid-epoch continues with the next unseen batch.
    """

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()  # type: ignore[union-attr]

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)  # type: ignore[union-attr]


def batch_loader(dataset: MultimodalTensorDataset, batch_size: int, shuffle: bool, seed: int = 0) -> BatchLoader:
    """A DataLoader that hands out whole Batches from an in-memory dataset."""
    sampler = IndexBatchSampler(len(dataset), batch_size, shuffle=shuffle, seed=seed, drop_last=False)
    # A loader of its own generator: creating an iterator draws a base seed from it, not from the global RNG that
    # the model samples with, so where in a resumed run the iterator is made does not shift the model's draws
    # (Lightning makes it before restoring that RNG when it resumes from an end-of-epoch checkpoint).
    generator = torch.Generator().manual_seed(seed)
    return BatchLoader(dataset, sampler=sampler, batch_size=None, collate_fn=_identity, generator=generator)


def _identity(b: Batch) -> Batch:
    return b
