"""`fusevae benchmark`: one table over presets x seeds, resumable without redoing finished runs."""

import csv
import json

import pytest

from fusevae import api, cli
from fusevae.benchmark import Benchmark, BenchmarkConfig, run_benchmark
from fusevae.config import ConfigError

NETS = [
    f"model.modalities.{m}.{part}=[64]" for m in ("image", "label") for part in ("encoder_hidden", "decoder_hidden")
]


def _config(**kw):
    base = dict(
        name="tiny",
        data="mnist",
        presets=["mvae", "mopoe"],
        seeds=[0],
        overrides=[*NETS, "model.latent_dim=8", "train.epochs=1", "train.limit_train=512", "train.limit_val=200"],
        k=5,
        n_test=50,
        coherence_items=100,
        joint_samples=200,
        map_items=120,
        probe_items=300,
        judge_epochs=1,
        missing_rates=[0.0, 0.5],
        judge_items=2000,
    )
    base.update(kw)
    return BenchmarkConfig(**base)


def test_a_killed_benchmark_resumes_without_redoing_finished_runs(tmp_path, monkeypatch, mnist):
    trained = []
    real_train = api.train

    def train(cfg, *args, **kwargs):
        trained.append(cfg.preset)
        if cfg.preset == "mopoe" and len(trained) == 2:
            raise KeyboardInterrupt  # killed during the second run
        return real_train(cfg, *args, **kwargs)

    monkeypatch.setattr(api, "train", train)
    out = tmp_path / "bench"
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(_config(), out, progress=False)
    assert (out / "runs" / "mvae" / "seed0" / "benchmark.json").exists()
    assert not (out / "runs" / "mopoe" / "seed0" / "benchmark.json").exists()
    trained.clear()
    run_benchmark(_config(), out, progress=False)
    assert trained == ["mopoe"]  # the finished mvae run is not redone
    # a trained cell keeps its model, not the checkpoints it trained from (tens of MB each in a real table)
    assert (out / "runs" / "mopoe" / "seed0" / "model.safetensors").exists()
    assert not (out / "runs" / "mopoe" / "seed0" / "checkpoints").exists()

    result = json.loads((out / "runs" / "mvae" / "seed0" / "benchmark.json").read_text())["metrics"]
    for key in (
        "log p(image,label) from q(z|image,label)",
        "log p(image|label) from q(z|image)",
        "coherence image -> label (micro)",
        "coherence label -> image (macro)",
        "joint coherence",
        "synergy image",
        "synergy label",
        "synergy image: S from all",
        "synergy image: U unimodal",
        "probe image+label",
        "samples/s",
    ):
        assert key in result, key
    s, u = result["synergy image: S from all"], result["synergy image: U unimodal"]
    assert result["synergy image"] == pytest.approx((s - u) / u)  # the gain from its recorded parts
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["preset"] for r in rows} == {"mvae", "mopoe"}
    md = (out / "results.md").read_text()
    assert "## Cross coherence" in md and "| mopoe |" in md and "Judges (test accuracy micro / macro): image" in md
    assert (out / "figures" / "latent_mvae_seed0.png").exists() and (
        out / "figures" / "mvae_label_to_image.png"
    ).exists()
    assert "Protocol: data `mnist`" in md
    assert "## Coherence with a sensor missing" in md and "missing label 50%: coherence of image (micro)" in result
    # one unimodal baseline per modality for every row (the paper's one U per modality): mvae (batch 100, its
    # warm-up) and mopoe (batch 128, none) share an image and a label baseline
    assert len([p for p in (out / "cache" / "unimodal").iterdir() if p.is_dir()]) == 2
    u = {k: v for k, v in result.items() if k.endswith("U unimodal")}
    other = json.loads((out / "runs" / "mopoe" / "seed0" / "benchmark.json").read_text())["metrics"]
    assert u and all(other[k] == v for k, v in u.items())


def test_means_and_stds_over_seeds_in_the_tables(tmp_path):
    cfg = _config(presets=["mvae"], seeds=[0, 1])
    bench = Benchmark(cfg, tmp_path)
    for seed, value in ((0, 0.5), (1, 0.7)):
        run = bench.run_dir("mvae", seed)
        run.mkdir(parents=True)
        metrics = {"joint coherence": value, "train s": 10.0 * (seed + 1)}
        (run / "benchmark.json").write_text(json.dumps({"metrics": metrics, "judges": {}}))
    bench.write_tables()
    md = (tmp_path / "results.md").read_text()
    assert "| mvae | 0.600 +- 0.141 |" in md and "| mvae | 15 +- 7 |" in md


