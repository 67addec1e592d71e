"""SMVAE Table 1 on real MNIST for smvae and mvae at a fixed budget, with speed and memory.

    python bench/table1.py [--epochs 30] [--k 1000] [--n-test 10000] [--presets smvae mvae] [--results FILE]

Every preset of the library, at the foundation's budget (10 epochs, 1000 test items):

    python bench/table1.py --epochs 10 --n-test 1000 --out runs/bench_presets \
        --results bench/results/presets.md --presets mvae smvae mopoe rbcm bce rce mvae+ecg bce+ecg \
        rbcm+ecg bce+rmd bce+lcd mvae+lcd rbcm+lcd mmvae

Budget: 30 epochs of the 50k training set, batch 128, Adam 1e-3, 2 threads, then K=1000
importance samples on the whole 10k test set. Each preset runs in its own process (so
peak RSS is its own); finished presets are not redone. Writes bench/results/table1.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path


def _run(preset: str, epochs: int, k: int, n_test: int, out: str, queue: mp.Queue) -> None:
    import torch

    from fusevae import api

    torch.set_num_threads(2)
    run = Path(out) / preset
    t0 = time.perf_counter()
    api.train(preset, "mnist", run, epochs, [], progress=False)
    train_s = time.perf_counter() - t0
    rss_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t1 = time.perf_counter()
    table = api.evaluate(run, k=k, n_test=n_test, progress=False)
    eval_s = time.perf_counter() - t1
    table["bench"] = {
        "epochs": epochs,
        "seconds_per_epoch": train_s / epochs,
        "train_samples_per_second": 50000 * epochs / train_s,
        "peak_rss_mb_train": rss_train,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "eval_seconds": eval_s,
        "eval_points_per_second": table["setup"]["n"] / eval_s,
    }
    (run / "bench.json").write_text(json.dumps(table, indent=2))
    queue.put(preset)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--presets", nargs="+", default=["smvae", "mvae"])
    p.add_argument("--out", default="runs/bench_table1")
    p.add_argument("--results", default="bench/results/table1.md", help="Markdown table written here")
    a = p.parse_args()
    from fusevae import api
    from fusevae.metrics.likelihood import likelihood_markdown

    ctx = mp.get_context("spawn")
    rows = {}
    for preset in a.presets:
        done = Path(a.out) / preset / "bench.json"
        if not done.exists():
            q = ctx.Queue()
            proc = ctx.Process(target=_run, args=(preset, a.epochs, a.k, a.n_test, a.out, q))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                raise SystemExit(f"{preset}: benchmark process failed with exit code {proc.exitcode}")
        rows[preset] = json.loads(done.read_text())
    md = likelihood_markdown(rows)
    md += "\n| model | epochs | s/epoch (incl. validation) | training samples/s | peak RSS (MB) | eval points/s |\n"
    md += "|---|---|---|---|---|---|\n"
    for name, r in rows.items():
        b = r["bench"]
        md += (
            f"| {name} | {b['epochs']} | {b['seconds_per_epoch']:.1f} | {b['train_samples_per_second']:.0f} | "
            f"{b['peak_rss_mb']:.0f} | {b['eval_points_per_second']:.1f} |\n"
        )
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(md)
    print(api.print_table(rows))
    print(md.split("\n\n", 1)[1] if "\n\n" in md else md)


if __name__ == "__main__":
    main()
