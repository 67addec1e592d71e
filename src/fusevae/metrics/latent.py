"""Latent maps (SMVAE Fig. 2) and linear probes: how the posterior of each subset of inputs lays out the classes.

For each subset S the posterior means E[z | x_S] of test items are embedded in 2-D by t-SNE and
drawn coloured by class, one panel per subset in one figure per model; a linear probe (multinomial
logistic regression) trained on the means of training items and scored on the test items says how
linearly the classes separate in each subset's latent space.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.tensor_dataset import MultimodalTensorDataset
from ..model import MultimodalVAE
from ..subsets import named_subsets


def default_subsets(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset for up to 3 modalities; otherwise each single one and all together."""
    names = list(names)
    if len(names) <= 3:
        return named_subsets(names)
    return [(n,) for n in names] + [tuple(names)]


def panel_subsets(model: MultimodalVAE) -> list[tuple[str, ...]]:
    """`default_subsets` of the model's modalities that it has an encoder for (one figure panel each)."""
    encodable = set(model.encodable_subsets())
    return [s for s in default_subsets(model.names) if s in encodable]


@torch.no_grad()
def posterior_means(
    model: MultimodalVAE, dataset: MultimodalTensorDataset, subset: Sequence[str], n: int | None = None, bs: int = 1024
) -> tuple[Tensor, Tensor]:
    """E[z | x_S] (N, D) for the first n items that have every modality of S, and their labels."""
    if dataset.labels is None:
        raise ValueError("latent maps and probes need a data set with class labels")
    cols = torch.tensor([dataset.modalities.index(m) for m in subset])
    items = torch.nonzero(dataset.mask[:, cols].all(1)).flatten()[:n]
    model.eval()
    device = next(model.parameters()).device
    means = [model.posterior(dataset[b].to(device), list(subset)).mean.cpu() for b in items.split(bs)]
    return (torch.cat(means) if means else torch.zeros(0, model.latent_dim)), dataset.labels[items]


def linear_probe(train_z: Tensor, train_y: Tensor, test_z: Tensor, test_y: Tensor) -> float:
    """Test accuracy of a multinomial logistic regression fitted on (train_z, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # see tsne
        scaler = StandardScaler().fit(train_z.numpy())
        probe = LogisticRegression(max_iter=2000).fit(scaler.transform(train_z.numpy()), train_y.numpy())
        return float(probe.score(scaler.transform(test_z.numpy()), test_y.numpy()))


def tsne(z: Tensor, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE embedding of z (N, D), seeded."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3)))
    # one thread: once torch has run, scikit-learn's OpenMP threads contend with torch's and t-SNE of
    # 120 points took 42 s instead of 0.5 s here
    with threadpool_limits(1):
        tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
        return tsne.fit_transform(z.numpy().astype(np.float64))


def latent_maps(
    model: MultimodalVAE,
    train: MultimodalTensorDataset,
    test: MultimodalTensorDataset,
    path: str | os.PathLike[str],
    subsets: Sequence[Sequence[str]] | None = None,
    n_map: int = 1000,
    n_probe: int = 10_000,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    draw: bool = True,
) -> dict[str, float]:
    """Draw one t-SNE panel per subset into `path`; return the linear-probe test accuracy per subset ('a+b').

    With draw=False only the probes are fitted (t-SNE is the slow part).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subsets = [tuple(s) for s in (subsets or panel_subsets(model))]
    for s in subsets:
        if not s or set(s) - set(model.names):
            raise ValueError(f"subset {list(s)} must name at least one of the model's modalities {list(model.names)}")
    probes = {}
    cols = min(len(subsets), 4)
    rows = -(-len(subsets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20" if int(test.labels.max()) >= 10 else "tab10")  # type: ignore[union-attr]
    for ax in axes.flat[len(subsets) :]:
        ax.axis("off")
    for ax, s in zip(axes.flat, subsets):
        name = "+".join(s)
        z_train, y_train = posterior_means(model, train, s, n_probe)
        z_test, y_test = posterior_means(model, test, s)
        probes[name] = linear_probe(z_train, y_train, z_test, y_test)
        if not draw:
            continue
        xy = tsne(z_test[:n_map], seed)
        y = y_test[:n_map].numpy()
        for c in np.unique(y):
            label = class_names[c] if class_names else str(c)
            ax.scatter(*xy[y == c].T, s=2, color=cmap(int(c) % cmap.N), label=label)
        ax.set_title(f"q(z | {name})  probe {probes[name]:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if not draw:
        plt.close(fig)
        return probes
    axes.flat[0].legend(markerscale=4, fontsize=6, loc="best")
    fig.suptitle("t-SNE of posterior means, test items, coloured by class", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return probes
