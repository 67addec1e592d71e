"""`fusevae benchmark CONFIG`: presets x seeds on one data set, one architecture and budget, one table.

Every cell of the grid trains a preset with the shared overrides and its seed, then measures (through
`fusevae.evaluation.Evaluator`) the importance-sampled likelihoods of the data's evaluation spec
(SMVAE Table 1 on (image, label) sets), cross and joint coherence
(judges cached per data set), synergy against cached unimodal VAEs, linear probes per subset, train
time and samples/s. A cell's results are written atomically when it ends; a rerun skips finished
cells and resumes an interrupted training from its last checkpoint, so a killed benchmark picks up
where it stopped. Results: `results.md` and `results.csv` (mean +- std over seeds), figures of the
first seed (cross generation or label -> image, latent maps) under `figures/`.

Several workers can share one folder: the same command run in several processes (or on several machines that see
the folder) takes the cells one at a time each, every cell held by one worker through a lock (`fusevae.locks`),
judges and unimodal baselines trained once; the last worker to finish writes the whole table.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .config import ConfigError, from_dict, warmup_length
from .locks import claimed, holding, is_held

STAGES = (
    "train",
    "likelihoods",
    "subset elbos",
    "coherence",
    "joint coherence of pairs",
    "presence",
    "synergy",
    "missing sensors",
    "cross error",
    "latent",
)


@dataclass
class BenchmarkConfig:
    """What a benchmark runs; shipped examples live in configs/benchmarks/."""

    name: str
    data: str
    presets: list[str]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    overrides: list[str] = field(default_factory=list)  # shared `key=value` config overrides (architecture, budget)
    preset_overrides: dict[str, list[str]] = field(default_factory=dict)  # extra overrides of single rows
    # rows run with other seeds than `seeds` (a table with 1 seed per row and 3 for the rows its claims rest on)
    preset_seeds: dict[str, list[int]] = field(default_factory=dict)
    # rows that are a preset with other constants (an ablation): row name -> the preset it builds on; the row's
    # changes go in preset_overrides under its name
    variants: dict[str, str] = field(default_factory=dict)
    k: int = 1000  # importance samples for the likelihoods
    n_test: int = 1000  # test items for the likelihoods (0: all)
    coherence_items: int = 2000  # test items for cross coherence and synergy (0: all)
    joint_samples: int = 10_000  # prior samples for joint coherence
    subset_elbos: bool = True  # M2VAE eq. 12: the ELBO of every modality under each subset's encoder
    elbo_k: int = 100  # samples of z per item for those ELBOs
    synergy: bool = True
    latent_maps: bool = True
    map_items: int = 1000  # test items in each t-SNE panel
    probe_items: int = 10_000  # training items the linear probes are fitted on
    judge_epochs: int = 3  # coherence judges: epochs on the training set ...
    judge_items: int = 0  # ... of its first n items (0: all) ...
    judge_arch: str = "flat"  # ... with this image body: "flat", or "pooled" for objects anywhere and of any size
    # folder the judges are kept in, shared by benchmarks and sessions (relative to the working directory; "" keeps
    # them in <out>/cache): judges retrained on another machine differ, so a table resumed elsewhere stays judged by
    # one set. The shipped configs use bench/judges, committed beside the results they scored.
    judges: str = ""
    # coherence with each sensor dropped from these shares of the test items (the sensor-fusion setting); [] skips it
    missing_rates: list[float] = field(default_factory=list)
    presence: bool = True  # AP of each presence attribute in generated data, where classes are bitmasks (scenes)
    cross_error: bool = False  # MSE of each real-valued modality generated from each other one and all others
    split: str = "test"  # the split scored: "valid" while choosing a constant (an ablation), never "test" for that
    # log p(x_B) of the likelihood table's conditionals: "mixture" of q(z | x_B) and q(z | x_X), or "own" q(z | x_B)
    conditioning: str = "mixture"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchmarkConfig:
        """Read a JSON or YAML benchmark config, naming any unknown or ill-typed field."""
        import yaml

        path = Path(path)
        where = f"benchmark config {str(path)!r}"
        if not path.is_file():
            raise ConfigError(f"{where}: no such file")
        text = path.read_text()
        try:
            data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        except (ValueError, yaml.YAMLError) as e:  # json.JSONDecodeError is a ValueError
            raise ConfigError(f"{where} does not parse: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
        cfg = from_dict(cls, data, str(path))
        if not cfg.presets or not cfg.seeds:
            raise ConfigError(f"{path}: a benchmark needs at least one preset and one seed")
        unknown = sorted(set(cfg.preset_overrides) - set(cfg.presets))
        if unknown:
            raise ConfigError(f"{path}: preset_overrides names presets {unknown} that the benchmark does not run")
        unknown = sorted(set(cfg.variants) - set(cfg.presets))
        if unknown:
            raise ConfigError(f"{path}: variants names rows {unknown} that are not in presets")
        unknown = sorted(set(cfg.preset_seeds) - set(cfg.presets))
        if unknown:
            raise ConfigError(f"{path}: preset_seeds names rows {unknown} that are not in presets")
        empty = sorted(p for p, s in cfg.preset_seeds.items() if not s)
        if empty:
            raise ConfigError(f"{path}: preset_seeds gives rows {empty} no seed")
        from .metrics.likelihood import CONDITIONING

        if cfg.conditioning not in CONDITIONING:
            raise ConfigError(f"{path}: conditioning must be one of {list(CONDITIONING)}, got {cfg.conditioning!r}")
        from .metrics.classifier import JUDGE_ARCHS

        if cfg.judge_arch not in JUDGE_ARCHS:
            raise ConfigError(f"{path}: judge_arch must be one of {list(JUDGE_ARCHS)}, got {cfg.judge_arch!r}")
        return cfg

    def seeds_of(self, preset: str) -> list[int]:
        """The seeds a row runs: its own `preset_seeds` entry, else the shared `seeds`."""
        return self.preset_seeds.get(preset, self.seeds)

    def seeds_text(self) -> str:
        """The seeds as a table header states them, naming the rows that run others."""
        own = "; ".join(f"{p}: {s}" for p, s in self.preset_seeds.items() if s != self.seeds)
        return f"{self.seeds}" + (f" ({own})" if own else "")


# how the keys of each metric that a finished cell may lack begin (metrics added to a config after it ran)
KEY_PREFIX = {
    "joint_pairs": "joint coherence ",
    "presence": "presence ",
    "cross_error": "error ",
    "missing": "missing ",
    "synergy": "synergy ",
    "subset_elbo": "ELBO q(z|",
}


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` so that no reader ever sees half of it."""
    part = path.with_name(f"{path.name}.{os.getpid()}.part")  # per process: workers may write one file at once
    part.write_text(text)
    os.replace(part, path)


