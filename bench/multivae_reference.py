"""The peer library MultiVae 1.0.3 beside fusevae: its speed, and its models scored by fusevae's own evaluator.

    python -m venv --system-site-packages /tmp/mv && . /tmp/mv/bin/activate
    pip install --no-deps multivae==1.0.3 pythae==0.1.2 && pip install scikit-learn pandas nltk imageio cloudpickle
    python bench/multivae_reference.py --models mvae mopoe mmvae jmvae [--limit-train 25600] [--eval-points 100]
    python bench/multivae_reference.py --compare --epochs 10 30 --seeds 0 1 2 --out runs/peer/multivae \
        --judges bench/judges
    python bench/multivae_reference.py --table runs/peer/multivae --fusevae runs/peer/fusevae-e10 runs/peer/fusevae-e30

Not a fusevae dependency and not part of the test suite. MultiVae imports torchvision at module
level (for data sets and image grids that are not used here) and there is no CPU build of
torchvision on this machine, so an inert stand-in module is registered before importing it.
Encoders 784-512-512 and 10-512-512 to a 64-d latent, decoders 64-512-512-out, ReLU, batch 128,
Adam 1e-3, 2 threads (--compare: --threads), through MultiVae's BaseTrainer.

Speed (the default): one epoch of the real MNIST training set, then `compute_joint_nll(K=1000)`.

--compare: each model x budget x seed trained on binarised MNIST exactly as fusevae's protocol
(training images binarised afresh at every draw, fusevae's test set binarised once with its fixed
seed), with MultiVae's own defaults for the rest (MVAE and JMVAE warm up the KL over 10 epochs,
JMVAE alpha 0.1, MMVAE DReG 'looser' with K = 10). MMVAE uses Gaussian posteriors and a fixed
N(0, I) prior (MultiVae's defaults are Laplace and a learned prior), so that one estimator fits every
model. Each trained model is wrapped as a `fusevae.external.ExternalModel` (q(z | x_S) as mean and
log-variance, decoders to logits) and scored by fusevae's importance sampler and fusevae's judges
(`--judges`: the judge folder of the fusevae benchmark, bench/judges, so both libraries are judged by the same
classifiers), beside MultiVae's own `compute_joint_nll` on the same test items. A cell's folder
holds its weights (safetensors) and result.json; finished cells are skipped, so a stopped run resumes.

--table: the comparison table (bench/results/peer_comparison.md) from those cells and from fusevae
benchmark folders run on the same protocol (configs/benchmarks/peer_mnist_e10.yaml, _e30.yaml).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import types


class _Inert:
    """Stands in for any torchvision object; MultiVae only touches them outside this benchmark."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Inert:
        return _Inert()

    def __getattr__(self, name: str) -> _Inert:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)


def _register_inert_torchvision() -> None:
    def attr(name: str) -> _Inert:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()

    for name in ("", ".transforms", ".transforms.functional", ".datasets", ".datasets.utils", ".utils", ".models"):
        module = types.ModuleType(f"torchvision{name}")
        module.__getattr__ = attr  # type: ignore[method-assign]
        sys.modules[f"torchvision{name}"] = module


def _import_multivae() -> None:
    """Import MultiVae with the inert torchvision, then take the stand-in away again: Lightning (fusevae's
    trainer) probes for torchvision by its module spec, and must find none."""
    _register_inert_torchvision()
    import multivae.data.datasets.base  # noqa: F401
    import multivae.models  # noqa: F401
    import multivae.trainers  # noqa: F401

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["mvae", "mopoe", "mmvae", "jmvae"])
    p.add_argument("--limit-train", type=int, default=None, help="training items (speed: 25600; compare: all)")
    p.add_argument("--eval-points", type=int, default=100)
    p.add_argument("--compare", action="store_true", help="train and score with fusevae's evaluator")
    p.add_argument("--epochs", type=int, nargs="+", default=[10, 30])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="runs/peer/multivae")
    p.add_argument("--judges", default="bench/judges", help="fusevae judge folder shared with the fusevae runs")
    p.add_argument(
        "--threads", type=int, default=2, help="--compare: torch threads (1 leaves a core to a job run beside it)"
    )
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--coherence-items", type=int, default=2000)
    p.add_argument("--joint-samples", type=int, default=10_000)
    p.add_argument("--table", default=None, help="a --compare output folder: write the comparison table")
    p.add_argument("--fusevae", nargs="*", default=[], help="fusevae benchmark folders on the same protocol")
    p.add_argument("--table-out", default="bench/results/peer_comparison.md")
    a = p.parse_args()
    if a.table:
        from peer_table import write_table

        write_table(a.table, a.fusevae, a.table_out)
        return
    if a.compare:
        from peer_compare import compare

        _import_multivae()
        for name in a.models:
            for epochs in a.epochs:
                for seed in a.seeds:
                    compare(name, epochs, seed, a)
        return
    for name in a.models:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        proc = ctx.Process(target=_measure, args=(name, a.limit_train or 25600, a.eval_points))
        proc.start()
        proc.join()


def _measure(name: str, limit: int, n_eval: int) -> None:
    _register_inert_torchvision()
    import torch
    from multivae.data.datasets.base import MultimodalBaseDataset
    from multivae.trainers import BaseTrainer, BaseTrainerConfig
    from peer_compare import build

    from fusevae.data import load_dataset

    torch.set_num_threads(2)
    data = load_dataset("mnist")

    def dataset(split, n: int) -> MultimodalBaseDataset:  # noqa: ANN001
        x = split.data["image"][:n].round()
        y = torch.nn.functional.one_hot(split.labels[:n], 10).float()
        return MultimodalBaseDataset(data={"image": x, "label": y}, labels=split.labels[:n])

    model = build(name, comparable=False)  # MultiVae's own defaults: what its users would time
    trainer_cfg = BaseTrainerConfig(
        output_dir="/tmp/multivae_reference", per_device_train_batch_size=128, num_epochs=1, learning_rate=1e-3,
        no_cuda=True, steps_saving=None,
    )  # fmt: skip
    trainer = BaseTrainer(model, train_dataset=dataset(data.train, limit), training_config=trainer_cfg)
    start = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - start
    model.eval()
    batch = dataset(data.test, n_eval)[torch.arange(n_eval)]
    start = time.perf_counter()
    with torch.no_grad():
        model.compute_joint_nll(batch, K=1000)
    eval_s = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"| MultiVae {name} | {train_s * 50000 / limit:.1f} | {limit / train_s:,.0f} | {rss:.2f} | "
        f"{n_eval / eval_s:.1f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