def test_rows_with_their_own_seeds_run_those_and_the_table_says_so(tmp_path):
    cfg = _config(presets=["mvae", "mopoe"], seeds=[0], preset_seeds={"mvae": [0, 1, 2]})
    bench = Benchmark(cfg, tmp_path)
    assert sorted(bench.configs) == [("mopoe", 0), ("mvae", 0), ("mvae", 1), ("mvae", 2)]
    assert bench.configs["mvae", 2].train.seed == 2
    for preset, seed in bench.configs:
        run = bench.run_dir(preset, seed)
        run.mkdir(parents=True)
        metrics = {"joint coherence": 0.5 + 0.1 * seed}
        (run / "benchmark.json").write_text(json.dumps({"metrics": metrics, "judges": {}}))
    bench.write_tables()
    md = (tmp_path / "results.md").read_text()
    assert "seeds [0] (mvae: [0, 1, 2])" in md and "mvae: 3, mopoe: 1" in md
    assert "| mvae | 0.600 +- 0.100 |" in md and "Incomplete" not in md
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "data": "mnist", "presets": ["mvae"], "preset_seeds": {"smvae": [1]}}))
    with pytest.raises(ConfigError, match="preset_seeds names rows"):
        BenchmarkConfig.load(bad)
    bad.write_text(json.dumps({"name": "x", "data": "mnist", "presets": ["mvae"], "preset_seeds": {"mvae": []}}))
    with pytest.raises(ConfigError, match="no seed"):
        BenchmarkConfig.load(bad)


@pytest.mark.parametrize(
    "name,text,words",
    [
        ("absent.yaml", None, "no such file"),
        ("tabs.yaml", "name: x\npresets: [mvae\n", "does not parse"),
        ("broken.json", '{"name": "x",', "does not parse"),
        ("list.yaml", "- mvae\n- mopoe\n", "expected a mapping of fields, got list"),
    ],
)
def test_a_benchmark_config_that_cannot_be_read_is_named_in_one_line(tmp_path, name, text, words):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=words) as info:
        BenchmarkConfig.load(path)
    assert name in str(info.value) and "\n" not in str(info.value)


def _finish(bench, preset, coherence, judge_accuracy):
    """Write a finished cell's record by hand, then the tables; returns results.md."""
    run = bench.run_dir(preset, 0)
    run.mkdir(parents=True)
    judges = {"image": {"micro": judge_accuracy, "macro": judge_accuracy}}
    (run / "benchmark.json").write_text(json.dumps({"metrics": {"joint coherence": coherence}, "judges": judges}))
    bench.write_tables()
    return (bench.out / "results.md").read_text()


def test_an_unfinished_table_says_so_and_names_the_missing_cells(tmp_path):
    bench = Benchmark(_config(presets=["mvae", "mopoe"], seeds=[0]), tmp_path)
    md = _finish(bench, "mvae", 0.5, 0.9)
    assert "Incomplete: 1 of 2 cells finished" in md and "mopoe seed 0" in md
    md = _finish(bench, "mopoe", 0.6, 0.8)
    assert "Incomplete" not in md
    assert "judges trained more than once" in md
    assert "image 0.9000 for mvae seed 0" in md and "image 0.8000 for mopoe seed 0" in md


def test_a_metric_added_to_a_config_is_scored_on_finished_cells_without_training_again(tmp_path, monkeypatch, mnist):
    cfg = _config(presets=["mvae"], missing_rates=[], synergy=False, latent_maps=False)
    run_benchmark(cfg, tmp_path, progress=False)
    record = json.loads((tmp_path / "runs" / "mvae" / "seed0" / "benchmark.json").read_text())["metrics"]
    assert not any(k.startswith("error ") for k in record)
    monkeypatch.setattr(api, "train", lambda *a, **k: pytest.fail("a finished cell was trained again"))
    import dataclasses

    run_benchmark(dataclasses.replace(cfg, cross_error=True), tmp_path, progress=False)
    again = json.loads((tmp_path / "runs" / "mvae" / "seed0" / "benchmark.json").read_text())["metrics"]
    assert 0 < again["error image -> image (MSE)"] < 1 and 0 < again["error label -> image (MSE)"] < 1
    assert {k: v for k, v in again.items() if k in record} == record  # what it had is kept as it was
    assert "## Cross-reconstruction error" in (tmp_path / "results.md").read_text()