def _write_json(path: Path, obj: Any) -> None:
    _write_whole(path, json.dumps(obj, indent=2))


@dataclass
class CellStatus:
    """One (preset, seed) cell of a benchmark folder: its state and the epochs its log shows done."""

    preset: str
    seed: int
    state: str  # finished | trained, scoring | training | not started
    epochs_done: int
    epochs: int
    held: bool = False  # a worker holds the cell now (False: finished, not started, or stopped and resumable)
    # seconds per training epoch: the pace of its last timed epochs (logs/epoch_seconds.csv) or, finished, its mean;
    # None where nothing was timed
    seconds_per_epoch: float | None = None
    estimated: bool = False  # seconds_per_epoch taken from the same preset's other cells (this one has no times)

    @property
    def seconds_left(self) -> float | None:
        """Training seconds left at that pace (scoring not included); 0 once trained."""
        if self.state in ("finished", "trained, scoring"):
            return 0.0
        return None if self.seconds_per_epoch is None else (self.epochs - self.epochs_done) * self.seconds_per_epoch


def _epochs_logged(metrics_csv: Path) -> int:
    """Epochs that finished their validation pass, from a run's CSV log (0 without one)."""
    if not metrics_csv.exists():
        return 0
    with open(metrics_csv, newline="") as f:
        done = {int(r["epoch"]) for r in csv.DictReader(f) if r.get("val/elbo")}
    return max(done) + 1 if done else 0


