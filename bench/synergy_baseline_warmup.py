"""Choose the KL warm-up of the synergy baselines (the unimodal VAEs of G = (S - U) / U) on validation data.

U is shared by every row of a table, so it moves every gain at once: a baseline that trains badly makes every
multimodal row look synergistic. This trains the unimodal VAE of each modality of a benchmark's data set at its
cells' budget under each warm-up (and each share of it held at KL weight 0, `objective.warmup_hold`) and reports
U and the rate on VALIDATION items (the judges and noise the benchmark uses).

    python bench/synergy_baseline_warmup.py configs/benchmarks/sensor_fusion_table1_three_images.yaml \
        --out bench/runs/synergy-baseline-warmup --warmups 0 0.3 1 --threads 1
    python bench/synergy_baseline_warmup.py configs/benchmarks/sensor_fusion_table3_scenes.yaml \
        --out bench/runs/synergy-baseline-hold --warmups 1 --holds 0 0.1 0.25 0.5 0.75 --modalities image depth
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from fusevae.benchmark import Benchmark, BenchmarkConfig
from fusevae.checkpoint import load_model
from fusevae.metrics.synergy import baseline_rates, unimodal_config, unimodal_scores
from fusevae.train import fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="a benchmark config whose synergy baselines are in question")
    ap.add_argument("--out", required=True, help="folder for the baselines and the table")
    ap.add_argument("--warmups", type=float, nargs="+", default=[0.0, 0.3, 1.0], help="shares of the budget")
    ap.add_argument("--holds", type=float, nargs="+", default=[0.0], help="shares of the warm-up at KL weight 0")
    ap.add_argument("--modalities", nargs="+", default=None, help="only these modalities (default: every judged one)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = dataclasses.replace(BenchmarkConfig.load(args.config), split="valid")
    out = Path(args.out)
    bench = Benchmark(cfg, out)
    evaluator = bench.evaluator()
    judges = {m: j.net for m, j in evaluator.judges().items()}
    valid = evaluator.coherence_set  # the validation items, as many as the benchmark scores synergy on
    cell = bench.configs[next(iter(bench.configs))]  # every cell shares the data, networks and budget
    rows = []
    for w, h in [(w, h) for w in args.warmups for h in args.holds]:
        for m in args.modalities or judges:
            ucfg = unimodal_config(cell, m, hold=h)
            ucfg.objective.warmup_fraction, ucfg.objective.warmup_epochs = w, 0.0
            ucfg.train.threads = args.threads
            run = out / (f"unimodal-{m}-warmup{w:g}" + (f"-hold{h:g}" if h else ""))
            start = time.perf_counter()
            if not (run / "model.safetensors").exists():
                fit(
                    ucfg,
                    bench.data.select([m]),
                    run,
                    resume=(run / "checkpoints" / "last.ckpt").exists(),
                    progress=False,
                )
            seconds = time.perf_counter() - start
            model, _ = load_model(run)
            u = unimodal_scores({m: model}, valid, judges, bench.data.num_classes, seed=0)[m]
            rate = baseline_rates({m: model}, valid)[m]
            rows.append(
                {
                    "warm-up (share of the budget)": w,
                    "held at 0 (share of the warm-up)": h,
                    "modality": m,
                    "U (validation, micro)": u,
                    "rate (validation, nats)": rate,
                    "train s": seconds,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    n_train = min(cell.train.limit_train or len(bench.data.train), len(bench.data.train))
    _write(out, cfg, cell, rows, args, n_train)


def _write(out: Path, cfg: BenchmarkConfig, cell, rows: list[dict], args: argparse.Namespace, n_train: int) -> None:  # noqa: ANN001
    mods = list(dict.fromkeys(r["modality"] for r in rows))
    holds = args.holds != [0.0]
    command = (
        f"python bench/synergy_baseline_warmup.py {args.config} --out {args.out} --warmups "
        f"{' '.join(f'{w:g}' for w in args.warmups)}"
        + (f" --holds {' '.join(f'{h:g}' for h in args.holds)}" if holds else "")
        + (f" --modalities {' '.join(args.modalities)}" if args.modalities else "")
        + f" --threads {args.threads}"
    )
    lines = [
        "# The synergy baselines' KL warm-up, chosen on validation data",
        "",
        f"`{command}`",
        "",
        f"Data `{cfg.data}`; each modality's unimodal VAE as `metrics.synergy.unimodal_config` builds it for this "
        f"benchmark's cells (the modality's own networks and latent size, {cell.train.epochs:g} epochs of the first "
        f"{n_train:,} training items, beta 1, Adam {cell.train.lr:g}, "
        "batch 128, seed 0), only the KL warm-up changed"
        + (" (and the share of it held at KL weight 0 before it rises)" if holds else "")
        + f". U: judged accuracy (micro) of each model's reconstructions of {cfg.coherence_items:,} VALIDATION "
        "items (choosing a constant, not a result), by the benchmark's judges, noise seed 0"
        + ("; rate: E KL(q(z | x) || p(z)) on the same items, nats (under 0.1: collapsed)." if holds else "."),
        "",
        "| warm-up (share of the budget) | "
        + ("held at 0 (share of the warm-up) | " if holds else "")
        + " | ".join(f"U {m}" for m in mods)
        + (" | " + " | ".join(f"rate {m}" for m in mods) if holds else "")
        + " | train s (all) |",
        "|---|" + "---|" * (len(mods) * (2 if holds else 1) + 1 + holds),
    ]
    for w, h in [(w, h) for w in args.warmups for h in args.holds]:
        got = {
            r["modality"]: r
            for r in rows
            if r["warm-up (share of the budget)"] == w and r["held at 0 (share of the warm-up)"] == h
        }
        lines.append(
            f"| {w:g} | "
            + (f"{h:g} | " if holds else "")
            + " | ".join(f"{got[m]['U (validation, micro)']:.3f}" for m in mods)
            + (" | " + " | ".join(f"{got[m]['rate (validation, nats)']:.3f}" for m in mods) if holds else "")
            + f" | {sum(r['train s'] for r in got.values()):.0f} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
