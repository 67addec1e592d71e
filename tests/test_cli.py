import json

from fusevae.cli import main

from .test_training import SMALL


def test_cli_train_evaluate_generate_end_to_end(tmp_path, capsys, mnist):
    run = tmp_path / "run"
    sets = []
    for s in SMALL + ["train.limit_train=600", "train.limit_val=200"]:
        sets += ["--set", s]
    code = main(
        [
            "train",
            "mvae",
            "--data",
            "mnist",
            "--epochs",
            "1",
            "--out",
            str(run),
            "--k",
            "20",
            "--n-test",
            "30",
            "--no-progress",
            *sets,
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "log p(x,y)" in out and "log p(x|y)" in out and "mvae" in out
    results = json.loads((run / "results.json").read_text())
    for proposal in ("q(z|x,y)", "q(z|x)"):
        assert set(results[proposal]) >= {"log p(x,y)", "log p(x)", "log p(x|y)"}
    assert results["setup"]["n"] == 30 and results["setup"]["k"] == 20
    assert (run / "results.md").read_text().startswith("| model |")
    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert figures == ["label_to_image.png", "reconstructions.png"]

    assert main(["evaluate", str(run), "--k", "10", "--n-test", "20", "--no-progress"]) == 0
    assert "sampled from q(z|x,y)" in capsys.readouterr().out
    assert main(["generate", str(run), "--n", "3"]) == 0
    assert "label_to_image.png" in capsys.readouterr().out
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out
    assert "mvae" in listed and "smvae" in listed
    assert main(["data", "list"]) == 0


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["train", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["train", "mvae", "--set", "objective.bta=1", "--out", str(tmp_path / "y")]) == 2
    assert "no field 'bta'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "config.json" in capsys.readouterr().err
