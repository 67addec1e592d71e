"""A run killed with SIGKILL at any moment and resumed ends with the same parameters, bit for bit."""

import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

ARGS = [
    "train",
    "smvae",  # random subsets, random orders and sampling: every source of randomness in play
    "--no-eval",
    "--no-progress",
    "--set",
    "model.modalities.image.encoder_hidden=[64]",
    "--set",
    "model.modalities.label.encoder_hidden=[64]",
    "--set",
    "model.modalities.image.decoder_hidden=[64]",
    "--set",
    "model.modalities.label.decoder_hidden=[64]",
    "--set",
    "model.fusion.heads=2",
    "--set",
    "model.latent_dim=8",
    "--set",
    "train.limit_train=1280",
    "--set",
    "train.limit_val=200",
    "--set",
    "train.batch_size=32",
    "--set",
    "train.epochs=3",
    "--set",
    "train.threads=1",
    "--set",
    "train.binarize=true",
]


def _cli(out, every, *extra):
    every_steps = ["--set", f"train.checkpoint_every_steps={every}"]
    return [sys.executable, "-m", "fusevae.cli", *ARGS, *every_steps, "--out", str(out), *extra]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize(
    ("every", "delay"),
    [
        (7, 0.3),  # last.ckpt every 7 of the 40 steps of an epoch: killed mid-epoch
        (10**6, 0.05),  # at epoch ends only: resumed where the next epoch's data iterator is made
    ],
    ids=["mid-epoch", "epoch-end"],
)
def test_sigkill_then_resume_gives_bit_identical_parameters(tmp_path, every, delay):
    env = dict(os.environ, PYTHONHASHSEED="0")
    reference = tmp_path / "reference"
    subprocess.run(_cli(reference, every), check=True, env=env, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(killed, every), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(delay)  # somewhere after the first checkpoint, mid-step or mid-write
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "model.safetensors").exists()

    subprocess.run(_cli(killed, every, "--resume"), check=True, env=env, capture_output=True, timeout=600)
    a = load_file(str(reference / "model.safetensors"))
    b = load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    different = [k for k in a if not (a[k] == b[k]).all()]
    assert not different, f"parameters differ after resume: {different[:5]}"
