"""What makes the set model train well: SMVAE variants at a fixed budget on real MNIST.

    python bench/smvae_ablation.py [--epochs 10] [--n-test 1000] [--k 1000] [--only NAME ...]

Each variant is the smvae preset plus --set overrides; prints a Table 1-style row per
variant (proposal q(z|x,y) and q(z|x)) and writes bench/results/smvae_ablation.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import torch

from fusevae import api
from fusevae.metrics.likelihood import likelihood_markdown

_PRESENT = ["objective.reconstruct=present", "objective.l2=0"]

VARIANTS: dict[str, tuple[str, list[str]]] = {
    # the first seven reconstruct every present modality and use no L2 term
    "eq3-4 literal, lambda=50": ("smvae", ["objective.include_full=false"] + _PRESENT),
    "eq3-4 literal, lambda=1": ("smvae", ["objective.include_full=false", "objective.weights.label=1"] + _PRESENT),
    "+ full set, lambda=50": ("smvae", _PRESENT),
    "+ full set, lambda=1": ("smvae", ["objective.weights.label=1"] + _PRESENT),
    "+ full set, lambda=50, no warm-up": ("smvae", ["objective.warmup_epochs=0"] + _PRESENT),
    "+ full set, lambda=50, L2 1e-3": ("smvae", ["objective.l2=0.001", "objective.reconstruct=present"]),
    "+ full set, lambda=50, recon inputs only": ("smvae", ["objective.reconstruct=subset", "objective.l2=0"]),
    "+ full set, lambda=50, recon inputs, L2 1e-3 (preset)": ("smvae", []),
    "mvae preset (reference)": ("mvae", []),
}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--out", default="runs/ablation")
    p.add_argument("--only", nargs="*", default=None)
    a = p.parse_args()
    torch.set_num_threads(2)
    rows = {}
    for name, (preset, sets) in VARIANTS.items():
        if a.only and not any(o in name for o in a.only):
            continue
        run = Path(a.out) / slug(name)
        done = run / "results.json"
        if not done.exists():
            t = time.perf_counter()
            api.train(preset, "mnist", run, a.epochs, sets, progress=False)
            api.evaluate(run, k=a.k, n_test=a.n_test, progress=False, figures=False)
            print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
        rows[name] = json.loads(done.read_text())
        rows[name]["sets"] = sets
    md = likelihood_markdown(rows)
    md += "\nOverrides per row:\n" + "\n".join(f"- {n}: `{' '.join(r['sets']) or '(preset)'}`" for n, r in rows.items())
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/smvae_ablation.md").write_text(md + "\n")
    print(api.print_table(rows))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
