"""Several workers on one benchmark folder: each cell trained by one of them, a dead worker's cells free again."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fusevae import api, cli
from fusevae.benchmark import Benchmark, run_benchmark, status_table
from fusevae.config import ConfigError
from fusevae.locks import is_held, lock_path, try_hold

from .test_benchmark import _config as base_config


def _config(**kw):
    return base_config(**{"name": "workers", "synergy": False, "latent_maps": False, **kw})


HOLDER = (
    "import sys, time; from fusevae.locks import try_hold; "
    "lock = try_hold(sys.argv[1]); print('held', flush=True); time.sleep(600)"
)


def _hold_in_another_process(target):
    """A process that holds `target`'s lock until killed."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_lock_is_seen_while_its_process_lives_and_freed_when_it_is_killed(tmp_path):
    target = tmp_path / "runs" / "mvae" / "seed0"
    assert not is_held(target) and not lock_path(target).exists()  # asking creates no lock file
    holder = _hold_in_another_process(target)
    try:
        assert is_held(target)
        assert try_hold(target, wait_s=0.1) is None
    finally:
        holder.send_signal(signal.SIGKILL)  # a worker killed mid-cell: no clean-up runs
        holder.wait()
    assert not is_held(target)
    lock = try_hold(target, wait_s=0.1)
    assert lock is not None
    lock.release()


def test_a_cell_another_worker_holds_is_left_to_it_and_the_table_says_so(tmp_path, monkeypatch, mnist, capsys):
    monkeypatch.setattr("fusevae.locks.CLAIM_WAIT_S", 0.1)
    trained = []
    real_train = api.train

    def train(cfg, *args, **kwargs):
        trained.append(cfg.preset)
        return real_train(cfg, *args, **kwargs)

    monkeypatch.setattr(api, "train", train)
    out = tmp_path / "bench"
    bench = Benchmark(_config(), out)
    holder = _hold_in_another_process(bench.run_dir("mopoe", 0))
    try:
        cells = {(c.preset, c.seed): (c.state, c.held) for c in bench.status()}
        assert cells == {("mvae", 0): ("not started", False), ("mopoe", 0): ("training", True)}
        run_benchmark(_config(), out, progress=False)
        assert trained == ["mvae"]
        assert "left to the workers that hold them: mopoe seed 0" in capsys.readouterr().err
        md = (out / "results.md").read_text()
        assert "**Incomplete: 1 of 2 cells finished** (not yet: mopoe seed 0)" in md
        assert "| mopoe | 0 | training | 0 of 1 | ? | ? | running |" in status_table(bench.status())
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    run_benchmark(_config(), out, progress=False)  # the holder died: its cell is free, the finished one stays
    assert trained == ["mvae", "mopoe"]
    assert "Incomplete" not in (out / "results.md").read_text()


def test_two_workers_started_together_share_the_cells_and_write_one_whole_table(tmp_path, mnist):
    cfg = _config(presets=["mvae", "mopoe"], seeds=[0, 1])
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.__dict__))
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "fusevae.cli", "benchmark", str(path), "--out", str(out), "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([*cmd, "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    time.sleep(0.5)
    workers.append(subprocess.Popen([*cmd, "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err.decode()[-2000:]
    bench = Benchmark(cfg, out)
    assert all(c.state == "finished" and not c.held for c in bench.status())
    for preset, seed in bench.configs:
        stored = json.loads((bench.run_dir(preset, seed) / "config.json").read_text())
        assert stored["train"]["threads"] == 1  # --threads reached every cell
    md = (out / "results.md").read_text()
    assert "Incomplete" not in md and "| mvae |" in md and "| mopoe |" in md
    # one judge for the image, fitted once: no second copy, no partial file left behind
    cache = out / "cache"
    judges = sorted(p.name for p in cache.iterdir() if p.suffix in (".safetensors", ".json"))
    assert len(judges) == 2 and not list(cache.glob("*.part"))


def test_threads_below_one_are_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        Benchmark(_config(), tmp_path, threads=0)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(_config().__dict__))
    assert cli.main(["benchmark", str(path), "--out", str(tmp_path / "b"), "--threads", "0"]) == 2
    assert "threads must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