def _clock(seconds: float | None) -> str:
    """Seconds as h:mm (or m:ss under an hour)."""
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d} h" if s >= 3600 else f"{s // 60}:{s % 60:02d} min"


def status_table(cells: list[CellStatus]) -> str:
    """The cells as a markdown table, with how many are finished, how many a worker holds now, and the training
    time left at the pace measured so far."""
    lines = ["| preset | seed | state | epochs | s / epoch | training left | worker |", "|---|---|---|---|---|---|---|"]
    for c in cells:
        worker = "running" if c.held else ("stopped (resumes)" if c.state in ("training", "trained, scoring") else "")
        pace = "?" if c.seconds_per_epoch is None else f"{'~' * c.estimated}{c.seconds_per_epoch:.0f}"
        left = "" if c.state in ("finished", "trained, scoring") else f"{'~' * c.estimated}{_clock(c.seconds_left)}"
        lines.append(
            f"| {c.preset} | {c.seed} | {c.state} | {c.epochs_done} of {c.epochs} | {pace} | {left} | {worker} |"
        )
    finished = sum(c.state == "finished" for c in cells)
    running = sum(c.held for c in cells)
    lefts = [c.seconds_left for c in cells]
    known = sum(x for x in lefts if x is not None)
    unknown = sum(x is None for x in lefts)
    if unknown and unknown == len(cells) - finished:
        left = "Training left: not known yet (no unfinished cell has a timed epoch)."
    else:
        left = (
            f"Training left: {_clock(known)} of one worker's time at the paces measured (each cell at the threads it "
            "ran on; ~: from the same preset's other cells; scoring not included)"
            + (f", and {unknown} cell{'s' * (unknown > 1)} with no pace yet." if unknown else ".")
        )
    footer = [f"{finished} of {len(cells)} cells finished; {running} held by a worker now.", left]
    return "\n".join([*lines, "", *footer])


class Benchmark:
    """One benchmark folder: the config, a run per (preset, seed), caches, and the aggregated tables."""

    def __init__(
        self,
        cfg: BenchmarkConfig,
        out: str | os.PathLike[str],
        data_dir: str | None = None,
        data: Any = None,
        threads: int | None = None,
    ) -> None:
        """`data`: a MultimodalData to run on instead of the registered set or spec file `cfg.data`.
        `threads`: torch threads of this worker's cells, in place of the config's `train.threads` (how a cell is
        run, not what it computes: a cell resumed with another count is the same cell)."""
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        from . import api
        from .run_data import open_data

        self.cfg, self.out, self.data_dir = cfg, Path(out), data_dir
        self._data = None
        self._evaluator = None
        user = data
        if user is None and not api._registered(cfg.data):
            user = open_data(cfg.data, data_dir)  # a data spec file: its modalities shape the configs
        self.configs = {}
        for preset in cfg.presets:  # every cell's config is built (and checked) before anything trains
            for seed in cfg.seeds_of(preset):
                extra = [*cfg.overrides, *cfg.preset_overrides.get(preset, []), f"train.seed={seed}"]
                extra += [f"train.threads={threads}"] if threads is not None else []
                base = cfg.variants.get(preset, preset)
                self.configs[preset, seed] = api.make_config(base, user if user is not None else cfg.data, extra)
        self._user = user

    @property
    def data(self):  # noqa: ANN201 - MultimodalData, loaded on first use
        if self._data is None:
            from .run_data import open_data

            first = next(iter(self.configs.values()))
            source = self._user if self._user is not None else self.cfg.data
            self._data = open_data(source, self.data_dir, binarize=first.train.binarize)
        return self._data

    def run_dir(self, preset: str, seed: int) -> Path:
        return self.out / "runs" / preset.replace("+", "_") / f"seed{seed}"

    def done(self, preset: str, seed: int) -> bool:
        return (self.run_dir(preset, seed) / "benchmark.json").exists()

    def status(self) -> list[CellStatus]:
        """Where each cell stands, read from its folder without loading data or models (safe beside a running
        benchmark): finished, trained and being scored, training (epochs done, from its log), or not started."""
        from .epoch_clock import EpochTimes

        cells = []
        for (preset, seed), cfg in self.configs.items():
            run, epochs = self.run_dir(preset, seed), cfg.train.epochs
            held = is_held(run)
            pace = EpochTimes.read(run).per_epoch()
            if self.done(preset, seed) or (run / "model.safetensors").exists():
                state = "finished" if self.done(preset, seed) else "trained, scoring"
                stats = run / "train_stats.json"
                if stats.exists():
                    pace = json.loads(stats.read_text())["train_seconds"] / epochs
                cells.append(CellStatus(preset, seed, state, epochs, epochs, held and state != "finished", pace))
            elif (run / "checkpoints" / "last.ckpt").exists() or (run / "logs" / "metrics.csv").exists():
                done = _epochs_logged(run / "logs" / "metrics.csv")
                cells.append(CellStatus(preset, seed, "training", done, epochs, held, pace))
            else:
                cells.append(CellStatus(preset, seed, "training" if held else "not started", 0, epochs, held, pace))
        paces: dict[str, list[float]] = {}
        for c in cells:
            if c.seconds_per_epoch is not None:
                paces.setdefault(c.preset, []).append(c.seconds_per_epoch)
        return [
            replace(c, seconds_per_epoch=statistics.median(paces[c.preset]), estimated=True)
            if c.seconds_per_epoch is None and c.preset in paces
            else c
            for c in cells
        ]

    def check_finished(self) -> None:
        """Refuse a folder whose finished cells were trained under another config than this one builds.

        Finished cells are kept (and may be committed, `bench/runs/`) across sessions; a config edited since
        would otherwise mix two protocols in one table. Names the cell and the fields that differ.
        """
        for (preset, seed), cfg in self.configs.items():
            stored = self.run_dir(preset, seed) / "config.json"
            if not stored.exists():
                continue
            old = _comparable(_with_defaults(json.loads(stored.read_text())))
            diff = _differences(old, _comparable(json.loads(cfg.to_json())))
            if diff:
                raise ConfigError(
                    f"{self.out}: cell {preset} seed {seed} was run under another config ({'; '.join(diff[:6])}"
                    f"{'; ...' if len(diff) > 6 else ''}); give another --out or remove {self.run_dir(preset, seed)}"
                )

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Run every unfinished cell that no other worker holds, then write and return the aggregated table.

        The result's "elsewhere" lists the cells another worker held, which the table lacks if they were
        still running when this worker finished."""
        self.check_finished()
        self.out.mkdir(parents=True, exist_ok=True)
        _write_json(self.out / "benchmark_config.json", asdict(self.cfg))
        cells = list(self.configs)
        todo = [c for c in cells if not self.done(*c)]
        bar = tqdm(
            total=len(cells) * len(STAGES),
            initial=(len(cells) - len(todo)) * len(STAGES),
            desc=self.cfg.name,
            disable=not progress,
            unit="stage",
        )
        elsewhere = []
        for preset, seed in todo:
            with claimed(self.run_dir(preset, seed)) as mine:
                if not mine:  # another worker is on it
                    elsewhere.append((preset, seed))
                    bar.update(len(STAGES))
                elif not self.done(preset, seed):  # another worker may have finished it since the list was made
                    self._cell(preset, seed, bar)
        bar.close()
        for preset, seed in cells:
            if (preset, seed) not in todo:
                with claimed(self.run_dir(preset, seed)) as mine:
                    if mine:
                        self._fill_in(preset, seed)
        return {**self.write_tables(), "elsewhere": elsewhere}

    def _fill_in(self, preset: str, seed: int) -> None:
        """Score a finished cell on the metrics the config asks for that its record lacks (a metric added since),
        from the cell's saved model (a cell whose model is not on this machine keeps its record as it is), and
        bring its synergy gains up to date with the folder's unimodal baselines."""
        from .checkpoint import load_model
        from .evaluation import check_metrics

        run = self.run_dir(preset, seed)
        record = json.loads((run / "benchmark.json").read_text())
        asked = check_metrics(self._metrics(), self.data)
        lacking = [
            m for m in asked if m in KEY_PREFIX and not any(k.startswith(KEY_PREFIX[m]) for k in record["metrics"])
        ]
        changed = "synergy" in asked and self._refresh_synergy(record["metrics"], preset, seed)
        if lacking and (run / "model.safetensors").exists():
            model, _ = load_model(run)
            metrics, _ = self.evaluator().run(model, self.configs[preset, seed], lacking, seed=seed)
            record["metrics"].update(metrics)
            changed = True
        if changed:
            _write_json(run / "benchmark.json", record)

    def _refresh_synergy(self, metrics: dict[str, float], preset: str, seed: int) -> bool:
        """Bring a finished cell's synergy U and G = (S - U) / U up to date with the folder's unimodal baselines.

        The baselines are shared by every row and retrained where the folder's cache is not (another machine,
        a constant of theirs changed); a cell keeps its S (its own model's score), so its gain stays comparable
        with the rows scored since. True where a value changed."""
        suffix = ": S from all"
        parts = {
            k[len("synergy ") : -len(suffix)]: v
            for k, v in metrics.items()
            if k.startswith("synergy ") and k.endswith(suffix)
        }
        if not parts:
            return False
        from .metrics.synergy import gain_of

        fresh = self.evaluator().baseline_scores(self.configs[preset, seed], list(parts), seed=seed)
        changed = False
        for m, s in parts.items():
            u, rate, hold = fresh[m]
            gain = gain_of(s, u, rate)
            if (
                metrics.get(f"synergy {m}: U unimodal") != u
                or metrics.get(f"synergy {m}: baseline rate (nats)") != rate
                or metrics.get(f"synergy {m}: baseline KL hold") != hold
                or metrics.get(f"synergy {m}") != gain
            ):
                metrics[f"synergy {m}: U unimodal"], metrics[f"synergy {m}: baseline rate (nats)"] = u, rate
                metrics[f"synergy {m}: baseline KL hold"] = hold
                if gain is None:  # a collapsed baseline: no G, whatever an earlier scoring wrote
                    metrics.pop(f"synergy {m}", None)
                else:
                    metrics[f"synergy {m}"] = gain
                changed = True
        return changed

    def evaluator(self):  # noqa: ANN201 - Evaluator over this benchmark's data, judges cached in the folder
        from .evaluation import EvaluationSettings, Evaluator

        if self._evaluator is None:
            c = self.cfg
            settings = EvaluationSettings(
                k=c.k,
                n_test=c.n_test,
                coherence_items=c.coherence_items,
                joint_samples=c.joint_samples,
                elbo_k=c.elbo_k,
                map_items=c.map_items,
                probe_items=c.probe_items,
                judge_epochs=c.judge_epochs,
                judge_items=c.judge_items,
                judge_arch=c.judge_arch,
                split=c.split,
                missing_rates=tuple(c.missing_rates),
                conditioning=c.conditioning,
            )
            self._evaluator = Evaluator(self.data, self.out / "cache", settings, judge_dir=c.judges or None)
        return self._evaluator

    def _metrics(self) -> list[str]:
        from .evaluation import METRICS

        c = self.cfg
        wanted = {
            "subset_elbo": c.subset_elbos,
            "synergy": c.synergy,
            "latent": c.latent_maps,
            "missing": bool(c.missing_rates),
            "joint_pairs": len(self.data.names) >= 3,
            "presence": c.presence and bool(self.data.class_bits),
            "cross_error": c.cross_error,
        }
        return [m for m in METRICS if wanted.get(m, True)]

    def _cell(self, preset: str, seed: int, bar: tqdm) -> None:
        from . import api
        from .checkpoint import load_model
        from .evaluation import check_metrics

        cfg, run = self.configs[preset, seed], self.run_dir(preset, seed)
        first_seed = seed == self.cfg.seeds_of(preset)[0]

        def stage(name: str) -> None:
            bar.set_postfix_str(f"{preset} seed {seed}: {name}")

        stage("train")
        if not (run / "model.safetensors").exists():
            resume = (run / "checkpoints" / "last.ckpt").exists()
            api.train(cfg, data=self.data, out=run, resume=resume, progress=False, data_dir=self.data_dir)
        # a trained cell is its model.safetensors: its Lightning checkpoints (model and optimiser, tens of MB each)
        # were only there to resume training, and the run folder's .gitignore lets an unfinished one travel
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        stats = json.loads((run / "train_stats.json").read_text())
        model, _ = load_model(run)
        bar.update()
        ev = self.evaluator()
        asked = check_metrics(self._metrics(), self.data)
        map_path = self.out / "figures" / f"latent_{preset.replace('+', '_')}_seed{seed}.png" if first_seed else None

        metrics, table = ev.run(model, cfg, asked, seed=seed, map_path=map_path, on_stage=stage)
        bar.update(len(STAGES) - 1)
        metrics["train s"] = stats["train_seconds"]
        metrics["samples/s"] = stats["samples_per_second"]
        if table:
            _write_json(run / "results.json", table)
        if first_seed:
            for p in api.generate(run, data_dir=self.data_dir, model=model, data=self.data, n=8):
                target = self.out / "figures" / f"{preset.replace('+', '_')}_{p.name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(p.read_bytes())
        judges = ev.judge_accuracies()
        _write_json(run / "benchmark.json", {"preset": preset, "seed": seed, "metrics": metrics, "judges": judges})

    def write_tables(self) -> dict[str, Any]:
        """results.csv (every metric: mean, std, n, values) and results.md (mean +- std) from finished cells."""
        rows: dict[str, dict[str, list[float]]] = {}
        judges: dict[str, Any] = {}
        judge_sets: list[tuple[dict[str, Any], list[str]]] = []  # each set of judges and the cells it scored
        missing = []
        scaled: list[str] = []  # cells with epochs trained before per-epoch timing: train s extrapolated
        conditioning: dict[str, list[str]] = {}  # how each cell estimated log p(x_B) of its conditionals -> cells
        for preset, seed in self.configs:
            path = self.run_dir(preset, seed) / "benchmark.json"
            if not path.exists():
                missing.append(f"{preset} seed {seed}")
            else:
                result = json.loads(path.read_text())
                # the judges' identity is their test accuracy; the grey-level scores are derived from them (and
                # were added later: a cell scored before has none, one of the same judges after has them)
                ident = _ident(result["judges"])
                derived = {m: a for m, a in judges.items() if "micro_levels" in a} if ident == _ident(judges) else {}
                judges = {m: {**derived.get(m, {}), **a} for m, a in result["judges"].items()}
                cells = next((c for j, c in judge_sets if j == ident), None)
                if cells is None:
                    judge_sets.append((ident, cells := []))
                cells.append(f"{preset} seed {seed}")
                stats_path = self.run_dir(preset, seed) / "train_stats.json"
                stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
                if stats.get("epochs_timed", stats.get("epochs", 0)) < stats.get("epochs", 0):
                    scaled.append(f"{preset} seed {seed} ({stats['epochs_timed']} of {stats['epochs']})")
                for k, v in result["metrics"].items():
                    rows.setdefault(preset, {}).setdefault(k, []).append(float(v))
                how = _conditioning_of(self.run_dir(preset, seed) / "results.json")
                if how:
                    conditioning.setdefault(how, []).append(f"{preset} seed {seed}")
        table = io.StringIO(newline="")
        w = csv.writer(table)
        w.writerow(["preset", "metric", "mean", "std", "n", "values"])
        for preset, metrics in rows.items():
            for k, vals in metrics.items():
                mean, std = _mean_std(vals)
                w.writerow([preset, k, f"{mean:.6g}", f"{std:.6g}", len(vals), " ".join(f"{v:.6g}" for v in vals)])
        first = next(iter(self.configs.values()))
        notes = []
        if missing:
            notes.append(
                f"**Incomplete: {len(self.configs) - len(missing)} of {len(self.configs)} cells finished** "
                f"(not yet: {', '.join(missing)}); not a finished table."
            )
        if len(judge_sets) > 1:  # judges retrained between cells (a new machine) and not bit-identical
            notes.append(
                "The cells were judged by judges trained more than once (judges refitted on another machine are "
                "other classifiers of about the same accuracy), whose accuracies differ: "
                + "; ".join(
                    ", ".join(f"{m} {a['micro']:.4f}" for m, a in j.items()) + f" for {', '.join(c)}"
                    for j, c in judge_sets
                )
                + ". `bench/judge_spread.py` measures how far coherence moves when only the judge changes."
            )
        if conditioning:
            notes.append(_conditioning_note(conditioning))
        if scaled:
            notes.append(
                "Training seconds of cells not timed over every epoch (timed epochs of all: the others were trained "
                "before fusevae kept each epoch's time), extrapolated from the timed ones, or with none timed the "
                f"last session's seconds only: {', '.join(scaled)}."
            )
        per_row = {preset: c for (preset, _), c in self.configs.items()}
        text = _markdown(self.cfg, rows, judges, protocol(self.cfg, first, per_row), notes)
        with holding(self.out / "results.md"):  # workers finishing together: each writes whole files, one at a time
            _write_whole(self.out / "results.csv", table.getvalue())
            _write_whole(self.out / "results.md", text)
        return {"rows": rows, "judges": judges}


def _ident(judges: dict[str, Any]) -> dict[str, Any]:
    """Judges' test accuracies (micro, macro), by which cells judged by the same classifiers are recognised."""
    return {m: {k: a[k] for k in ("micro", "macro")} for m, a in judges.items()}


def _mean_std(vals: list[float]) -> tuple[float, float]:
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return mean, std


def _fmt(vals: list[float] | None, digits: int) -> str:
    if not vals:
        return "-"
    mean, std = _mean_std(vals)
    return f"{mean:.{digits}f} +- {std:.{digits}f}" if len(vals) > 1 else f"{mean:.{digits}f}"


WIDE = 12  # a group with more metrics than this is written with presets as columns


def protocol(cfg: BenchmarkConfig, run: Any, rows: dict[str, Any] | None = None) -> str:
    """The protocol line every table carries: data and its likelihood scale, budget, K, test items, seeds.

    `rows` (row name -> its config): rows whose batch differs from `run`'s are named with their own.
    """
    bernoulli = [m.name for m in run.model.modalities if m.likelihood == "bernoulli"]
    if not bernoulli:
        scale = ""
    elif run.train.binarize:
        scale = (
            f" ({', '.join(bernoulli)} binarised: training images binarised afresh at every draw, validation and test "
            "binarised once with a fixed seed)"
        )
    else:
        scale = (
            f" ({', '.join(bernoulli)} as grey levels under a Bernoulli likelihood, which is not a normalised "
            "density there: its log-likelihoods are not comparable with binarised results)"
        )
    limit = f" (first {run.train.limit_train:,} training items)" if run.train.limit_train else ""
    items = "validation items (choosing constants, not a result)" if cfg.split == "valid" else "test items"
    other = {n: r.train.batch_size for n, r in (rows or {}).items() if r.train.batch_size != run.train.batch_size}
    batch = f"{run.train.batch_size}" + (f" ({', '.join(f'{n} {b}' for n, b in other.items())})" if other else "")
    return (
        f"Protocol: data `{cfg.data}`{scale}; budget {run.train.epochs} epochs{limit}, batch "
        f"{batch}, {run.train.optimizer} lr {run.train.lr:g}; seeds {cfg.seeds_text()}; log-likelihoods "
        f"by fusevae's importance sampler with K = {cfg.k} on {cfg.n_test or 'all'} {items}; coherence on "
        f"{cfg.coherence_items or 'all'} {items}, joint coherence from {cfg.joint_samples:,} prior samples, "
        f"judged by fusevae's classifiers ({cfg.judge_epochs} epochs on "
        f"{f'the first {cfg.judge_items:,}' if cfg.judge_items else 'all'} training items"
        f"{'; images by the pooled body' if cfg.judge_arch == 'pooled' else ''})."
    )


def _with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored run config as JSON with the fields added to the library since it was written at their defaults,
    which by the library's rule keep the earlier behaviour (so old cells stay valid until a value really differs)."""
    from .config import ConfigError, ExperimentConfig

    try:
        return json.loads(ExperimentConfig.from_dict(stored).to_json())
    except ConfigError:  # a config this library can no longer read differs in what it cannot read
        return stored


# how a run is executed, not what it computes: a cell resumed with another thread count or checkpoint interval
# is the same cell
_EXECUTION_ONLY = ("threads", "checkpoint_every_steps", "checkpoint_every_minutes")


def _comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    """A run config as JSON, reduced to what decides its results: the KL warm-up as its length in epochs (a share of
    10 epochs and a fixed 10 epochs are one schedule), without the execution-only train fields."""
    out = copy.deepcopy(cfg)
    train, objective = out.get("train", {}), out.get("objective", {})
    for key in _EXECUTION_ONLY:
        train.pop(key, None)
    if "epochs" in train and objective:
        length = warmup_length(objective.get("warmup_fraction") or 0.0, objective.get("warmup_epochs") or 0.0,
                               train["epochs"])  # fmt: skip
        objective["warmup_epochs"], objective["warmup_fraction"] = length, 0.0
    return out


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Paths at which two JSON values differ, as `path: old -> new`."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new)) for d in _differences(old.get(k), new.get(k), f"{where}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _differences(a, b, f"{where}[{i}]")]
    return [] if old == new else [f"{where.lstrip('.')}: {old!r} -> {new!r}"]