def test_synergy_of_a_finished_cell_follows_the_folders_baselines_without_its_model(tmp_path, monkeypatch, mnist):
    # a table resumed where its unimodal baselines were retrained (another machine, a constant of theirs changed):
    # every finished cell's U and G come from the folder's baselines, its S stays what its own model scored
    cfg = _config(presets=["mvae"], missing_rates=[], latent_maps=False)
    run_benchmark(cfg, tmp_path, progress=False)
    path = tmp_path / "runs" / "mvae" / "seed0" / "benchmark.json"
    record = json.loads(path.read_text())
    before = record["metrics"]
    stale = {**before, "synergy image: U unimodal": 0.5, "synergy image": before["synergy image: S from all"] / 0.5 - 1}
    path.write_text(json.dumps({**record, "metrics": stale}))
    (tmp_path / "runs" / "mvae" / "seed0" / "model.safetensors").unlink()  # the cell's model is not here
    monkeypatch.setattr(api, "train", lambda *a, **k: pytest.fail("a finished cell was trained again"))
    run_benchmark(cfg, tmp_path, progress=False)
    after = json.loads(path.read_text())["metrics"]
    assert after == pytest.approx(before)  # U and G as scored with the cell, S unchanged


def test_cells_kept_from_another_config_are_refused_by_name(tmp_path):
    bench = Benchmark(_config(presets=["mvae"]), tmp_path)
    run = bench.run_dir("mvae", 0)
    run.mkdir(parents=True)
    (run / "config.json").write_text(bench.configs["mvae", 0].to_json())
    bench.check_finished()  # the same config: accepted
    edited = _config(presets=["mvae"], overrides=[*_config().overrides, "train.lr=0.0005"])
    with pytest.raises(ConfigError, match=r"mvae seed 0 was run under another config \(train.lr: 0.001 -> 0.0005"):
        Benchmark(edited, tmp_path).run(progress=False)


def test_a_cell_is_its_schedule_not_how_it_is_written_nor_how_it_is_run(tmp_path):
    overrides = [o for o in _config().overrides if not o.startswith("train.epochs")]

    def bench(*extra):
        cfg = _config(presets=["mvae"], overrides=[*overrides, "train.epochs=10", *extra])
        return Benchmark(cfg, tmp_path)

    share = bench("objective.warmup_epochs=0", "objective.warmup_fraction=1", "train.threads=2")
    run = share.run_dir("mvae", 0)
    run.mkdir(parents=True)
    (run / "config.json").write_text(share.configs["mvae", 0].to_json())
    # the preset's fixed 10 epochs is the stored share of a 10-epoch budget; threads and checkpoint intervals
    # say how the cell is run, not what it computes
    bench("train.threads=1", "train.checkpoint_every_minutes=3").check_finished()
    with pytest.raises(ConfigError, match=r"objective.warmup_epochs: 10.0 -> 5"):
        bench("objective.warmup_epochs=5").check_finished()


def test_cells_stored_before_a_config_field_existed_stay_valid_at_its_default(tmp_path):
    bench = Benchmark(_config(presets=["mvae"]), tmp_path)
    run = bench.run_dir("mvae", 0)
    run.mkdir(parents=True)
    stored = json.loads(bench.configs["mvae", 0].to_json())
    del stored["train"]["lr"]  # as if written by a library that had no such field
    (run / "config.json").write_text(json.dumps(stored))
    bench.check_finished()  # the field's default keeps the earlier behaviour: accepted
    edited = _config(presets=["mvae"], overrides=[*_config().overrides, "train.lr=0.0005"])
    with pytest.raises(ConfigError, match=r"train.lr: 0.001 -> 0.0005"):
        Benchmark(edited, tmp_path).check_finished()


