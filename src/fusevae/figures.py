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


def _save(fig: plt.Figure, path: str | os.PathLike[str]) -> Path:
    """Write `fig` to `path` (folders made as needed) and free it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


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
    return _save(fig, path)


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


@torch.no_grad()
def translations(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    pairs: list[tuple[tuple[str, ...], str]] | tuple[tuple[tuple[str, ...], str], ...],
    path: str | os.PathLike[str],
    n: int = 8,
    seed: int = 0,
) -> Path:
    """For each (inputs, target) pair, three rows on the first n test items: the first input, the target
    generated from z ~ q(z | inputs), and the real target (SMVAE Fig. 6's layout on the transformations)."""
    for inputs, target in pairs:
        unknown = sorted({*inputs, target} - set(model.names))
        if unknown or target in inputs or not inputs:
            raise ValueError(f"translation {list(inputs)} -> {target!r}: needs other modalities of {list(model.names)}")
    device = next(model.parameters()).device
    idx = torch.nonzero(dataset.mask.all(1)).flatten()[:n]
    batch = dataset[idx].to(device)
    rows, titles = [], []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for inputs, target in pairs:
            z = model.posterior(batch, list(inputs)).rsample()
            gen = model.nets[target].mean(model.decode(z, [target])[target])
            rows += [[batch.data[inputs[0]][i] for i in range(len(idx))], [gen[i] for i in range(len(idx))]]
            rows.append([batch.data[target][i] for i in range(len(idx))])
            titles += ["+".join(inputs), f"-> {target}", f"real {target}"]
    return _grid(rows, titles, Path(path), "translations between modalities (test items)")


def _words(tokens: Tensor, vocab: tuple[str, ...] | None, pad: int | None) -> str:
    """Token ids as text (ids where no vocabulary is known), padding left out, wrapped for a figure cell."""
    ids = [int(t) for t in tokens if pad is None or int(t) != pad]
    words = [vocab[i] if vocab is not None and i < len(vocab) else str(i) for i in ids]
    lines, line = [], ""
    for w in words:
        if line and len(line) + len(w) > 14:
            lines.append(line)
            line = ""
        line = f"{line} {w}".strip()
    return "\n".join([*lines, line])


@torch.no_grad()
def text_and_images(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    text: str,
    image: str,
    path: str | os.PathLike[str],
    vocab: tuple[str, ...] | None = None,
    n: int = 8,
    seed: int = 0,
) -> Path:
    """Cross generation between a tokens modality and an image modality, both ways, on n test items.

    Rows: the test image; the text generated from it (the most likely token at each position, from one
    z ~ q(z | image)); the test text; an image generated from that text alone (the likelihood's mean at one
    z ~ q(z | text)).
    """
    for name, kind in ((text, "tokens"), (image, "image")):
        if name not in model.names or model.nets[name].cfg.kind != kind:
            raise ValueError(f"{name!r} must be a {kind} modality of the model; it has {list(model.names)}")
    device = next(model.parameters()).device
    both = torch.nonzero(dataset.mask[:, [dataset.modalities.index(text), dataset.modalities.index(image)]].all(1))
    both = both.flatten()
    # items spread evenly over the test set (neighbouring items often share an image: easy-VQA's questions)
    batch = dataset[both[torch.linspace(0, len(both) - 1, min(n, len(both))).long()]].to(device)
    pad = model.nets[text].cfg.pad_index
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        said = model.nets[text].mean(model.decode(model.posterior(batch, [image]).rsample(), [text])[text]).argmax(-1)
        drawn = model.nets[image].mean(model.decode(model.posterior(batch, [text]).rsample(), [image])[image])
    cols = batch.data[text].shape[0]
    fig, axes = plt.subplots(4, cols, figsize=(cols * 1.35 + 1.4, 6.2), squeeze=False)
    titles = (f"test {image}", f"{text} from {image}", f"test {text}", f"{image} from {text}")
    for j in range(cols):
        cells = (batch.data[image][j], _words(said[j], vocab, pad), _words(batch.data[text][j], vocab, pad), drawn[j])
        for i, cell in enumerate(cells):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if isinstance(cell, str):
                ax.text(0.5, 0.5, cell, ha="center", va="center", fontsize=7, transform=ax.transAxes)
            else:
                ax.imshow(_image(cell).clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            if j == 0:
                ax.set_ylabel(titles[i], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{text} from {image} and {image} from {text} (test items)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


@torch.no_grad()
def generation_over_time(
    model: MultimodalVAE,
    dataset: MultimodalTensorDataset,
    items: Tensor,
    targets: list[str],
    conditions: list[list[str]],
    path: str | os.PathLike[str],
    signal: str | None = None,
    title: str | None = None,
) -> Path:
    """SMVAE Fig. 7: consecutive items (the steps of an episode) as observed and generated, one column per step.

    For each target image modality: the data, then the means decoded at the posterior mean of q(z | x_S)
    for each condition S. `signal` (a time series or vector modality) adds a strip above with its largest
    absolute value per item (the force an arm feels), so what is generated can be read against it.
    """
    for name in [*targets, *(m for c in conditions for m in c), *([signal] if signal else [])]:
        if name not in model.names:
            raise ValueError(f"unknown modality {name!r}; the model has {list(model.names)}")
    for t in targets:
        if len(model.nets[t].event_shape) != 3:
            raise ValueError(f"target {t!r} is not an image (C, H, W)")
    device = next(model.parameters()).device
    batch = dataset[items].to(device)
    rows: list[tuple[str, list[Tensor]]] = []
    for t in targets:
        rows.append((f"data {t}", [batch.data[t][i] for i in range(len(items))]))
        for c in conditions:
            gen = model.reconstruct(batch, c)[t]
            rows.append((f"{t} from " + "+".join(c), [gen[i] for i in range(len(items))]))
    n_cols, strip = len(items), 1 if signal else 0
    fig, axes = plt.subplots(
        len(rows) + strip, n_cols, figsize=(n_cols * 0.9 + 1.6, (len(rows) + strip) * 0.9 + 0.6), squeeze=False
    )
    if signal:
        magnitude = batch.data[signal].abs().reshape(len(items), -1).amax(1).cpu()
        gs = axes[0][0].get_gridspec()
        for ax in axes[0]:
            ax.remove()
        top = fig.add_subplot(gs[0, :])
        top.bar(range(n_cols), magnitude.numpy(), color="0.3")
        top.set_xlim(-0.5, n_cols - 0.5)
        top.set_xticks([])
        top.set_ylabel(f"max |{signal}|", rotation=0, ha="right", va="center", fontsize=8)
    for i, (label, images) in enumerate(rows):
        for j, img in enumerate(images):
            ax = axes[i + strip][j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(_image(img).clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        axes[i + strip][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title or "generated over time (test items in order)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def episode_generation(
    model: MultimodalVAE, dataset: MultimodalTensorDataset, episodes: Tensor, path: str | os.PathLike[str]
) -> Path:
    """SMVAE Fig. 7 for one test episode: its image modalities observed, generated from the other sensors alone
    and from all of them, with the first time series' magnitude above. The episode is the first whose signal
    is both zero (free motion) and not (contact) somewhere, so the figure can show contact appear with force."""
    images = [m for m in model.names if model.nets[m].cfg.kind == "image"]
    if not images:
        raise ValueError(f"an episode figure draws image modalities; the model has {list(model.names)}")
    series = [m for m in model.names if model.nets[m].cfg.kind == "timeseries"]
    signal = series[0] if series else None
    ids = torch.unique(episodes)
    chosen = ids[0]
    if signal is not None:
        mag = dataset[torch.arange(len(dataset))].data[signal].abs().flatten(1).amax(1)
        chosen = next((e for e in ids if (mag[episodes == e] == 0).any() and (mag[episodes == e] > 0).any()), chosen)
    items = torch.nonzero(episodes == chosen).flatten()
    others = [m for m in model.names if m not in images]
    conditions = [others, list(model.names)] if others else [list(model.names)]
    title = f"test episode {int(chosen)}: observed, and generated from {'+'.join(others) or 'all'} and from all"
    return generation_over_time(model, dataset, items, images, conditions, path, signal=signal, title=title)


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


def _class_colours(labels: Tensor) -> matplotlib.colors.Colormap:
    return plt.get_cmap("tab20" if int(labels.max()) >= 10 else "tab10")


def _scatter_classes(ax: plt.Axes, xy: Tensor, labels: Tensor, size: float = 3.0, alpha: float = 1.0) -> None:
    cmap = _class_colours(labels)
    for c in torch.unique(labels).tolist():
        pts = xy[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=cmap(int(c) % cmap.N), label=str(c), alpha=alpha, lw=0)


def _test_split(data: object) -> MultimodalTensorDataset:
    """The test set of a MultimodalData, or the data set itself."""
    ds = getattr(data, "test", data)
    if not isinstance(ds, MultimodalTensorDataset):
        raise ValueError(f"expected a MultimodalData or a MultimodalTensorDataset, got {type(data).__name__}")
    if ds.labels is None:
        raise ValueError("these figures colour points by class and need a data set with class labels")
    return ds


@torch.no_grad()
def latent_elbo_maps(
    model: MultimodalVAE,
    data: object,
    path: str | os.PathLike[str],
    n_items: int = 600,
    seed: int = 0,
    k: int = 10,
    subsets: list[list[str]] | None = None,
) -> Path:
    """M2VAE Figs. 4-5: per subset encoder, the test posterior means coloured by class and by their eq.-12 ELBO.

    One column per subset S (default: every non-empty subset the model can encode for up to three
    modalities, else each single one and all together). Top row: E[z | x_S] of the first n_items
    test items with every modality (data.test, or `data` itself if it is a data set), coloured by
    class, with a legend. Bottom row: the same points coloured by the item's eq.-12 ELBO L_S (K = k
    samples, seeded), on one colour scale shared by all encoders (a colorbar), since ELBOs compare
    between the encoders of one model. A 2-D latent is drawn as is; a larger one is projected on the
    first two principal components of the means of all panels together (one projection, named in
    the titles). The figure has 2 * len(subsets) + 1 axes (the last is the colorbar). Returns `path`.
    """
    from .metrics.latent import panel_subsets
    from .metrics.subset_elbo import complete_items, normalize_subsets, subset_elbos, subset_name

    ds = _test_split(data)
    if subsets is None:
        chosen = panel_subsets(model)
    else:
        chosen = normalize_subsets(model, subsets)
    model.eval()
    device = next(model.parameters()).device
    idx = complete_items(ds, n_items)
    generator = torch.Generator().manual_seed(seed)
    means: list[list[Tensor]] = [[] for _ in chosen]
    elbos: list[list[Tensor]] = [[] for _ in chosen]
    for rows in idx.split(250):
        batch = ds[rows].to(device)
        out = subset_elbos(model, batch, chosen, k, generator)
        for i, s in enumerate(chosen):
            means[i].append(model.posterior(batch, list(s)).mean.cpu())
            elbos[i].append(out[subset_name(s)].cpu())
    z = torch.stack([torch.cat(m) for m in means])  # (S, N, D)
    elbo = torch.stack([torch.cat(e) for e in elbos])  # (S, N)
    labels = ds.labels[idx]
    d = model.latent_dim
    if d > 2:
        flat = z.reshape(-1, d).double()
        centre = flat.mean(0)
        _, _, vh = torch.linalg.svd(flat - centre, full_matrices=False)
        xy = ((z.double() - centre) @ vh[:2].T).float()
        axes_note = f", PCA 1-2 of {d}-d (shared)"
    elif d == 2:
        xy, axes_note = z, ""
    else:
        xy, axes_note = torch.cat([z, torch.zeros_like(z)], -1), " (1-d latent)"
    lo, hi = torch.quantile(elbo.flatten().double(), torch.tensor([0.02, 0.98], dtype=torch.float64)).tolist()
    cols = len(chosen)
    # shared axes: coherent encoders put an item's codes in the same place in every panel
    fig, axes = plt.subplots(
        2, cols, figsize=(3.2 * cols + 1.0, 6.4), squeeze=False, layout="constrained", sharex="all", sharey="all"
    )
    sc = None
    for j, s in enumerate(chosen):
        name = subset_name(s)
        top, bottom = axes[0][j], axes[1][j]
        _scatter_classes(top, xy[j], labels)
        top.set_title(f"q(z | {name}) means{axes_note}", fontsize=8)
        sc = bottom.scatter(xy[j][:, 0], xy[j][:, 1], c=elbo[j], s=3, cmap="viridis", vmin=lo, vmax=hi, lw=0)
        bottom.set_title(f"eq.-12 ELBO L_{name}: mean {float(elbo[j].double().mean()):.2f}", fontsize=8)
        for ax in (top, bottom):
            ax.tick_params(labelsize=6)
    axes[0][0].legend(markerscale=3, fontsize=6, loc="best", ncol=2, title="class", title_fontsize=6)
    fig.colorbar(sc, ax=list(axes[1]), label=f"ELBO (eq. 12, K={k})", shrink=0.9)
    fig.suptitle(f"posterior means of {len(idx)} test items: class (top), per-subset ELBO (bottom)", fontsize=10)
    return _save(fig, path)


@torch.no_grad()
def reencoding_map(
    model: MultimodalVAE,
    data: object | None,
    path: str | os.PathLike[str],
    names: list[str] | None = None,
    grid: int = 60,
    seeds: int = 20,
    steps: int = 30,
    seed: int = 0,
    n_items: int = 600,
    tol: float = 1e-4,
) -> Path:
    """M2VAE Fig. 6 (right): the 2-D latent square [-3, 3]^2 coloured by the auto re-encoding error.

    Each of grid x grid points z is decoded into the modalities of a subset S, re-encoded by the
    encoder of S and decoded again; the colour is the squared change of the decoded observations
    (`inplace.reencoding_error`, log scale, one scale for all panels). `seeds` random points (white
    dots, uniform in the square, seeded) are re-encoded `steps` times; their trajectories are the
    black lines. The posterior means of the first n_items test items of `data` (for S alone) are
    drawn on top coloured by class, as the latent representation the map underlies (skipped when
    data is None). With `names` one panel for that subset, else one per subset encoder (every
    non-empty subset the model can encode, or each single one and all for more than three
    modalities). Needs a 2-D latent. The figure has one axes per panel plus a colorbar. Returns `path`.
    """
    from matplotlib.colors import LogNorm

    from .inplace import check_names, reencode_trajectory, reencoding_error
    from .metrics.latent import panel_subsets
    from .metrics.subset_elbo import subset_name

    if model.latent_dim != 2:
        raise ValueError(f"reencoding_map draws a 2-D latent space, but this model has latent_dim {model.latent_dim}")
    if grid < 2 or seeds < 0 or steps < 0:
        raise ValueError(f"grid must be >= 2 and seeds, steps >= 0, got grid={grid}, seeds={seeds}, steps={steps}")
    if names is None:
        panels = panel_subsets(model)
    else:
        panels = [check_names(model, names)]
    model.eval()
    device = next(model.parameters()).device
    ds = _test_split(data) if data is not None else None
    ticks = torch.linspace(-3.0, 3.0, grid)
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    points = torch.stack([gx.flatten(), gy.flatten()], -1).to(device)
    errors = [reencoding_error(model, points, s).reshape(grid, grid).cpu() for s in panels]
    stacked = torch.stack(errors)
    positive = stacked[torch.isfinite(stacked) & (stacked > 0)]  # NaN where the networks overflow: left blank
    vmax = float(positive.max()) if len(positive) else 1.0
    vmin = max(float(positive.min()) if len(positive) else vmax * 1e-6, vmax * 1e-6)
    if not vmax > vmin:
        vmax = vmin * 10.0
    norm = LogNorm(vmin=vmin, vmax=vmax)
    generator = torch.Generator().manual_seed(seed)
    starts = (torch.rand(seeds, 2, generator=generator) * 6.0 - 3.0).to(device)
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols + 1.0, 3.4 * rows), squeeze=False, layout="constrained")
    im = None
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, s, err in zip(axes.flat, panels, errors):
        im = ax.imshow(
            err.clamp_min(vmin).numpy(), origin="lower", extent=(-3, 3, -3, 3), cmap="magma", norm=norm, aspect="equal"
        )
        if ds is not None:
            from .metrics.latent import posterior_means

            z_test, y_test = posterior_means(model, ds, s, n_items)
            if len(z_test):
                _scatter_classes(ax, z_test, y_test, size=3.0, alpha=0.7)
        if seeds:
            traj = reencode_trajectory(model, starts, s, steps, tol).cpu()  # (steps + 1, seeds, 2)
            for i in range(seeds):
                ax.plot(traj[:, i, 0], traj[:, i, 1], color="black", lw=0.8)
            ax.scatter(traj[0, :, 0], traj[0, :, 1], s=12, color="white", edgecolors="black", lw=0.5, zorder=3)
            ax.scatter(traj[-1, :, 0], traj[-1, :, 1], s=10, color="black", marker="x", lw=0.8, zorder=3)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_title(f"auto re-encoding with q(z | {subset_name(s)})", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=list(axes.flat), label="re-encoding error", shrink=0.9)
    fig.suptitle(f"{seeds} seeds, {steps} re-encoding steps (white: start, x: end)", fontsize=10)
    return _save(fig, path)