def _conditioning_of(results: Path) -> str:
    """How a cell estimated log p(x_B) of its conditionals: "mixture", "own", or "" (none, or only from the prior)."""
    if not results.exists():
        return ""
    hows = json.loads(results.read_text()).get("setup", {}).get("conditioning proposals", {}).values()
    if any(h.startswith("mixture") for h in hows):
        return "mixture"
    return "own" if any(h.startswith("q(z|") for h in hows) else ""


CONDITIONING_TEXT = {
    "mixture": "the equal mixture of q(z | x_B) and q(z | all) (`conditioning: mixture`)",
    "own": "q(z | x_B) alone (`conditioning: own`). Where a model's q(z | x_B) is far from its posterior (a model "
    "trained only on complete items), log p(x_B) from it comes out many nats low and the conditional as many too high, "
    "above 0 for discrete data: such a conditional says the subset encoder is poor, not what the model predicts",
}


def _conditioning_note(cells: dict[str, list[str]]) -> str:
    """The results' line on how each conditional log p(x_A | x_B) = log p(x_A, x_B) - log p(x_B) was estimated."""
    head = "Conditionals log p(x_A | x_B) = log p(x_A, x_B) - log p(x_B), log p(x_B) importance-sampled from "
    if len(cells) == 1:
        return head + CONDITIONING_TEXT[next(iter(cells))] + "."
    return head + "; ".join(f"{CONDITIONING_TEXT[h]} for {', '.join(c)}" for h, c in cells.items()) + "."


