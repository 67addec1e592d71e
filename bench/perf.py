"""Training and evaluation speed and memory of presets, against this machine's matrix-multiply limit.

    python bench/perf.py [--presets mvae smvae mmvae mopoe mvae+ecg] [--precision 32-true bf16-mixed]
                         [--compile] [--limit-train 50000] [--eval-points 250] [--threads 2]
    python bench/perf.py --conv [--conv-data polymnist scenes] [--steps 8]   # conv presets: f32 / bf16 x NCHW / NHWC

Each preset runs in its own process (so peak RSS is its own) with the issue-7 architecture:
encoders 784-512-512 and 10-512-512, latent 64, decoders 64-512-512-out, ReLU, batch 128,
Adam, on real MNIST. It trains one epoch through `fusevae.train.fit` (the Lightning path
users run; validation time excluded), then evaluates the K = 1000 importance-sampled joint
likelihood log p(x, y) under q(z | x, y) and the full SMVAE Table 1 (six numbers), with the
networks at the training precision (bench/precision.py measures what bf16 costs in nats).

Roofline: one training step is replayed under a dispatch mode that records every matrix
multiply's shape and dtype; each distinct shape is then timed alone. The sum of those times
is the step's time at the machine's measured matmul speed; the roofline ratio is that ideal
time over the measured step time (1.0 = the step costs only its matrix multiplies, run as
fast as this machine runs them in isolation).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT_PRESETS = ["mvae", "smvae", "mmvae", "mopoe", "mvae+ecg"]
MATMULS = ("mm.default", "addmm.default", "bmm.default", "baddbmm.default")


def issue_architecture(preset: str, precision: str, threads: int, limit_train: int, compile_: bool) -> Any:
    """The preset with the architecture of issue 7: ReLU, 512-512 encoders and decoders, latent 64."""
    from fusevae import api

    cfg = api.make_config(preset, "mnist", ["model.activation=relu", "model.latent_dim=64"])
    for m in cfg.model.modalities:
        m.encoder_hidden = [512, 512]
        m.decoder_hidden = [512, 512]
    t = cfg.train
    t.epochs, t.batch_size, t.lr, t.threads = 1, 128, 1e-3, threads
    t.precision, t.compile, t.limit_train, t.limit_val = precision, compile_, limit_train, 1000
    t.checkpoint_every_minutes = 0.0
    api.check_config(cfg)
    return cfg


def record_matmuls(fn: Any) -> Counter:
    """Shapes (op, dtype, operand shapes) of every matrix multiply `fn` runs, forward and backward."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: Counter = Counter()

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            name = func.__name__ if hasattr(func, "__name__") else str(func)
            if name in MATMULS:
                shapes = tuple(tuple(a.shape) for a in args if hasattr(a, "shape"))
                seen[(name, str(args[-1].dtype), shapes)] += 1
            return func(*args, **(kwargs or {}))

    with Recorder():
        fn()
    return seen


def time_matmul(name: str, dtype: str, shapes: tuple, seconds: float = 0.03, trials: int = 3) -> tuple[float, float]:
    """(seconds per call, FLOP per call) of one matmul shape run alone: the best of `trials` timings."""
    import torch

    dt = getattr(torch, dtype.replace("torch.", ""))
    ops = {"mm.default": torch.mm, "addmm.default": torch.addmm, "bmm.default": torch.bmm}
    ops["baddbmm.default"] = torch.baddbmm
    args = [torch.randn(s, dtype=dt) for s in shapes]
    a, b = shapes[-2], shapes[-1]
    flops = 2 * a[-2] * a[-1] * b[-1] * (a[0] if len(a) == 3 else 1)
    fn = ops[name]
    for _ in range(3):
        fn(*args)
    best = float("inf")
    for _ in range(trials):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn(*args)
            reps += 1
        best = min(best, (time.perf_counter() - start) / reps)
    return best, flops


