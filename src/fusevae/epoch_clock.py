"""Wall-clock seconds of every training epoch, kept in the run folder across resumptions.

A run stopped and resumed (a benchmark that spans sessions) is timed in pieces; the seconds one call of `fit`
measures are only its own piece. Each finished epoch therefore appends its wall time, the torch threads it ran
on and when it ended to `logs/epoch_seconds.csv`, and the run's training time is the sum over its epochs. The
same records give a running benchmark's seconds per epoch and what is left (`fusevae benchmark --status`). An
epoch resumed from a mid-epoch checkpoint counts from its resumption; one whose record a kill prevented is untimed.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

FILE = Path("logs") / "epoch_seconds.csv"
FIELDS = ("epoch", "seconds", "threads", "ended")


class EpochClock(L.Callback):
    """Appends (epoch, seconds, threads, ended) for each training epoch that ends, validation included."""

    def __init__(self, run: str | os.PathLike[str]) -> None:
        self.path = Path(run) / FILE
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._start is None or not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self._start
        self._start = None
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ended = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(FIELDS)
            w.writerow([trainer.current_epoch, f"{seconds:.3f}", torch.get_num_threads(), ended])


@dataclass(frozen=True)
class EpochTimes:
    """The timed epochs of one run: the last record of each epoch (a rerun epoch replaces its earlier piece)."""

    seconds: dict[int, float]
    threads: dict[int, int]

    @classmethod
    def read(cls, run: str | os.PathLike[str]) -> EpochTimes:
        path = Path(run) / FILE
        seconds: dict[int, float] = {}
        threads: dict[int, int] = {}
        if path.exists():
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    try:  # the end time is written last: a line cut short by a kill lacks it (its epoch is untimed)
                        datetime.datetime.fromisoformat(row["ended"])
                        epoch, s = int(row["epoch"]), float(row["seconds"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if math.isfinite(s) and s >= 0:
                        seconds[epoch], threads[epoch] = s, int(row.get("threads") or 0)
        return cls(seconds, threads)

    def __len__(self) -> int:
        return len(self.seconds)

    def total(self, epochs: int) -> float | None:
        """Training seconds of `epochs` epochs: the sum over the timed ones, scaled up by their mean where some
        epochs were not timed (trained before the clock existed); None when none was."""
        timed = [s for e, s in self.seconds.items() if e < epochs]
        if not timed:
            return None
        return sum(timed) * epochs / len(timed) if len(timed) < epochs else sum(timed)

    def per_epoch(self, last: int = 5) -> float | None:
        """Median seconds of the last `last` timed epochs (the current pace), None when none was timed."""
        if not self.seconds:
            return None
        recent = [self.seconds[e] for e in sorted(self.seconds)[-last:]]
        return statistics.median(recent)

    def summary(self, epochs: int) -> dict[str, Any]:
        """What train_stats.json records: total seconds, how many epochs were timed, and the threads used."""
        return {
            "train_seconds": self.total(epochs),
            "epochs_timed": len([e for e in self.seconds if e < epochs]),
            "threads": sorted(set(self.threads.values())),
        }
