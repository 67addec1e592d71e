"""The command line: fusevae train | evaluate | generate | presets | data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import api
from .data import data_root, fetch_dataset, registered_datasets
from .fusion import FUSIONS
from .objectives import ESTIMATORS, OBJECTIVES
from .presets import CONSTANTS, Constants, describe_presets


def _train(a: argparse.Namespace) -> None:
    run = api.train(
        a.preset,
        a.data,
        a.out,
        a.epochs,
        a.set,
        a.data_dir,
        resume=a.resume,
        progress=not a.no_progress,
        fusion=a.fusion,
        scheme=a.scheme,
        estimator=a.estimator,
        accept_changed_data=a.accept_changed_data,
    )
    if not api.is_main_process():
        return  # a distributed run's other ranks stop after training
    stats = json.loads((run / "train_stats.json").read_text())
    speed = f"{stats['samples_per_second']:.0f} samples/s"
    print(f"trained {run.name} in {stats['train_seconds']:.0f} s ({speed}); run: {run}")
    if not a.no_eval:
        _report(run, a, ["likelihood"])


def _report(run: Path, a: argparse.Namespace, metrics: list[str]) -> None:
    table = api.evaluate(
        run,
        k=a.k,
        n_test=a.n_test,
        data_dir=a.data_dir,
        progress=not a.no_progress,
        precision=a.eval_precision,
        accept_changed_data=a.accept_changed_data,
        metrics=metrics,
        proposals=[[m for m in p.split(",") if m] for p in getattr(a, "proposal", [])],
        conditioning=getattr(a, "conditioning", "mixture"),
    )
    print()
    print(api.print_table({table["setup"]["preset"]: table}))
    print(f"(K = {a.k} importance samples on {table['setup']['n']} test items, nats; higher is better)")
    others = table.get("metrics", {})
    if others:
        width = max(len(k) for k in others)
        print("\n".join(f"{k:<{width}}  {v:.4f}" for k, v in others.items()))
    print(f"results: {run / 'results.md'}, {run / 'results.json'}; figures: {run / 'figures'}")


EVAL_PRECISION: dict = {
    "choices": ["32", "bf16", "16"],
    "default": "32",
    "help": "network precision of the likelihood evaluation (densities stay float32); default 32",
}


def _evaluate(a: argparse.Namespace) -> None:
    _report(Path(a.run), a, [m.strip() for m in a.metrics.split(",") if m.strip()])


def _generate(a: argparse.Namespace) -> None:
    for p in api.generate(a.run, a.data_dir, n=a.n, accept_changed_data=a.accept_changed_data):
        print(p)


def _warmup(c: Constants) -> str:
    if c.warmup_epochs > 0:
        return f"over {c.warmup_epochs:g} epochs"
    return f"over {c.warmup_fraction:g} of the budget" if c.warmup_fraction > 0 else "none"


def _presets(a: argparse.Namespace) -> None:
    for name, doc in describe_presets():
        print(f"{name:<10} {doc}")
        if a.constants:
            c = CONSTANTS[name]
            print(
                f"{'':<10} lambda(label) {c.label_weight:g}, KL warm-up {_warmup(c)}, "
                f"beta {c.beta:g}, K {c.k}, lr {c.lr:g}, batch {c.batch_size}"
            )
            print(f"{'':<10} source: {c.source}")
    print()
    print(f"compose freely: fusevae train --fusion {{{','.join(FUSIONS)}}}")
    print(f"                              --scheme {{{','.join(OBJECTIVES)}}} --estimator {{{','.join(ESTIMATORS)}}}")


def _data(a: argparse.Namespace) -> None:
    if a.action == "list":
        for name, entry in registered_datasets().items():
            print(f"{name:<8} {entry.description}")
        print(f"data directory: {data_root(a.data_dir)}")
    elif a.action == "show":
        if not a.name:
            raise SystemExit("fusevae data show: name a data set, e.g. `fusevae data show fashion`")
        from .data import load_dataset
        from .data.animal import CLASSES as ANIMALS
        from .data.fashion import CLASSES as CLOTHES
        from .figures import data_samples

        ds = load_dataset(a.name, a.data_dir)
        names = {"fashion": CLOTHES, "animal": ANIMALS}.get(a.name, ds.class_names)
        out = a.out or f"docs/figures/data_{a.name}.png"
        print(data_samples(ds.test, out, class_names=names))
    else:
        if not a.name:
            raise SystemExit("fusevae data fetch: name a data set, e.g. `fusevae data fetch mnist`")
        print(fetch_dataset(a.name, a.data_dir))


def _benchmark(a: argparse.Namespace) -> None:
    from .benchmark import Benchmark, BenchmarkConfig, benchmark_folder, run_benchmark, status_table

    if a.status or a.tables:
        cfg = BenchmarkConfig.load(a.config)
        bench = Benchmark(cfg, benchmark_folder(cfg, a.out), a.data_dir)
        if a.status:
            print(status_table(bench.status()))
        if a.tables:
            bench.write_tables()
            print((bench.out / "results.md").read_text())
        return
    folder = run_benchmark(a.config, a.out, a.data_dir, progress=not a.no_progress, threads=a.threads)
    print((folder / "results.md").read_text())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fusevae", description="Multimodal VAEs: train, evaluate, generate.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset, then evaluate it and write figures")
    t.add_argument("preset", nargs="?", default=None, help="a named model (see `fusevae presets`); optional")
    t.add_argument("--fusion", choices=sorted(FUSIONS), help="joint posterior (replaces the preset's)")
    t.add_argument("--scheme", choices=sorted(OBJECTIVES), help="training scheme (replaces the preset's)")
    t.add_argument("--estimator", choices=sorted(ESTIMATORS), help="bound estimator (replaces the preset's)")
    t.add_argument(
        "--data", default="mnist", help="a registered data set (fusevae data list) or a data spec file (.yaml/.json)"
    )
    t.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    t.add_argument("--out", default=None, help="run folder (default runs/NAME)")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set objective.weights.label=1",
    )
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    t.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    t.add_argument("--k", type=int, default=1000, help="importance samples for the evaluation")
    t.add_argument("--n-test", type=int, default=1000, help="test items evaluated (default 1000)")
    t.add_argument("--eval-precision", **EVAL_PRECISION)
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="importance-sampled log-likelihoods of a run (SMVAE Table 1)")
    e.add_argument("run")
    e.add_argument("--k", type=int, default=1000)
    e.add_argument("--n-test", type=int, default=None, help="test items (default: the whole test set)")
    e.add_argument("--eval-precision", **EVAL_PRECISION)
    e.add_argument(
        "--metrics",
        default="likelihood",
        help="comma-separated: likelihood, subset_elbo, coherence, joint_pairs, presence, synergy, latent, missing, "
        "cross_error, or all (default likelihood)",
    )
    e.add_argument(
        "--proposal",
        action="append",
        default=[],
        metavar="A,B",
        help="also propose from q(z | these modalities); repeatable (q(z | all) is always the first row)",
    )
    e.add_argument(
        "--conditioning",
        choices=["mixture", "own"],
        default="mixture",
        help="log p(x_B) of each conditional log p(x_A | x_B): from the equal mixture of q(z | x_B) and q(z | all) "
        "(default; robust where q(z | x_B) is poor) or from q(z | x_B) alone, as earlier versions",
    )
    e.set_defaults(func=_evaluate)

    g = sub.add_parser("generate", help="write label->image samples and reconstructions of a run")
    g.add_argument("run")
    g.add_argument("--n", type=int, default=10, help="samples per class")
    g.set_defaults(func=_generate)

    s = sub.add_parser("presets", help="list the named models")
    s.add_argument("--constants", action="store_true", help="each preset's training constants and their source")
    s.set_defaults(func=_presets)

    d = sub.add_parser("data", help="list or fetch data sets")
    d.add_argument("action", choices=["list", "fetch", "show"], help="show: a figure of test items by class")
    d.add_argument("name", nargs="?")
    d.add_argument("--out", default=None, help="show: figure path (default docs/figures/data_NAME.png)")
    d.set_defaults(func=_data)

    b = sub.add_parser("benchmark", help="presets x seeds on one data set: one table (resumable)")
    b.add_argument("config", help="a benchmark config (JSON or YAML), e.g. configs/benchmarks/smvae_table1_mnist.yaml")
    b.add_argument("--out", default=None, help="benchmark folder (default runs/benchmarks/NAME)")
    b.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of this worker's cells, in place of the config's train.threads. Several workers may "
        "run the same command on one folder (e.g. two with --threads 1 on 2 cores): each cell is trained by one",
    )
    b.add_argument("--status", action="store_true", help="say where each cell stands; trains nothing")
    b.add_argument(
        "--tables",
        action="store_true",
        help="write results.md / results.csv from the finished cells now (marked incomplete if some are not); "
        "trains nothing, safe beside a running benchmark",
    )
    b.set_defaults(func=_benchmark)

    for sp in (t, e, g, d, b):
        sp.add_argument("--data-dir", default=None, help="data folder (default $FUSEVAE_DATA or ~/.cache/fusevae/data)")
    for sp in (t, e, b):
        sp.add_argument("--no-progress", action="store_true")
    for sp in (t, e, g):
        sp.add_argument(
            "--accept-changed-data",
            action="store_true",
            help="use the run's data even though its files changed since training (refused otherwise)",
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"fusevae: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
