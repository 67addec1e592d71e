"""Each epoch's wall time is kept in the run folder: a resumed run's training time is the sum of all its epochs,
and a benchmark's status reads its pace and what is left from those records."""

import json

import numpy as np
import pytest

from fusevae import api
from fusevae.benchmark import CellStatus, status_table
from fusevae.data.user import from_arrays
from fusevae.epoch_clock import FILE, EpochTimes


def _write(run, text):
    (run / FILE).parent.mkdir(parents=True, exist_ok=True)
    (run / FILE).write_text(text)


def test_records_are_read_a_rerun_epoch_replacing_its_earlier_piece_and_a_cut_line_skipped(tmp_path):
    assert EpochTimes.read(tmp_path).total(3) is None and EpochTimes.read(tmp_path).per_epoch() is None
    t = "2026-12-04T01:00:00+00:00"
    _write(tmp_path, f"epoch,seconds,threads,ended\n0,10,1,{t}\n1,99,1,{t}\n1,12,2,{t}\n2,14,2,{t}\n3,1.5,2,2026-1")
    times = EpochTimes.read(tmp_path)
    assert times.seconds == {0: 10.0, 1: 12.0, 2: 14.0} and times.threads == {0: 1, 1: 2, 2: 2}
    assert times.total(3) == pytest.approx(36.0)
    assert times.total(2) == pytest.approx(22.0)  # epochs beyond the budget do not count
    assert times.total(6) == pytest.approx(36.0 * 6 / 3)  # three untimed epochs: scaled up by the timed mean
    assert times.per_epoch(last=2) == pytest.approx(13.0)
    assert times.summary(3) == {"train_seconds": pytest.approx(36.0), "epochs_timed": 3, "threads": [1, 2]}


def test_a_resumed_run_reports_the_time_of_all_its_epochs_not_only_the_last_call(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    data = from_arrays({"a": x, "b": x + 0.1 * rng.normal(size=x.shape).astype(np.float32)}, seed=0)
    overrides = ["train.threads=1", "model.latent_dim=2"]
    overrides += [f"model.modalities.{m}.{p}=[8]" for m in "ab" for p in ("encoder_hidden", "decoder_hidden")]
    cfg = api.make_config("mvae", data, [*overrides, "train.epochs=2"])
    run = tmp_path / "run"
    api.train(cfg, data=data, out=run, progress=False)
    first = EpochTimes.read(run)
    assert sorted(first.seconds) == [0, 1] and all(s > 0 for s in first.seconds.values())
    cfg.train.epochs = 3  # the same run, trained on for one more epoch
    api.train(cfg, data=data, out=run, progress=False, resume=True)
    times = EpochTimes.read(run)
    assert sorted(times.seconds) == [0, 1, 2] and {e: times.seconds[e] for e in (0, 1)} == first.seconds
    stats = json.loads((run / "train_stats.json").read_text())
    assert stats["epochs_timed"] == 3 and stats["threads"] == [1]
    assert stats["train_seconds"] == pytest.approx(sum(times.seconds.values()))
    assert stats["samples_per_second"] == pytest.approx(stats["train_items"] * 3 / stats["train_seconds"])


def test_the_status_table_gives_each_cell_its_pace_and_the_training_left():
    cells = [
        CellStatus("mvae", 0, "finished", 10, 10, seconds_per_epoch=60.0),
        CellStatus("mvae", 1, "training", 4, 10, True, seconds_per_epoch=30.0),
        CellStatus("mvae", 2, "not started", 0, 10, seconds_per_epoch=45.0, estimated=True),
        CellStatus("mopoe", 0, "not started", 0, 10),
    ]
    text = status_table(cells)
    assert "| mvae | 1 | training | 4 of 10 | 30 | 3:00 min | running |" in text
    assert "| mvae | 2 | not started | 0 of 10 | ~45 | ~7:30 min |  |" in text
    assert "| mopoe | 0 | not started | 0 of 10 | ? | ? |  |" in text
    assert "Training left: 10:30 min of one worker's time" in text and "and 1 cell with no pace yet" in text
    assert cells[0].seconds_left == 0.0 and cells[3].seconds_left is None
    assert "not known yet" in status_table([CellStatus("mopoe", 0, "not started", 0, 10)])


def test_a_table_says_which_cells_training_seconds_were_extrapolated_from_fewer_timed_epochs(tmp_path):
    from fusevae.benchmark import Benchmark

    from .test_benchmark import _config

    bench = Benchmark(_config(presets=["mvae", "mopoe"]), tmp_path)
    judges = {"image": {"micro": 0.9, "macro": 0.9}}
    for preset, timed in (("mvae", 1), ("mopoe", 0)):
        run = bench.run_dir(preset, 0)
        run.mkdir(parents=True)
        record = {"preset": preset, "seed": 0, "metrics": {"train s": 10.0}, "judges": judges}
        (run / "benchmark.json").write_text(json.dumps(record))
        (run / "train_stats.json").write_text(json.dumps({"train_seconds": 10.0, "epochs": 2, "epochs_timed": timed}))
    bench.write_tables()
    md = (tmp_path / "results.md").read_text()
    assert "not timed over every epoch" in md and "mvae seed 0 (1 of 2)" in md and "mopoe seed 0 (0 of 2)" in md
