"""Choose the KL warm-up of the synergy baselines (the unimodal VAEs of G = (S - U) / U) on validation data.

U is shared by every row of a table, so it moves every gain at once: a baseline that trains badly makes every
multimodal row look synergistic. This trains the unimodal VAE of each modality of a benchmark's data set at its
cells' budget under each warm-up and reports U on VALIDATION items (the judges and noise the benchmark uses).

    python bench/synergy_baseline_warmup.py configs/benchmarks/sensor_fusion_table1_three_images.yaml \
        --out bench/runs/synergy-baseline-warmup --warmups 0 0.3 1 --threads 1
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
from fusevae.metrics.synergy import unimodal_config, unimodal_scores
from fusevae.train import fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="a benchmark config whose synergy baselines are in question")
    ap.add_argument("--out", required=True, help="folder for the baselines and the table")
    ap.add_argument("--warmups", type=float, nargs="+", default=[0.0, 0.3, 1.0], help="shares of the budget")
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
    for w in args.warmups:
        for m in judges:
            ucfg = unimodal_config(cell, m)
            ucfg.objective.warmup_fraction, ucfg.objective.warmup_epochs = w, 0.0
            ucfg.train.threads = args.threads
            run = out / f"unimodal-{m}-warmup{w:g}"
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
            rows.append(
                {"warm-up (share of the budget)": w, "modality": m, "U (validation, micro)": u, "train s": seconds}
            )
            print(json.dumps(rows[-1]), flush=True)
    _write(out, cfg, cell, rows, args)


def _write(out: Path, cfg: BenchmarkConfig, cell, rows: list[dict], args: argparse.Namespace) -> None:  # noqa: ANN001
    mods = list(dict.fromkeys(r["modality"] for r in rows))
    lines = [
        "# The synergy baselines' KL warm-up, chosen on validation data",
        "",
        f"`python bench/synergy_baseline_warmup.py {args.config} --out {args.out} --warmups "
        f"{' '.join(f'{w:g}' for w in args.warmups)} --threads {args.threads}`",
        "",
        f"Data `{cfg.data}`; each modality's unimodal VAE as `metrics.synergy.unimodal_config` builds it for this "
        f"benchmark's cells (the modality's own networks and latent size, {cell.train.epochs:g} epochs of the first "
        f"{cell.train.limit_train:,} training items, beta 1, Adam {cell.train.lr:g}, batch 128, seed 0), only the KL "
        f"warm-up changed. U: judged accuracy (micro) of each model's reconstructions of {cfg.coherence_items:,} "
        "VALIDATION items (choosing a constant, not a result), by the benchmark's judges, noise seed 0.",
        "",
        "| warm-up (share of the budget) | " + " | ".join(f"U {m}" for m in mods) + " | train s (all) |",
        "|---|" + "---|" * (len(mods) + 1),
    ]
    for w in args.warmups:
        got = {r["modality"]: r for r in rows if r["warm-up (share of the budget)"] == w}
        lines.append(
            f"| {w:g} | "
            + " | ".join(f"{got[m]['U (validation, micro)']:.3f}" for m in mods)
            + f" | {sum(r['train s'] for r in got.values()):.0f} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