def test_the_table_says_how_each_cell_estimated_its_conditionals(tmp_path):
    bench = Benchmark(_config(presets=["mvae", "mopoe"], seeds=[0]), tmp_path)
    for preset, how in (("mvae", "q(z|image)"), ("mopoe", "mixture of q(z|image) and q(z|image,label)")):
        run = bench.run_dir(preset, 0)
        run.mkdir(parents=True)
        (run / "benchmark.json").write_text(json.dumps({"metrics": {"joint coherence": 0.5}, "judges": {}}))
        setup = {"conditioning proposals": {"image": how, "label": "prior"}}
        (run / "results.json").write_text(json.dumps({"setup": setup}))
    bench.write_tables()
    md = (tmp_path / "results.md").read_text()
    assert "q(z | x_B) alone (`conditioning: own`)" in md and "above 0 for discrete data" in md
    assert "for mvae seed 0" in md and "(`conditioning: mixture`) for mopoe seed 0" in md
    (bench.run_dir("mvae", 0) / "results.json").write_text(json.dumps({"setup": {"conditioning proposals": {}}}))
    bench.write_tables()
    md = (tmp_path / "results.md").read_text()
    assert "from the equal mixture of q(z | x_B) and q(z | all) (`conditioning: mixture`)." in md
    assert "alone" not in md


def test_benchmark_configs_fail_early_and_by_name(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "data": "mnist", "presets": ["mvae"], "epoch": 3}))
    with pytest.raises(ConfigError, match="unknown field"):
        BenchmarkConfig.load(bad)
    bad.write_text(json.dumps({"name": "x", "data": "mnist", "presets": ["mvae"], "preset_overrides": {"smvae": []}}))
    with pytest.raises(ConfigError, match="does not run"):
        BenchmarkConfig.load(bad)
    with pytest.raises(ValueError, match="unknown"):
        Benchmark(_config(presets=["nosuch"]), tmp_path)
    assert cli.main(["benchmark", str(bad), "--out", str(tmp_path / "o")]) == 2
    bad.write_text(json.dumps({"name": "x", "data": "mnist", "presets": ["mvae"], "conditioning": "best"}))
    with pytest.raises(ConfigError, match="conditioning must be one of"):
        BenchmarkConfig.load(bad)
    bad.write_text(json.dumps({"name": "x", "data": "mnist", "presets": ["mvae"], "judge_arch": "resnet"}))
    with pytest.raises(ConfigError, match="judge_arch must be one of"):
        BenchmarkConfig.load(bad)


def test_shipped_benchmark_configs_load_and_build():
    from pathlib import Path

    configs = sorted([*Path("configs/benchmarks").glob("*.yaml"), *Path("configs/ablations").glob("*.yaml")])
    assert len(configs) >= 3
    for path in configs:
        cfg = BenchmarkConfig.load(path)
        Benchmark(cfg, "/nonexistent/never/written")  # builds and checks every cell's config, writes nothing


def test_the_table3_scenes_config_runs_end_to_end_at_a_smoke_budget(tmp_path):
    import dataclasses

    cfg = BenchmarkConfig.load("configs/benchmarks/sensor_fusion_table3_scenes.yaml")
    smoke = dataclasses.replace(
        cfg,
        presets=["rbcm+ecg"],
        overrides=[*cfg.overrides, "train.epochs=1", "train.limit_train=128", "train.limit_val=64"],
        n_test=20,
        k=5,
        coherence_items=60,
        joint_samples=100,
        judge_epochs=1,
        judge_items=400,
        judges="",  # the smoke judges stay in tmp_path, not in the shipped config's shared bench/judges
    )
    result = Benchmark(smoke, tmp_path / "t3").run(progress=False)
    md = (tmp_path / "t3" / "results.md").read_text()
    assert "## Coherence with a sensor missing" in md and "## Cross coherence" in md and "| rbcm+ecg |" in md
    assert "image+radar -> depth" in " ".join(result["rows"]["rbcm+ecg"])
    assert any(k.startswith("synergy") for k in result["rows"]["rbcm+ecg"])
    ap = result["rows"]["rbcm+ecg"]["presence image+radar -> depth (mAP)"][0]
    assert 0.0 <= ap <= 1.0 and "## Presence AP of generated data" in md
    assert "presence image+radar -> depth: AP far-left" in result["rows"]["rbcm+ecg"]
    # the claims script reads the cells: every claim of the paper gets a verdict, and no NaN is printed
    import importlib.util

    spec = importlib.util.spec_from_file_location("claims", "bench/sensor_fusion_claims.py")
    claims = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claims)
    text = claims.table3(tmp_path / "t3")
    verdicts = [line for line in text.splitlines() if line.startswith("- *")]
    assert len(verdicts) >= 8 and all(("hold" in v or "not measured" in v) for v in verdicts)
    assert "| rbcm+ecg | ECG | 3 |" in text and "nan" not in text
    # the table in brief (the README's numbers) has one cell per header, and the mechanism claim gets a verdict
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| row | scheme | seeds | from one sensor |"))
    assert lines[head + 2].startswith("| rbcm+ecg | ECG | 3 |")
    assert lines[head + 2].count("|") == lines[head].count("|") == 14  # 13 columns
    assert any(v.startswith("- *Its mechanism, from one sensor") for v in verdicts)


