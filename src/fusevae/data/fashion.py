"""Fashion-MNIST (image, label) from its IDX files; Debian's `dataset-fashion-mnist` is the offline source.

SMVAE Table 1's second data set. `fetch_fashion_mnist` copies the four IDX files from an
installed Debian package, or fetches the package with `apt-get download` and unpacks it with
`dpkg -x` (no root needed); nothing is downloaded at import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .mnist import _read_idx, _split_60k, data_root
from .splits import Splits

PACKAGE = "dataset-fashion-mnist"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FOLDER = "fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _locate(root: Path) -> Path | None:
    for folder in (root / FOLDER, root, SYSTEM_DIR):
        if all((folder / f).exists() for f in FILES.values()):
            return folder
    return None


def load_fashion_mnist(root: str | os.PathLike[str] | None = None) -> Splits:
    """Fashion-MNIST as float32 images (N, 1, 28, 28) in [0, 1] and int64 labels, split 50k/10k/10k.

    The first 50k of the 60k training images train, the last 10k validate (as for MNIST);
    the 10k test images test. Looks in `<data dir>/fashion-mnist/`, the data directory,
    then Debian's `/usr/share/datasets/fashion-mnist/`.
    """
    base = data_root(root)
    folder = _locate(base)
    if folder is None:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {base / FOLDER}, {base} or {SYSTEM_DIR} "
            f"(looked for {sorted(FILES.values())}). "
            "Run `fusevae data fetch fashion`, or point --data-dir / $FUSEVAE_DATA at a folder holding them."
        )
    arrays = {k: _read_idx(folder / f) for k, f in FILES.items()}
    for part in ("train", "test"):
        if len(arrays[f"{part}_images"]) != len(arrays[f"{part}_labels"]):
            raise ValueError(f"{folder}: {part} images and labels differ in number")
    return _split_60k(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"])


def fetch_fashion_mnist(root: str | os.PathLike[str] | None = None) -> Path:
    """Put the four Fashion-MNIST IDX files into `<data dir>/fashion-mnist/`; returns that folder.

    From an installed `dataset-fashion-mnist` if there is one, else from `apt-get download`
    of that package (after `apt-get update` if the package lists lack it), unpacked by `dpkg -x`.
    """
    target = data_root(root) / FOLDER
    if all((target / f).exists() for f in FILES.values()):
        return target
    target.mkdir(parents=True, exist_ok=True)
    if all((SYSTEM_DIR / f).exists() for f in FILES.values()):
        for f in FILES.values():
            shutil.copy(SYSTEM_DIR / f, target / f)
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise RuntimeError(f"Fashion-MNIST: no {SYSTEM_DIR} and no apt-get/dpkg to fetch Debian's {PACKAGE}")
    with tempfile.TemporaryDirectory() as tmp:
        download = ["apt-get", "download", PACKAGE]
        result = subprocess.run(download, cwd=tmp, capture_output=True, text=True)
        if result.returncode != 0:  # the package lists may be missing on a fresh machine
            subprocess.run(["apt-get", "update"], capture_output=True, text=True)
            result = subprocess.run(download, cwd=tmp, capture_output=True, text=True)
        debs = sorted(Path(tmp).glob(f"{PACKAGE}_*.deb"))
        if result.returncode != 0 or not debs:
            raise RuntimeError(f"`{' '.join(download)}` failed:\n{result.stderr.strip()}")
        unpacked = Path(tmp) / "unpacked"
        subprocess.run(["dpkg", "-x", str(debs[-1]), str(unpacked)], check=True, capture_output=True)
        source = unpacked / SYSTEM_DIR.relative_to("/")
        missing = [f for f in FILES.values() if not (source / f).exists()]
        if missing:
            raise RuntimeError(f"{debs[-1].name} holds no {missing} under {SYSTEM_DIR}")
        for f in FILES.values():
            partial = target / f"{f}.part"
            shutil.copy(source / f, partial)
            os.replace(partial, target / f)
    return target
