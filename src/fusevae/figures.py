"""PNG figures: label -> image samples (SMVAE Fig. 3), test reconstructions, cross generation, data grids."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from .data.tensor_dataset import MultimodalTensorDataset  # noqa: E402
from .model import MultimodalVAE  # noqa: E402


def _image(t: Tensor) -> Tensor:
    """(C, H, W) or (H*W,) to an (H, W) or (H, W, 3) array for imshow."""
    if t.dim() == 3:
        return t[0] if t.shape[0] == 1 else t.permute(1, 2, 0)
    side = int(round(t.numel() ** 0.5))
    return t.reshape(side, side)


def _grid(rows: list[list[Tensor]], row_titles: list[str], path: Path, title: str) -> Path:
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 0.9 + 1.2, n_rows * 0.9 + 0.6), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                ax.imshow(_image(row[j]).clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.axis("off")
        axes[i][0].set_ylabel(row_titles[i], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@torch.no_grad()
def label_to_image(
    model: MultimodalVAE, image: str, label: str, path: str | os.PathLike[str], n: int = 10, seed: int = 0
) -> Path:
    """For each class c, n images decoded from z ~ q(z | label = c)."""
    torch.manual_seed(seed)
    classes = model.nets[label].cfg.num_classes
    device = next(model.parameters()).device
    labels = torch.arange(classes, device=device)
    samples = model.generate({label: labels}, n_samples=n)[image]  # (n, C, ...)
    rows = [[samples[j, c] for j in range(n)] for c in range(classes)]
    return _grid(rows, [f"{label}={c}" for c in range(classes)], Path(path), f"{image} generated from {label}")


@torch.no_grad()
def reconstructions(
    model: MultimodalVAE, dataset: MultimodalTensorDataset, image: str, path: str | os.PathLike[str], n: int = 10
) -> Path:
    """Test images, their reconstructions from all modalities, and from each single modality."""
    device = next(model.parameters()).device
    batch = dataset[torch.arange(n)].to(device)
    rows = [[batch.data[image][i] for i in range(n)]]
    titles = ["data"]
    subsets = [None] + [[m] for m in model.names]
    for subset in subsets:
        rec = model.reconstruct(batch, subset)[image]
        rows.append([rec[i] for i in range(n)])
        titles.append("from all" if subset is None else f"from {subset[0]}")
    return _grid(rows, titles, Path(path), f"test {image}s and reconstructions")


@torch.no_grad()
def cross_generation(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    target: str,
    path: str | os.PathLike[str],
    subsets: list[list[str]] | None = None,
    n: int = 10,
    seed: int = 0,
) -> Path:
    """Test items of `target`, then `target` generated from z ~ q(z | x_S) for each subset S without it.

    Subsets default to each other modality alone and all others together (the sensor-fusion
    paper's Fig. 4 rows); items are the first n test items with every modality present.
    """
    if target not in model.names:
        raise ValueError(f"unknown target {target!r}; the model has {list(model.names)}")
    if len(model.nets[target].event_shape) != 3:
        raise ValueError(f"target {target!r} is not an image (C, H, W); a cross-generation figure draws images")
    others = [m for m in model.names if m != target]
    if subsets is None:
        subsets = [[m] for m in others] + ([others] if len(others) > 1 else [])
    for s in subsets:
        if not s or target in s or set(s) - set(model.names):
            raise ValueError(f"subset {s} must name other modalities of the model than {target!r}")
    device = next(model.parameters()).device
    idx = torch.nonzero(dataset.mask.all(1)).flatten()[:n]
    batch = dataset[idx].to(device)
    rows, titles = [[batch.data[target][i] for i in range(len(idx))]], [f"data {target}"]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for s in subsets:
            z = model.posterior(batch, s).rsample()
            gen = model.nets[target].mean(model.decode(z, [target])[target])
            rows.append([gen[i] for i in range(len(idx))])
            titles.append("from " + "+".join(s))
    return _grid(rows, titles, Path(path), f"{target} generated from the other modalities (test items)")


def data_samples(
    dataset: MultimodalTensorDataset,
    path: str | os.PathLike[str],
    n: int = 10,
    class_names: tuple[str, ...] | None = None,
) -> Path:
    """One row per class: its first items, every image modality of each item side by side (aligned)."""
    if dataset.labels is None:
        raise ValueError("data_samples needs a data set with class labels")
    images = [m for m in dataset.modalities if dataset.data[m].dim() == 4]
    per_class = max(1, n // len(images))
    rows, titles = [], []
    for c in range(int(dataset.labels.max()) + 1):
        idx = torch.nonzero(dataset.labels == c).flatten()[:per_class]
        if not len(idx):
            continue
        batch = dataset[idx]
        rows.append([batch.data[m][i] for i in range(len(idx)) for m in images])
        titles.append(f"{c}" + (f" {class_names[c]}" if class_names else ""))
    return _grid(rows, titles, Path(path), " | ".join(images) + " by class")