def test_status_reads_each_cell_from_its_folder_and_tables_come_from_the_finished_ones(tmp_path, capsys):
    cfg = _config(presets=["mvae", "mopoe"], seeds=[0], preset_seeds={"mvae": [0, 1, 2]})
    cfg = BenchmarkConfig(**{**cfg.__dict__, "overrides": [*cfg.overrides, "train.epochs=5"]})
    bench = Benchmark(cfg, tmp_path)
    done = bench.run_dir("mvae", 0)
    done.mkdir(parents=True)
    (done / "benchmark.json").write_text(json.dumps({"metrics": {"joint coherence": 0.5}, "judges": {}}))
    scoring = bench.run_dir("mvae", 1)
    scoring.mkdir(parents=True)
    (scoring / "model.safetensors").write_bytes(b"")
    training = bench.run_dir("mvae", 2) / "logs"
    training.mkdir(parents=True)
    rows = ["epoch,step,train/loss,val/elbo", "0,9,1.0,", "0,9,,-90.0", "1,19,0.9,", "1,19,,-89.0", "2,29,0.8,"]
    (training / "metrics.csv").write_text("\n".join(rows) + "\n")
    t = "2026-12-04T01:00:00+00:00"
    (training / "epoch_seconds.csv").write_text(f"epoch,seconds,threads,ended\n0,20,1,{t}\n1,30,1,{t}\n")
    got = {(c.preset, c.seed): (c.state, c.epochs_done, c.epochs) for c in bench.status()}
    assert got == {
        ("mvae", 0): ("finished", 5, 5),
        ("mvae", 1): ("trained, scoring", 5, 5),
        ("mvae", 2): ("training", 2, 5),  # epoch 2 has no validation pass yet
        ("mopoe", 0): ("not started", 0, 5),
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.__dict__))
    cli.main(["benchmark", str(path), "--out", str(tmp_path), "--status", "--tables"])
    printed = capsys.readouterr().out
    assert "| mvae | 2 | training | 2 of 5 | 25 | 1:15 min | stopped (resumes) |" in printed  # its own pace
    assert "| mopoe | 0 | not started | 0 of 5 | ? | ? |  |" in printed
    assert "1 of 4 cells finished; 0 held by a worker now." in printed
    assert "**Incomplete: 1 of 4 cells finished**" in printed and "| mvae | 0.500 |" in printed
    assert not (tmp_path / "benchmark_config.json").exists()  # nothing was run


def test_judges_kept_in_a_shared_folder_judge_every_benchmark_that_names_it(tmp_path, monkeypatch, mnist):
    from fusevae.metrics import classifier

    shared = tmp_path / "judges"
    first = Benchmark(_config(judges=str(shared)), tmp_path / "a").evaluator().judges()
    assert [p.suffix for p in sorted(shared.iterdir()) if p.suffix != ".lock"] == [".json", ".safetensors"]
    assert not (tmp_path / "a" / "cache").exists()  # not in the benchmark's own cache
    monkeypatch.setattr(classifier, "fit_classifier", lambda *a, **k: pytest.fail("a shared judge was trained again"))
    second = Benchmark(_config(judges=str(shared)), tmp_path / "b").evaluator().judges()
    for name, a in first["image"].net.state_dict().items():
        assert (second["image"].net.state_dict()[name] == a).all()
