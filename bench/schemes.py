"""Seconds per training step of every scheme as the number of modalities M grows (2..8).

    python bench/schemes.py [--m 2 3 4 5 6 7 8] [--batch 128] [--steps 8] [--threads 2]

Synthetic vector modalities (64-d, Gaussian likelihood), encoders 64-128-128, decoders
32-128-128-64, latent 32, batch 128, Adam; the median over `steps` timed steps (forward,
backward, update) after 2 warm-up steps. ECG is checked against its cost model: one
encoder pass plus 2^M - 1 fusions and decodes (encode-once), next to what 2^M - 1 full
forward passes would cost (re-encoding every subset). Writes bench/results/schemes.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from fusevae.config import FusionConfig, ModalityConfig, ModelConfig, ObjectiveConfig
from fusevae.data import make_batch
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective

SCHEMES = {
    # scheme: (fusion, lcd alpha, objective settings)
    "joint": ("poe", 0.0, {}),
    "mvae": ("poe", 0.0, {}),
    "ecg": ("poe", 0.0, {}),
    "rmd": ("poe", 0.0, {}),
    "lcd": ("poe", 0.5, {}),
    "smvae": ("set_attention", 0.0, {"include_full": True}),
    "mmvae": ("moe", 0.0, {"estimator": "elbo", "variant": "looser"}),
}


def model_config(m: int, fusion: str, lcd: float) -> ModelConfig:
    mods = [
        ModalityConfig(
            f"x{i}", "vector", [64], likelihood="gaussian", encoder_hidden=[128, 128], decoder_hidden=[128, 128]
        )
        for i in range(m)
    ]
    return ModelConfig(mods, latent_dim=32, fusion=FusionConfig(kind=fusion, heads=4, lcd_alpha=lcd))


def batch_for(model: MultimodalVAE, m: int, b: int):
    data = {f"x{i}": torch.randn(b, 64) for i in range(m)}
    return make_batch(data, model.names)


def time_steps(fn, steps: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def scheme_step(scheme: str, m: int, b: int, steps: int) -> float:
    fusion, lcd, extra = SCHEMES[scheme]
    torch.manual_seed(0)
    model = MultimodalVAE(model_config(m, fusion, lcd)).train()
    objective = make_objective(ObjectiveConfig(kind=scheme, **extra), model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = batch_for(model, m, b)

    def step() -> None:
        loss = objective(model, batch, 1.0).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return time_steps(step, steps)


def ecg_cost_model(m: int, b: int, steps: int) -> tuple[float, float]:
    """(seconds of one encoder pass, seconds of one subset's fusion + decode), forward and backward."""
    torch.manual_seed(0)
    model = MultimodalVAE(model_config(m, "poe", 0.0)).train()
    batch = batch_for(model, m, b)

    def encode() -> None:
        e = model.encode(batch)
        (e.mu.sum() + e.logvar.sum()).backward()

    enc = model.encode(batch)
    enc = type(enc)(enc.mu.detach().requires_grad_(), enc.logvar.detach().requires_grad_())

    def fuse_decode() -> None:
        q = model.fuse(enc, batch.mask.unsqueeze(0))
        z = q.rsample(1)
        total = sum(v.sum() for v in model.log_likelihoods(z, batch).values()) - q.kl_standard_normal().sum()
        total.backward()

    return time_steps(encode, steps), time_steps(fuse_decode, steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, nargs="+", default=[2, 3, 4, 5, 6, 7, 8])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", default="bench/results/schemes.md")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for m in a.m:
        per = {s: scheme_step(s, m, a.batch, a.steps) for s in SCHEMES}
        enc, fd = ecg_cost_model(m, a.batch, a.steps)
        n_sub = 2**m - 1
        model_ecg = enc + (n_sub + 1) * fd  # eq. 12: the joint term and the 2^M - 1 subsets
        naive = (n_sub + 1) * (enc + fd)
        rows.append((m, per, model_ecg, naive))
        print(f"M={m}: " + ", ".join(f"{s} {t * 1e3:.1f} ms" for s, t in per.items()), flush=True)
    head = "| M | " + " | ".join(SCHEMES) + " | ECG cost model: 1 encode + 2^M fuse/decode | 2^M full forward passes |"
    md = [
        "Seconds per training step (ms; forward, backward, Adam), batch "
        f"{a.batch}, {a.threads} threads, 64-d vector modalities.",
        "",
        head,
        "|" + "---|" * (len(SCHEMES) + 3),
    ]
    for m, per, model_ecg, naive in rows:
        cells = " | ".join(f"{per[s] * 1e3:.1f}" for s in SCHEMES)
        md.append(f"| {m} | {cells} | {model_ecg * 1e3:.1f} | {naive * 1e3:.1f} |")
    text = "\n".join(md) + "\n"
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
