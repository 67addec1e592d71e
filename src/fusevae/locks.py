"""Cross-process locks, so that several workers can share one benchmark folder.

A benchmark cell, a judge and a unimodal baseline are each trained by one process at a time. The locks are
`filelock`'s operating-system locks (flock on POSIX): the system releases them when their process dies, so a killed
worker never leaves a cell locked, and a later worker resumes it from its checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

# A worker asking for a cell waits this long before leaving it to whoever holds it: `fusevae benchmark --status`
# takes each cell's lock for an instant to see whether a worker holds it, and must not turn a worker away.
CLAIM_WAIT_S = 2.0


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file guarding `target` (a folder or a file): a hidden sibling, `.NAME.lock`."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def _lock(target: str | os.PathLike[str]) -> FileLock:
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, thread_local=False)


def try_hold(target: str | os.PathLike[str], wait_s: float = CLAIM_WAIT_S) -> FileLock | None:
    """The lock of `target`, held, or None if another process holds it (after waiting `wait_s` seconds)."""
    lock = _lock(target)
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        return None
    return lock


@contextmanager
def claimed(target: str | os.PathLike[str]) -> Iterator[bool]:
    """Hold the lock of `target` for the block if no other process holds it; yields whether this one does."""
    lock = try_hold(target)
    try:
        yield lock is not None
    finally:
        if lock is not None:
            lock.release()


@contextmanager
def holding(target: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of `target` for the block, waiting for as long as another process holds it."""
    with _lock(target):
        yield


def is_held(target: str | os.PathLike[str]) -> bool:
    """Whether some process holds the lock of `target` now (False where no lock file exists; creates none)."""
    path = lock_path(target)
    if not path.exists():
        return False
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