def _markdown(
    cfg: BenchmarkConfig,
    rows: dict[str, dict[str, list[float]]],
    judges: dict[str, Any],
    protocol_line: str = "",
    notes: list[str] | None = None,
) -> str:
    """Tables grouped by kind of metric, presets as rows, mean +- std over the finished seeds."""
    metrics = list(dict.fromkeys(k for m in rows.values() for k in m))
    groups = [
        (f"Log-likelihoods (nats, K = {cfg.k})", [k for k in metrics if k.startswith("log p")], 2),
        (
            f"ELBO of every modality under each subset's encoder (M2VAE eq. 12, nats, K = {cfg.elbo_k})",
            [k for k in metrics if k.startswith("ELBO q(z|")],
            2,
        ),
        (
            "Cross coherence by number of inputs (mean over every subset of that size and every target)",
            [k for k in metrics if k.startswith("coherence from ")],
            3,
        ),
        (
            "Cross coherence",
            [k for k in metrics if k.startswith("coherence") and not k.startswith("coherence from ")],
            3,
        ),
        (
            "Presence AP of generated data (each attribute's presence probability from the judge, average precision)",
            [k for k in metrics if k.startswith("presence ")],
            3,
        ),
        (
            "Joint coherence and synergy gain",
            [k for k in metrics if k.startswith("joint coherence") or k.startswith("synergy")],
            3,
        ),
        (
            "Coherence with a sensor missing from a share of the test items (each item encoded from what it has)",
            [k for k in metrics if k.startswith("missing ")],
            3,
        ),
        (
            "Cross-reconstruction error (mean squared error per element of the generated mean; from itself: "
            "the plain reconstruction)",
            [k for k in metrics if k.startswith("error ")],
            4,
        ),
        ("Linear probes on posterior means (test accuracy)", [k for k in metrics if k.startswith("probe")], 3),
        ("Cost", ["train s", "samples/s"], 0),
    ]
    seeds = {p: max((len(v) for v in m.values()), default=0) for p, m in rows.items()}
    out = [
        f"# {cfg.name}\n",
        f"Data `{cfg.data}`; presets {', '.join(cfg.presets)}; seeds {cfg.seeds_text()}; "
        f"overrides `{' '.join(cfg.overrides)}`. Mean +- sample std over the finished seeds ("
        + ", ".join(f"{p}: {n}" for p, n in seeds.items())
        + ").\n",
    ]
    out.extend(n + "\n" for n in notes or [])
    if protocol_line:
        out.append(protocol_line + "\n")
    rows_changed = [p for p in cfg.presets if p in cfg.variants or p in cfg.preset_overrides]
    if rows_changed:
        out.append(
            "Rows that change a preset: "
            + "; ".join(
                f"{p} = {cfg.variants.get(p, p)} with `{' '.join(cfg.preset_overrides.get(p, [])) or 'no change'}`"
                for p in rows_changed
            )
            + ".\n"
        )
    if judges:
        out.append(
            "Judges (test accuracy micro / macro): "
            + ", ".join(f"{m} {a['micro']:.3f} / {a['macro']:.3f}" for m, a in judges.items())
            + ".\n"
        )
        factored = {m: {k[7:]: v for k, v in a.items() if k.startswith("factor ")} for m, a in judges.items()}
        if any(factored.values()):
            out.append(
                "Judges on each factor of the class (real test items, micro; the bound of that factor's coherence "
                "judged on the modality): "
                + "; ".join(
                    f"{m} " + ", ".join(f"{f} {v:.3f}" for f, v in fs.items()) for m, fs in factored.items() if fs
                )
                + ".\n"
            )
        grey = {m: a for m, a in judges.items() if "micro_levels" in a}
        if grey:
            out.append(
                "Judges on the grey levels the once-binarised test images were drawn from (the scale of the decoded "
                "Bernoulli means they score; micro / macro): "
                + ", ".join(f"{m} {a['micro_levels']:.3f} / {a['macro_levels']:.3f}" for m, a in grey.items())
                + ".\n"
            )
    for title, keys, digits in groups:
        keys = [k for k in keys if any(k in m for m in rows.values())]
        if not keys:
            continue
        out.append(f"## {title}\n")
        if len(keys) <= WIDE:
            out.append("| preset | " + " | ".join(k.replace("|", "\\|") for k in keys) + " |")
            out.append("|---|" + "---|" * len(keys))
            for preset, m in rows.items():
                out.append(f"| {preset} | " + " | ".join(_fmt(m.get(k), digits) for k in keys) + " |")
        else:  # many metrics (every subset of 5 modalities): one row per metric, one column per preset
            out.append("| metric | " + " | ".join(rows) + " |")
            out.append("|---|" + "---|" * len(rows))
            for k in keys:
                cells = " | ".join(_fmt(m.get(k), digits) for m in rows.values())
                out.append(f"| {k.replace('|', chr(92) + '|')} | {cells} |")
        out.append("")
    return "\n".join(out) + "\n"