def _measure(preset: str, a: dict[str, Any], queue: mp.Queue) -> None:
    import lightning as L
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fusevae.data import load_dataset
    from fusevae.metrics.likelihood import importance_log_likelihoods, likelihood_table
    from fusevae.train import LitMultimodalVAE, fit

    torch.set_num_threads(a["threads"])
    cfg = issue_architecture(preset, a["precision"], a["threads"], a["limit_train"], a["compile"])
    data = load_dataset("mnist")

    class EpochTimer(L.Callback):
        """Training-epoch wall time without the validation pass inside it."""

        val = 0.0
        val_start = 0.0

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.start, self.val, self.ends = time.perf_counter(), 0.0, []

        def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
            self.ends.append(time.perf_counter())

        def on_validation_start(self, trainer: Any, module: Any) -> None:
            self.val_start = time.perf_counter()

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                self.val += time.perf_counter() - self.val_start

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.seconds = time.perf_counter() - self.start - self.val
            self.steps = trainer.num_training_batches

    timer = EpochTimer()
    out = Path(a["out"]) / preset.replace("+", "_")
    module = fit(cfg, data, out, progress=False, callbacks=[timer])
    n_train = min(len(data.train), cfg.train.limit_train or len(data.train))
    # the median step (end to end, data included) resists the host's bursts of noise; the epoch
    # time is reported as measured
    gaps = sorted(b - a for a, b in zip(timer.ends[5:], timer.ends[6:], strict=False))
    step_s = gaps[len(gaps) // 2] if gaps else timer.seconds / timer.steps

    # K = 1000 likelihoods, networks at the training precision (densities are float32 either way)
    eval_precision = {"bf16-mixed": "bf16", "16-mixed": "16"}.get(cfg.train.precision, "32")
    model = module.model.eval()
    test = data.test
    n_eval = min(a["eval_points"], len(test))
    x, y = model.names
    passes = []
    for _ in range(2):  # the better of two passes: this host's speed drifts by tens of percent
        start = time.perf_counter()
        for s in range(0, n_eval, 250):
            b = test[torch.arange(s, min(s + 250, n_eval))]
            importance_log_likelihoods(model, b, [x, y], {"xy": [x, y]}, k=1000, precision=eval_precision)
        passes.append(time.perf_counter() - start)
    joint_pps = n_eval / min(passes)
    n_table = min(a["table_points"], len(test))
    start = time.perf_counter()
    likelihood_table(model, test, x, y, k=1000, n=n_table, progress=False, precision=eval_precision)
    table_pps = n_table / (time.perf_counter() - start)

    # FLOPs and matmul shapes of one training step (forward and backward), replayed outside the loop
    probe = LitMultimodalVAE(cfg)
    probe.model.load_state_dict(module.model.state_dict())
    batch = data.train[torch.arange(cfg.train.batch_size)]
    low = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(cfg.train.precision)

    def step() -> None:
        with torch.autocast("cpu", low or torch.float32, enabled=low is not None):
            loss = probe.objective(probe.model, batch, 5.0).loss
        loss.backward()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    shapes = record_matmuls(step)
    ideal = 0.0
    matmul_flops = 0.0
    for (name, dtype, sh), count in shapes.items():
        secs, fl = time_matmul(name, dtype, sh)
        ideal += count * secs
        matmul_flops += count * fl

    params = sum(p.numel() for p in model.parameters())
    queue.put(
        {
            "preset": preset,
            "precision": cfg.train.precision,
            "compile": cfg.train.compile,
            "params": params,
            "mflop_per_sample": flops / cfg.train.batch_size / 1e6,
            "samples_per_s": cfg.train.batch_size / step_s,
            "epoch_samples_per_s": n_train / timer.seconds,
            "s_per_epoch_50k": timer.seconds * 50000 / n_train,
            "step_ms": step_s * 1e3,
            "achieved_gflops": flops / step_s / 1e9,
            "matmul_gflops_at_shapes": matmul_flops / ideal / 1e9,
            "roofline_ratio": ideal / step_s,
            "joint_points_per_s": joint_pps,
            "table1_points_per_s": table_pps,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        }
    )


CONV_SETS = {"polymnist": ["mvae", "mopoe", "smvae", "mmvae"], "scenes": ["mvae", "mvae+ecg", "rbcm+lcd"]}


def _conv_step_time(data: str, preset: str, precision: str, channels_last: bool, steps: int, batch: int) -> dict:
    """Median seconds of one training step (objective, backward, Adam) on the data set's own conv networks."""
    import statistics

    import torch

    from fusevae import api
    from fusevae.data import load_dataset
    from fusevae.model import MultimodalVAE
    from fusevae.objectives import make_objective

    names = [m.name for m in api.make_config(preset, data).model.modalities]
    sets = [f"model.modalities.{n}.network_options.channels_last={str(channels_last).lower()}" for n in names]
    cfg = api.make_config(preset, data, sets)
    torch.manual_seed(0)
    model = MultimodalVAE(cfg.model)
    objective = make_objective(cfg.objective, model, epochs=cfg.train.epochs)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    ds = load_dataset(data)
    times = []
    for i in range(steps + 2):  # two warm-up steps
        b = ds.train[torch.arange(i * batch, (i + 1) * batch)]
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            out = objective(model, b, 5.0)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    step = statistics.median(times[2:])
    n_train = len(ds.train)
    return {
        "data": data,
        "preset": preset,
        "precision": precision,
        "channels_last": channels_last,
        "params": sum(p.numel() for p in model.parameters()),
        "samples_per_s": batch / step,
        "s_per_epoch": n_train / batch * step,
        "n_train": n_train,
    }


def _conv_worker(args: tuple, queue: mp.Queue) -> None:
    import torch

    torch.set_num_threads(args[-1])
    queue.put(_conv_step_time(*args[:-1]))


def conv_main(a: argparse.Namespace) -> None:
    """Training samples/s of the conv presets: float32 and bf16, with and without channels-last."""
    ctx = mp.get_context("spawn")
    rows = []
    for data in a.conv_data:
        for preset in CONV_SETS[data] if not a.conv_presets else a.conv_presets:
            for variant in a.variants:
                precision, layout = variant.split(":")
                last = layout == "nhwc"
                args = ((data, preset, precision, last, a.steps, 128, a.threads),)
                rows.append(_isolated(ctx, _conv_worker, args, f"{data} {preset} {precision}"))
    head = (
        "| data | preset | precision | channels-last | params | training samples/s (median step) | s/epoch |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['data']} | {r['preset']} | {r['precision']} | {'yes' if r['channels_last'] else 'no'} | "
        f"{r['params'] / 1e6:.2f}M | {r['samples_per_s']:,.0f} | {r['s_per_epoch']:.0f} ({r['n_train']:,} items) |\n"
        for r in rows
    )
    text = head + body
    print(text)
    note = (
        f"Batch 128, {a.threads} threads, median of {a.steps} steps after 2 warm-up steps (objective forward, "
        "backward, fused Adam; no data-loader or validation time); each configuration in its own process; "
        "the data sets' "
        "own conv networks (`fusevae data list`).\n\n"
    )
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(
        f"# bench/perf.py --conv\n\n`python bench/perf.py {' '.join(__import__('sys').argv[1:])}`\n\n{note}{text}"
    )


def _isolated(ctx, target, args: tuple, what: str) -> dict:  # noqa: ANN001
    """One measurement in its own process (a clean allocator and thread pool), its row printed as it arrives."""
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{what} failed with exit code {proc.exitcode}")
    row = queue.get()
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conv", action="store_true", help="the conv presets on PolyMNIST and the scenes instead")
    p.add_argument("--conv-data", nargs="+", default=list(CONV_SETS), help="--conv: data sets")
    p.add_argument("--conv-presets", nargs="+", default=None, help="--conv: presets (default per data set)")
    p.add_argument("--steps", type=int, default=8, help="--conv: timed steps per configuration")
    p.add_argument(
        "--variants",
        nargs="+",
        default=["32-true:nchw", "32-true:nhwc", "bf16-mixed:nchw", "bf16-mixed:nhwc"],
        help="--conv: precision:layout pairs (layout nchw or nhwc = channels-last)",
    )
    p.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS)
    p.add_argument("--precision", nargs="+", default=["32-true"], help="32-true, bf16-mixed, 16-mixed")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--limit-train", type=int, default=0, help="train on the first N items (0: all 50k)")
    p.add_argument("--eval-points", type=int, default=250, help="test items for the joint likelihood")
    p.add_argument("--table-points", type=int, default=100, help="test items for the six Table-1 numbers")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/bench_perf")
    p.add_argument("--results", default="bench/results/perf.md")
    a = p.parse_args()
    if a.conv:
        if a.results == "bench/results/perf.md":
            a.results = "bench/results/perf_conv.md"
        return conv_main(a)
    ctx = mp.get_context("spawn")
    rows = []
    for precision in a.precision:
        for preset in a.presets:
            args = (preset, {**vars(a), "precision": precision})
            rows.append(_isolated(ctx, _measure, args, f"{preset} ({precision})"))
    head = (
        "| preset | precision | params | MFLOP/sample | samples/s (median step) | s/epoch (50k) | peak RSS GB | "
        "K=1000 joint pts/s | K=1000 Table-1 pts/s | achieved GFLOP/s | matmul GFLOP/s at these shapes | "
        "roofline ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['preset']}{' (compiled)' if r['compile'] else ''} | {r['precision']} | {r['params'] / 1e6:.2f}M | "
        f"{r['mflop_per_sample']:.1f} | {r['samples_per_s']:,.0f} | {r['s_per_epoch_50k']:.1f} | "
        f"{r['peak_rss_gb']:.2f} | {r['joint_points_per_s']:.1f} | {r['table1_points_per_s']:.1f} | "
        f"{r['achieved_gflops']:.0f} | {r['matmul_gflops_at_shapes']:.0f} | {r['roofline_ratio']:.2f} |\n"
        for r in rows
    )
    text = head + body
    print(text)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(
        f"# bench/perf.py\n\n`python bench/perf.py {' '.join(__import__('sys').argv[1:])}`\n\n{text}"
    )


if __name__ == "__main__":
    main()
