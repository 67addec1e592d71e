"""The three steps in Python: train a preset, evaluate a run, generate from it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checkpoint import load_config, load_model
from .config import ExperimentConfig, apply_overrides
from .data import MultimodalData, dataset_modalities, load_dataset
from .data.tensor_dataset import check_drop_rates
from .figures import cross_generation, label_to_image, latent_elbo_maps, reconstructions, reencoding_map
from .metrics.likelihood import likelihood_table
from .model import MultimodalVAE
from .presets import preset_config


def make_config(
    preset: str | None,
    data: str = "mnist",
    overrides: Sequence[str] = (),
    fusion: str | None = None,
    scheme: str | None = None,
    estimator: str | None = None,
) -> ExperimentConfig:
    """A preset's config (or a free fusion x scheme x estimator composition) for a data set.

    `key=value` overrides are applied, then the model and objective are built once, so an
    invalid combination fails here with the reason, before any data is loaded.
    """
    cfg = preset_config(preset, dataset_modalities(data), data, fusion, scheme, estimator)
    cfg = ExperimentConfig.from_dict(apply_overrides(cfg.to_dict(), list(overrides)))
    check_config(cfg)
    return cfg


def check_config(cfg: ExperimentConfig) -> None:
    """Build the model and objective of `cfg`, raising the ValueError that names what does not fit."""
    from .objectives import make_objective
    from .train import make_optimizer

    model = MultimodalVAE(cfg.model)
    make_objective(cfg.objective, model, epochs=cfg.train.epochs)
    make_optimizer(cfg.train, model.parameters())
    check_drop_rates(cfg.train.missing, model.names)  # train.missing, before any data is loaded


def train(
    preset: str | ExperimentConfig | None,
    data: str = "mnist",
    out: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    data_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
    fusion: str | None = None,
    scheme: str | None = None,
    estimator: str | None = None,
) -> Path:
    """Train a preset, a free composition of fusion / scheme / estimator, or a full config; returns the run folder."""
    from .train import fit

    if isinstance(preset, ExperimentConfig):
        cfg = preset
    else:
        cfg = make_config(preset, data, overrides, fusion, scheme, estimator)
    if epochs is not None:
        cfg.train.epochs = epochs
    ds = load_dataset(cfg.data, data_dir, binarize=cfg.train.binarize)
    run = Path(out or Path("runs") / cfg.preset)
    start = time.perf_counter()
    fit(cfg, ds, run, resume=resume, progress=progress)
    seconds = time.perf_counter() - start
    if not is_main_process():
        return run
    n_train = min(len(ds.train), cfg.train.limit_train or len(ds.train))
    stats = {
        "train_seconds": seconds,
        "epochs": cfg.train.epochs,
        "train_items": n_train,
        "samples_per_second": n_train * cfg.train.epochs / seconds,
    }
    (run / "train_stats.json").write_text(json.dumps(stats, indent=2))
    return run


def is_main_process() -> bool:
    """False in the extra processes of a distributed run (which re-run the calling script)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def evaluate(
    run: str | os.PathLike[str],
    k: int = 1000,
    n_test: int | None = None,
    data_dir: str | None = None,
    progress: bool = True,
    figures: bool = True,
    precision: str = "32",
) -> dict[str, Any]:
    """SMVAE Table 1 metrics on the test set; writes results.json, results.md and figures in the run.

    `precision` "bf16" runs the networks in bfloat16 (densities stay float32): faster on CPUs
    with native bf16, at a small cost in accuracy (bench/results/perf.md measures both).
    """
    run = Path(run)
    model, cfg = load_model(run)
    ds = load_dataset(cfg.data, data_dir, binarize=cfg.train.binarize)
    start = time.perf_counter()
    table = likelihood_table(
        model, ds.test, ds.primary, ds.condition, k=k, n=n_test, progress=progress, precision=precision
    )
    table["setup"]["seconds"] = time.perf_counter() - start
    table["setup"]["preset"] = cfg.preset
    (run / "results.json").write_text(json.dumps(table, indent=2))
    (run / "results.md").write_text(results_markdown({cfg.preset: table}))
    if figures:
        generate(run, data_dir=data_dir, model=model, data=ds)
    return table


def generate(
    run: str | os.PathLike[str],
    data_dir: str | None = None,
    n: int = 10,
    model: MultimodalVAE | None = None,
    data: MultimodalData | None = None,
) -> list[Path]:
    """Write label -> image samples (or cross generation, without a label), test reconstructions and, for a
    2-d latent, each encoder's codes coloured by class and ELBO and the re-encoding map under run/figures/.

    `model` and `data`, when the caller already holds them, save reloading.
    """
    run = Path(run)
    cfg = load_config(run)
    if model is None:
        model, cfg = load_model(run)
    ds = data if data is not None else load_dataset(cfg.data, data_dir, binarize=cfg.train.binarize)
    fig_dir = run / "figures"
    paths = []
    if len(model.nets[ds.primary].event_shape) == 3:
        paths.append(reconstructions(model, ds.test, ds.primary, fig_dir / "reconstructions.png", n=n))
    if model.latent_dim == 2 and ds.test.labels is not None:  # M2VAE Figs. 4-6: every encoder's 2-d codes
        paths.append(latent_elbo_maps(model, ds, fig_dir / "latent_elbo.png"))
        paths.append(reencoding_map(model, ds, fig_dir / "reencoding.png"))
    if model.nets[ds.condition].cfg.kind == "label":
        to_image = fig_dir / f"{ds.condition}_to_{ds.primary}.png"
        paths.insert(0, label_to_image(model, ds.primary, ds.condition, to_image, n=n))
    else:  # image-like modalities only: each generated from the others (cross generation)
        for target in model.names:
            if len(model.nets[target].event_shape) == 3:
                paths.append(cross_generation(model, ds.test, target, fig_dir / f"cross_{target}.png", n=n))
    return paths


COLUMNS = ("log p(x,y)", "log p(x)", "log p(x|y)")


def results_markdown(tables: dict[str, dict[str, Any]]) -> str:
    """A Markdown table in SMVAE Table 1's layout, one row per model ('|' escaped for Markdown)."""
    proposals = ("q(z|x,y)", "q(z|x)")
    head = ["model"] + [f"{c} from {p}" for p in proposals for c in COLUMNS]
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |", "|" + "---|" * len(head)]
    for name, t in tables.items():
        cells = [f"{t[p][c]:.2f}" for p in proposals for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    setup = next(iter(tables.values()))["setup"]
    lines += ["", f"K = {setup['k']} importance samples, {setup['n']} test items; nats, higher is better."]
    return "\n".join(lines) + "\n"


def print_table(tables: dict[str, dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    proposals = ("q(z|x,y)", "q(z|x)")
    head = f"{'model':<10}" + "".join(f"{c:>13}" for _ in proposals for c in COLUMNS)
    top = f"{'':<10}" + "".join(f"{'sampled from ' + p:^39}" for p in proposals)
    rows = [f"{n:<10}" + "".join(f"{t[p][c]:>13.2f}" for p in proposals for c in COLUMNS) for n, t in tables.items()]
    return "\n".join([top, head, *rows])


def load(run: str | os.PathLike[str]) -> MultimodalVAE:
    """The trained model of a run folder, rebuilt from its config (no pickle)."""
    return load_model(run)[0]


__all__ = ["evaluate", "generate", "load", "make_config", "print_table", "results_markdown", "train"]