def benchmark_folder(cfg: BenchmarkConfig, out: str | os.PathLike[str] | None = None) -> Path:
    """`out`, else the default folder of a benchmark: runs/benchmarks/<name>."""
    return Path(out or Path("runs") / "benchmarks" / cfg.name)


def run_benchmark(
    config: str | os.PathLike[str] | BenchmarkConfig,
    out: str | os.PathLike[str] | None = None,
    data_dir: str | None = None,
    progress: bool = True,
    data: Any = None,
    threads: int | None = None,
) -> Path:
    """Run (or resume) a benchmark; returns its folder (default runs/benchmarks/<name>).

    `data` (a MultimodalData) runs it on a user's data object instead of `config.data`; `threads` sets this
    worker's torch threads (see `Benchmark`). Cells another worker holds are left to it and named on stderr.
    """
    cfg = config if isinstance(config, BenchmarkConfig) else BenchmarkConfig.load(config)
    folder = benchmark_folder(cfg, out)
    started = time.perf_counter()
    result = Benchmark(cfg, folder, data_dir, data, threads=threads).run(progress=progress)
    if result["elsewhere"]:
        cells = ", ".join(f"{p} seed {s}" for p, s in result["elsewhere"])
        print(f"{cfg.name}: left to the workers that hold them: {cells}", file=sys.stderr)
    if progress:
        print(f"{cfg.name}: {time.perf_counter() - started:.0f} s; tables in {folder}/results.md and results.csv")
    return folder
