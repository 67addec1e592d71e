"""The three steps in Python: train a preset, evaluate a run, generate from it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .checkpoint import load_config, load_model
from .config import ExperimentConfig, apply_overrides
from .data import MultimodalData, dataset_entry
from .data.tensor_dataset import check_drop_rates
from .evaluation import EvaluationSettings, Evaluator, check_metrics
from .figures import (
    cross_generation,
    episode_generation,
    label_to_image,
    latent_elbo_maps,
    reconstructions,
    reencoding_map,
    text_and_images,
    translations,
)
from .metrics.likelihood import likelihood_markdown, likelihood_table
from .model import MultimodalVAE
from .presets import preset_config
from .run_data import DataLike, check_same_data, data_for_run, open_data, write_record


def make_config(
    preset: str | None,
    data: str | MultimodalData = "mnist",
    overrides: Sequence[str] = (),
    fusion: str | None = None,
    scheme: str | None = None,
    estimator: str | None = None,
) -> ExperimentConfig:
    """A preset's config (or a free fusion x scheme x estimator composition) for a data set.

    `data` is a registered name or a MultimodalData (the user's own, whose modality specs and
    networks the config takes). A registered set brings its likelihood protocol: MNIST-like
    Bernoulli images start binarised (`train.binarize=true`), which `train.binarize=false` undoes.
    `key=value` overrides are applied, then the model and objective are built once, so an invalid
    combination fails here with the reason, before training.
    """
    binarize = False
    if isinstance(data, MultimodalData):
        arch, name = data.architecture(), data.name
    else:
        entry = dataset_entry(data)
        arch, name, binarize = entry.architecture(), data, entry.binarize
    cfg = preset_config(preset, arch, name, fusion, scheme, estimator)
    cfg.train.binarize = binarize  # the data set's likelihood protocol, before the user's overrides
    cfg = ExperimentConfig.from_dict(apply_overrides(cfg.to_dict(), list(overrides)))
    check_config(cfg)
    return cfg


def check_config(cfg: ExperimentConfig) -> None:
    """Build the model and objective of `cfg`, raising the ValueError that names what does not fit."""
    from .objectives import make_objective
    from .train import make_optimizer

    if cfg.train.epochs < 1:
        raise ValueError(f"train.epochs must be >= 1, got {cfg.train.epochs}")
    model = MultimodalVAE(cfg.model)
    make_objective(cfg.objective, model, epochs=cfg.train.epochs)
    make_optimizer(cfg.train, model.parameters())
    check_drop_rates(cfg.train.missing, model.names)  # train.missing, before any data is loaded


def train(
    preset: str | ExperimentConfig | None,
    data: DataLike = "mnist",
    out: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    data_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
    fusion: str | None = None,
    scheme: str | None = None,
    estimator: str | None = None,
    accept_changed_data: bool = False,
) -> Path:
    """Train a preset, a free composition of fusion / scheme / estimator, or a full config; returns the run folder.

    `data` is a registered data set's name, a data spec file (.yaml / .json) or a MultimodalData
    (`fusevae.data.from_arrays`). The run folder records where the data came from (data.json), so
    evaluate, generate and resume reload it; resuming on changed data is refused unless
    `accept_changed_data`. Every check runs before anything is written.
    """
    from .epoch_clock import EpochTimes
    from .train import fit

    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if isinstance(preset, ExperimentConfig):  # a full config: its own data, unless a data object is given
        cfg = preset
        if epochs is not None:
            cfg.train.epochs = epochs
        check_config(cfg)
        ds = open_data(data if isinstance(data, MultimodalData) else cfg.data, data_dir, cfg.train.binarize)
    else:
        user = None if isinstance(data, str) and _registered(data) else open_data(data, data_dir)
        cfg = make_config(preset, user if user is not None else str(data), overrides, fusion, scheme, estimator)
        if epochs is not None:
            cfg.train.epochs = epochs
            check_config(cfg)
        ds = open_data(user if user is not None else data, data_dir, cfg.train.binarize)
    run = Path(out or Path("runs") / cfg.preset)
    if resume:
        check_same_data(run, ds, accept_changed_data)
    start = time.perf_counter()
    fit(cfg, ds, run, resume=resume, progress=progress, before_write=lambda: write_record(run, ds))
    session = time.perf_counter() - start
    if not is_main_process():
        return run
    n_train = min(len(ds.train), cfg.train.limit_train or len(ds.train))
    # a resumed run's time is the sum of its epochs' (logs/epoch_seconds.csv), not this call's piece of it
    clock = EpochTimes.read(run).summary(cfg.train.epochs)
    seconds = clock["train_seconds"] or session
    stats = {
        "train_seconds": seconds,
        "epochs": cfg.train.epochs,
        "train_items": n_train,
        "samples_per_second": n_train * cfg.train.epochs / seconds,
        "epochs_timed": clock["epochs_timed"],
        "threads": clock["threads"],
        "this_call_seconds": session,
    }
    (run / "train_stats.json").write_text(json.dumps(stats, indent=2))
    return run


def _registered(name: str) -> bool:
    from .data import registered_datasets

    return name in registered_datasets()


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
    data: DataLike | None = None,
    accept_changed_data: bool = False,
    metrics: Sequence[str] = ("likelihood",),
    settings: EvaluationSettings | None = None,
    proposals: Sequence[Sequence[str]] = (),
    conditioning: str = "mixture",
) -> dict[str, Any]:
    """Metrics of a trained run on its test set; writes results.json, results.md and figures in the run.

    `metrics`: any of likelihood, subset_elbo, coherence, presence, synergy, latent, missing, cross_error, or
    ["all"]; metrics other than the likelihood table are returned flat under "metrics" (judges and unimodal
    baselines are cached in run/cache). `settings` sizes them (EvaluationSettings). `proposals`
    adds subsets whose q(z | x_S) proposes importance samples, as rows beside the data's own.

    The table names what it estimates: the joint log p(X), each marginal and each conditional of the
    data's evaluation spec, under q(z | X) and each proposal the spec names (SMVAE Table 1 on
    (image, label) sets). The data is reloaded from the run's record unless `data` is given.
    `precision` "bf16" runs the networks in bfloat16 (densities stay float32). `conditioning` says how log p(x_B)
    of each conditional is estimated (`metrics.likelihood.likelihood_table`).
    """
    run = Path(run)
    model, cfg = load_model(run)
    ds = data_for_run(run, cfg.data, cfg.train.binarize, data, data_dir, accept_changed_data)
    asked = check_metrics(list(metrics), ds)
    spec = replace(ds.evaluation, proposals=(*ds.evaluation.proposals, *(tuple(p) for p in proposals)))
    spec.resolve(model.names)  # an unknown modality in a proposal fails here, by name
    start = time.perf_counter()
    table = likelihood_table(
        model, ds.test, spec, k=k, n=n_test, progress=progress, precision=precision, conditioning=conditioning
    )
    table["setup"]["seconds"] = time.perf_counter() - start
    table["setup"]["preset"] = cfg.preset
    others = [m for m in asked if m != "likelihood"]
    if others:
        s = settings or EvaluationSettings()
        flat, _ = Evaluator(ds, run / "cache", s).run(model, cfg, others, seed=cfg.train.seed, progress=progress)
        table["metrics"] = flat
        table["setup"]["evaluation settings"] = asdict(s)
    (run / "results.json").write_text(json.dumps(table, indent=2))
    (run / "results.md").write_text(likelihood_markdown({cfg.preset: table}))
    if figures:
        generate(run, data_dir=data_dir, model=model, data=ds)
    return table


def generate(
    run: str | os.PathLike[str],
    data_dir: str | None = None,
    n: int = 10,
    model: MultimodalVAE | None = None,
    data: DataLike | None = None,
    accept_changed_data: bool = False,
) -> list[Path]:
    """Figures chosen by the modalities' kinds, under run/figures/.

    Each label modality -> each image modality (samples per class); test reconstructions of each
    image modality from every subset; each image modality generated from the others (cross
    generation); for a 2-d latent, each encoder's codes coloured by class and ELBO and the
    re-encoding map. `model` and `data`, when the caller holds them, save reloading.
    """
    run = Path(run)
    if model is None:
        model, cfg = load_model(run)
    else:
        cfg = load_config(run)
    ds = (
        data
        if isinstance(data, MultimodalData)
        else data_for_run(run, cfg.data, cfg.train.binarize, data, data_dir, accept_changed_data)
    )
    fig_dir = run / "figures"
    images = [m for m in model.names if model.nets[m].cfg.kind == "image"]
    labels = [m for m in model.names if model.nets[m].cfg.kind == "label"]
    paths = [label_to_image(model, i, lab, fig_dir / f"{lab}_to_{i}.png", n=n) for lab in labels for i in images]
    paths += [reconstructions(model, ds.test, i, fig_dir / f"reconstructions_{i}.png", n=n) for i in images]
    if model.latent_dim == 2 and ds.test.labels is not None:  # M2VAE Figs. 4-6: every encoder's 2-d codes
        paths.append(latent_elbo_maps(model, ds, fig_dir / "latent_elbo.png"))
        paths.append(reencoding_map(model, ds, fig_dir / "reencoding.png"))
    others = [m for m in model.names if model.nets[m].cfg.kind != "label"]
    if len(others) > 1:  # from the other sensors (a label alone is drawn as label -> image above)
        paths += [cross_generation(model, ds.test, t, fig_dir / f"cross_{t}.png", n=n) for t in images]
    if ds.test_episodes is not None and images:  # SMVAE Fig. 7: one test episode observed and generated over time
        paths.append(episode_generation(model, ds.test, ds.test_episodes, fig_dir / "episode.png"))
    shown = [(s, t) for s, t in ds.showcase if {*s, t} <= set(model.names)]
    if shown:  # the translations the data set declares (SMVAE Fig. 6 on the transformations)
        paths.append(translations(model, ds.test, shown, fig_dir / "translations.png", n=n))
    texts = [m for m in model.names if model.nets[m].cfg.kind == "tokens"]
    paths += [
        text_and_images(model, ds.test, t, i, fig_dir / f"{t}_and_{i}.png", ds.vocabularies.get(t), n=n)
        for t in texts
        for i in images
    ]
    return paths


def print_table(tables: dict[str, dict[str, Any]]) -> str:
    """A plain-text table for the terminal: one line per (model, proposal), one column per estimate."""
    rows = [(name, p, cols) for name, t in tables.items() for p, cols in t.items() if p.startswith("q(z")]
    keys = list(dict.fromkeys(c for _, _, cols in rows for c in cols if not c.endswith(" se")))
    width = max([len(k) for k in keys] + [10]) + 2
    lead = max([len(n) + len(p) + 3 for n, p, _ in rows] + [10])
    head = f"{'model / proposal':<{lead}}" + "".join(f"{k:>{width}}" for k in keys)
    lines = [head]
    for name, p, cols in rows:
        cells = "".join(f"{cols[k]:>{width}.2f}" if k in cols else f"{'-':>{width}}" for k in keys)
        lines.append(f"{name + ' ' + p:<{lead}}" + cells)
    return "\n".join(lines)


def load(run: str | os.PathLike[str]) -> MultimodalVAE:
    """The trained model of a run folder, rebuilt from its config (no pickle)."""
    return load_model(run)[0]


__all__ = ["evaluate", "generate", "load", "make_config", "print_table", "train"]
