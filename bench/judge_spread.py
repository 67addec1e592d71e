"""How much a coherence number moves when only its judge changes: trained runs scored by judges fitted from
several seeds (same data, epochs and architecture), one row per run and judge.

    python bench/judge_spread.py RUN [RUN ...] --judge-seeds 0 1 2 [--judges bench/judges] [--out FILE]

Coherence is read through a classifier, and a judge retrained on another machine, or from another seed, is
another classifier of about the same accuracy. This measures the share of a coherence difference that is the
judge's own: read a gap between two tables judged by different judges against the spread printed here.
Settings are the benchmarks': coherence on the first 2000 test items, joint coherence from 10,000 prior
samples, judges trained 3 epochs on all training items. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from fusevae.checkpoint import load_model
from fusevae.evaluation import EvaluationSettings, Evaluator
from fusevae.run_data import data_for_run


def _coherence_keys(metrics: dict[str, float]) -> list[str]:
    return [k for k in metrics if k == "joint coherence" or (k.startswith("coherence ") and k.endswith("(micro)"))]


def spread(runs: list[Path], seeds: list[int], judges: Path | None) -> str:
    """A markdown table: each run's coherence under each judge seed, and the spread (max - min) per metric."""
    lines: list[str] = []
    for run in runs:
        model, cfg = load_model(run)
        data = data_for_run(run, cfg.data, cfg.train.binarize)
        rows: dict[int, dict[str, float]] = {}
        accuracy: dict[int, str] = {}
        with tempfile.TemporaryDirectory() as cache:
            for s in seeds:
                settings = EvaluationSettings(coherence_items=2000, joint_samples=10_000, judge_seed=s)
                ev = Evaluator(data, cache, settings, judge_dir=judges if s == 0 and judges else cache)
                torch.manual_seed(0)
                rows[s], _ = ev.run(model, cfg, ["coherence"], seed=cfg.train.seed)
                accuracy[s] = ", ".join(f"{m} {a['micro']:.4f}" for m, a in ev.judge_accuracies().items())
        keys = _coherence_keys(rows[seeds[0]])
        grey = "binarised" if cfg.train.binarize else "grey levels"
        lines += [f"### {run} ({cfg.preset}, seed {cfg.train.seed}; {cfg.data}, {grey}, {cfg.train.epochs} epochs)", ""]
        lines += ["| judge seed | judge accuracy | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
        for s in seeds:
            lines.append(f"| {s} | {accuracy[s]} | " + " | ".join(f"{rows[s][k]:.4f}" for k in keys) + " |")
        gaps = [max(rows[s][k] for s in seeds) - min(rows[s][k] for s in seeds) for k in keys]
        lines += ["| spread (max - min) | | " + " | ".join(f"{g:.4f}" for g in gaps) + " |", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--judge-seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--judges", type=Path, default=None, help="shared judge folder for seed 0 (bench/judges)")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(2)
    text = spread(a.runs, a.judge_seeds, a.judges)
    header = (
        "# Coherence under judges from different seeds\n\n"
        f"`python bench/judge_spread.py {' '.join(map(str, a.runs))} --judge-seeds "
        f"{' '.join(map(str, a.judge_seeds))}`\n\n"
        "Each judge: fusevae's classifier, 3 epochs on all training items, fitted from the seed in the first column; "
        "coherence of the same trained model on the first 2000 test items, joint coherence from 10,000 prior "
        "samples (sampling seeds fixed, so only the judge differs).\n\n"
    )
    print(text)
    if a.out:
        a.out.write_text(header + text + "\n")


if __name__ == "__main__":
    main()
