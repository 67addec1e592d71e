"""How log p(x_B) of a conditional is estimated, side by side: q(z | x_B) alone ("own") against the equal mixture of
q(z | x_B) and q(z | all) ("mixture", the default), on trained runs (benchmark cells or `fusevae train` runs).

    python bench/conditioning_proposal.py RUN [RUN ...] --k 100 --n 200 --out bench/results/conditioning_proposal.md

Both estimators are unbiased for p(x_B); their logs are lower bounds in expectation, so the larger log p(x_B) is the
tighter, and a conditional log p(x_A | x_B) = log p(x_A, x_B) - log p(x_B) is too high by what log p(x_B) lacks.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from fusevae.api import data_for_run, load_model
from fusevae.metrics.likelihood import likelihood_table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--n", type=int, default=200, help="first n complete test items")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    lines = [
        "# log p(x_B) of the conditionals: q(z | x_B) alone against the mixture of q(z | x_B) and q(z | all)",
        "",
        f"`python bench/conditioning_proposal.py {' '.join(a.runs)} --k {a.k} --n {a.n}`. K = {a.k} importance "
        f"samples per item on the first {a.n} test items, the same seed (0) for both; nats. The joint row "
        "log p(X) from q(z | X) is the same for both; the conditionals are from that row.",
        "",
        "| run | conditioning | log p(x_B) for each B | conditionals log p(x_A \\| x_B) | seconds |",
        "|---|---|---|---|---|",
    ]
    for run in a.runs:
        model, cfg = load_model(run)
        ds = data_for_run(run, cfg.data, cfg.train.binarize, None, None, False)
        for how in ("own", "mixture"):
            torch.manual_seed(0)
            start = time.perf_counter()
            t = likelihood_table(model, ds.test, ds.evaluation, k=a.k, n=a.n, progress=False, conditioning=how)
            seconds = time.perf_counter() - start
            row = t[next(r for r in t if r.startswith("q(z|"))]
            pb = ", ".join(f"{k} {v['mean']:.1f}" for k, v in t.items() if k.startswith("log p("))
            conds = ", ".join(f"{k} {v:.1f}" for k, v in row.items() if "|" in k and not k.endswith(" se"))
            name = str(Path(run)).split("runs/")[-1]
            lines.append(f"| {name} | {how} | {pb} | {conds.replace('|', chr(92) + '|')} | {seconds:.0f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
