"""The fusevae-vs-MultiVae table (bench/peer_table.py) says which cells it lacks and which ran under load."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from peer_table import write_table  # noqa: E402

METRICS = {
    "log p(image,label) from q(z|image,label)": -90.0,
    "coherence image -> label (micro)": 0.9,
    "coherence label -> image (micro)": 0.4,
    "joint coherence": 0.6,
}
SETTINGS = {"k": 1000, "n_test": 1000, "coherence_items": 2000, "joint": 10000}


def _peer(folder: Path, model: str, seed: int, threads: int | None) -> None:
    cell = folder / f"{model}_e30_s{seed}"
    cell.mkdir(parents=True)
    record = {"model": model, "epochs": 30, "seed": seed, "metrics": METRICS, "settings": SETTINGS,
              "multivae log p(image,label)": -90.1, "train s": 100.0, "threads": threads}  # fmt: skip
    (cell / "result.json").write_text(json.dumps(record))


def _ours(folder: Path, preset: str, seeds: range) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "benchmark_config.json").write_text(json.dumps({"overrides": ["train.epochs=30"]}))
    for seed in seeds:
        run = folder / "runs" / preset / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "benchmark.json").write_text(json.dumps({"preset": preset, "metrics": {**METRICS, "train s": 50.0}}))
        (run / "config.json").write_text(json.dumps({"train": {"threads": 2}}))


def test_missing_cells_and_shared_cores_are_said(tmp_path):
    peer, ours, out = tmp_path / "peer", tmp_path / "ours", tmp_path / "table.md"
    for seed in range(3):
        _peer(peer, "mvae", seed, threads=1 if seed == 2 else 2)
    _peer(peer, "jmvae", 0, threads=2)
    _ours(ours, "mvae", range(3))
    write_table(str(peer), [str(ours)], str(out))
    md = out.read_text()
    assert "Incomplete" in md and "30 epochs jmvae (MultiVae): 1 of 3 seeds" in md
    assert "30 epochs jmvae (fusevae): not run" in md and "epochs mvae (MultiVae)" not in md.split("\n\n")[1]
    assert "| 30 epochs | mvae | MultiVae | -90.00 ± 0.00 |" in md and "| 100 † |" in md and "†: some" in md
    _peer(peer, "jmvae", 1, threads=2)
    _peer(peer, "jmvae", 2, threads=2)
    _ours(ours, "jmvae", range(3))
    write_table(str(peer), [str(ours)], str(out))
    assert "Incomplete" not in out.read_text()


def test_a_row_that_changes_a_preset_says_how(tmp_path):
    peer, ours, out = tmp_path / "peer", tmp_path / "ours", tmp_path / "table.md"
    _peer(peer, "mvae", 0, threads=2)
    _ours(ours, "mvae-old", range(1))
    cfg = {"overrides": ["train.epochs=30"], "variants": {"mvae-old": "mvae"},
           "preset_overrides": {"mvae-old": ["objective.warmup_epochs=0", "objective.warmup_fraction=1"]}}  # fmt: skip
    (ours / "benchmark_config.json").write_text(json.dumps(cfg))
    write_table(str(peer), [str(ours)], str(out))
    md = out.read_text()
    assert "| 30 epochs | mvae-old | fusevae |" in md
    assert "mvae-old = mvae with `objective.warmup_epochs=0 objective.warmup_fraction=1` (ours)" in md
