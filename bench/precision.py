"""What bf16 costs in accuracy: the SMVAE Table 1 of trained runs evaluated in float32 and in bf16.

    python bench/precision.py RUN [RUN ...] [--n-test 500] [--k 1000] [--results bench/results/precision.md]

The same test items and the same random seed are used for both precisions, so the differences
are those of the networks' bf16 matrix multiplies (densities are float32 in both).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from fusevae.checkpoint import load_model
from fusevae.data import load_dataset
from fusevae.metrics.likelihood import likelihood_table

COLUMNS = ("log p(image,label)", "log p(image)", "log p(image|label)")  # SMVAE Table 1 on (image, label) sets
PROPOSALS = ("q(z|image,label)", "q(z|image)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", default="bench/results/precision.md")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cols = [f"{c} from {q}".replace("|", "\\|") for q in PROPOSALS for c in COLUMNS]
    head = "| run | precision | seconds | " + " | ".join(cols)
    lines = [head + " |", "|---" * (3 + 2 * len(COLUMNS)) + "|"]
    for run in a.runs:
        model, cfg = load_model(run)
        ds = load_dataset(cfg.data)
        tables = {}
        for precision in ("32", "bf16"):
            torch.manual_seed(0)
            start = time.perf_counter()
            tables[precision] = likelihood_table(
                model, ds.test, ds.evaluation, k=a.k, n=a.n_test, progress=False, precision=precision
            )
            seconds = time.perf_counter() - start
            cells = [f"{tables[precision][q][c]:.3f}" for q in PROPOSALS for c in COLUMNS]
            lines.append(f"| {Path(run).name} | {precision} | {seconds:.1f} | " + " | ".join(cells) + " |")
        diff = [f"{tables['bf16'][q][c] - tables['32'][q][c]:+.3f}" for q in PROPOSALS for c in COLUMNS]
        lines.append(f"| {Path(run).name} | bf16 - 32 | | " + " | ".join(diff) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    note = f"K = {a.k}, first {a.n_test} test items, nats; same seed for both precisions.\n\n"
    Path(a.results).write_text(f"# bench/precision.py\n\n{note}{text}")


if __name__ == "__main__":
    main()
