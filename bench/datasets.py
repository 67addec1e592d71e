"""One short training run per data set: a trained preset's cross-generation figures and coherence.

    python bench/datasets.py [--sets fashion animal mnist-fashion-animal polymnist transforms scenes]
                             [--preset mopoe] [--epochs 3] [--limit-train 20000] [--n-test 2000]
                             [--epochs-for polymnist=6 transforms=6 scenes=20]

For each set: train the preset (the foundation's 512-512 MLP architecture, batch 128, Adam 1e-3,
2 threads) on the first `limit-train` training items (sets named in --epochs-for: their own epochs,
on up to 50k items), draw `cross_<modality>.png` (each image
modality generated from each other one and from all others; label_to_image.png for image + label
sets) into docs/figures/bench_<set>_*.png,
train (or load from the cache) a judge classifier per modality on the set's labels, and score
cross coherence on the first `n-test` test items: from each single other modality and from all
others, micro and macro accuracy, beside each judge's own test accuracy. Finished sets are not
redone. Writes bench/results/datasets.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def _bench_set(name: str, preset: str, epochs: int, limit_train: int, n_test: int, out: Path) -> dict:
    import torch

    from fusevae import api
    from fusevae.data import data_root, load_dataset
    from fusevae.metrics.classifier import load_or_fit_classifier
    from fusevae.metrics.coherence import cross_coherence

    torch.set_num_threads(2)
    run = out / name
    data = load_dataset(name)
    overrides = [f"train.limit_train={limit_train}", "train.limit_val=1000"]
    cfg = api.make_config(preset, name, overrides)
    t0 = time.perf_counter()
    api.train(cfg, out=run, epochs=epochs, progress=False)
    train_s = time.perf_counter() - t0
    model = api.load(run)
    figures = api.generate(run, n=8, model=model, data=data)
    for path in figures:
        if path.name != "reconstructions.png":  # cross generation, or label -> image for image + label sets
            shutil.copy(path, Path("docs/figures") / f"bench_{name}_{path.name}")
    cache = data_root() / "classifiers" / name
    judges = {  # a label modality is read by its own decoded class
        m: load_or_fit_classifier(data.train, data.test, m, data.num_classes, cache)
        for m in model.names
        if model.nets[m].cfg.kind != "label"
    }
    test = data.test.subset(n_test)
    subsets = [[m] for m in model.names] + [[o for o in model.names if o != t] for t in model.names]
    scores = cross_coherence(model, test, {m: j.net for m, j in judges.items()}, subsets=subsets)
    rows = []
    for t in model.names:
        singles = [s for s in scores if s.target == t and len(s.inputs) == 1]
        others = next(s for s in scores if s.target == t and len(s.inputs) == len(model.names) - 1)
        rows.append(
            {
                "target": t,
                "judge_micro": judges[t].accuracy if t in judges else None,
                "judge_macro": judges[t].macro_accuracy if t in judges else None,
                "single_micro": sum(s.micro for s in singles) / len(singles),
                "single_macro": sum(s.macro for s in singles) / len(singles),
                "others_micro": others.micro,
                "others_macro": others.macro,
            }
        )
    result = {
        "set": name,
        "preset": preset,
        "epochs": epochs,
        "train_items": min(limit_train, len(data.train)),
        "train_seconds": train_s,
        "n_test": len(test),
        "classes": data.num_classes,
        "rows": rows,
    }
    (run / "bench.json").write_text(json.dumps(result, indent=2))
    return result


def _markdown(results: list[dict]) -> str:
    lines = [
        "| set | preset | epochs x items | train s | generated modality | judge acc micro / macro | "
        "from one other (mean) micro / macro | from all others micro / macro |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for i, row in enumerate(r["rows"]):
            head = (
                f"| {r['set']} | {r['preset']} | {r['epochs']} x {r['train_items']:,} | {r['train_seconds']:.0f} |"
                if i == 0
                else "| | | | |"
            )
            judge = (
                "its own class"
                if row["judge_micro"] is None
                else f"{row['judge_micro']:.3f} / {row['judge_macro']:.3f}"
            )
            lines.append(
                f"{head} {row['target']} | {judge} | "
                f"{row['single_micro']:.3f} / {row['single_macro']:.3f} | "
                f"{row['others_micro']:.3f} / {row['others_macro']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sets", nargs="+", default=["fashion", "animal", "mnist-fashion-animal", "polymnist", "transforms", "scenes"]
    )
    p.add_argument("--preset", default="mopoe")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument(
        "--epochs-for",
        nargs="*",
        default=["polymnist=6", "transforms=6", "scenes=20"],
        metavar="SET=N",
        help="per-set epochs (colour sets need longer to leave chance-level coherence)",
    )
    p.add_argument("--limit-train", type=int, default=20000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--out", default="runs/bench_datasets")
    p.add_argument("--results", default="bench/results/datasets.md")
    a = p.parse_args()
    out = Path(a.out)
    epochs_for = {k: int(v) for k, v in (item.split("=") for item in a.epochs_for)}
    results = []
    for name in a.sets:
        done = out / name / "bench.json"
        if done.exists():
            results.append(json.loads(done.read_text()))
            print(f"{name}: done before, kept")
            continue
        limit = a.limit_train if name not in epochs_for else max(a.limit_train, 50_000)
        results.append(_bench_set(name, a.preset, epochs_for.get(name, a.epochs), limit, a.n_test, out))
        print(f"{name}: trained in {results[-1]['train_seconds']:.0f} s")
    table = _markdown(results)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# One short run per data set\n\n"
        f"`python bench/datasets.py` ({a.preset}, the foundation's MLP architecture, batch 128, Adam 1e-3, 2 threads, "
        "epochs x training items as listed; "
        f"coherence on the first {a.n_test} test items; judges are small CNNs trained 3 epochs on the full training "
        "set). Coherence: the class of the generated modality, read by its judge, against the item's label.\n\n"
    )
    Path(a.results).write_text(header + table)
    print(table)


if __name__ == "__main__":
    main()
