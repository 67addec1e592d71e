import json

import torch

from fusevae import api
from fusevae.checkpoint import load_model
from fusevae.metrics import joint_elbo
from fusevae.model import MultimodalVAE

SMALL = [
    "model.modalities.image.encoder_hidden=[128,128]",
    "model.modalities.label.encoder_hidden=[128,128]",
    "model.modalities.image.decoder_hidden=[128,128]",
    "model.modalities.label.decoder_hidden=[128,128]",
    "model.latent_dim=16",
    "train.limit_train=4000",
    "train.limit_val=500",
    "objective.warmup_epochs=1",
    "objective.warmup_fraction=0",
]


def _test_bound(model, mnist, n=500):
    torch.manual_seed(0)
    batch = mnist.test[torch.arange(n)]
    return float(torch.stack([joint_elbo(model, batch).mean() for _ in range(4)]).mean())


def test_short_real_training_improves_the_test_bound(tmp_path, mnist):
    for preset, fusion_extra in (("smvae", ["model.fusion.heads=2"]), ("mvae", [])):
        cfg = api.make_config(preset, "mnist", SMALL + fusion_extra + ["train.epochs=3"])
        torch.manual_seed(cfg.train.seed)
        before = _test_bound(MultimodalVAE(cfg.model).eval(), mnist)
        run = api.train(cfg, out=tmp_path / preset, progress=False)
        model, _ = load_model(run)
        after = _test_bound(model, mnist)
        assert after > before + 200, (preset, before, after)
        assert after > -260, (preset, after)
        metrics = (run / "logs" / "metrics.csv").read_text()
        assert "val/elbo" in metrics and (run / "checkpoints" / "last.ckpt").exists()
        assert (run / "tb").is_dir()


def test_resume_continues_from_the_last_checkpoint(tmp_path, mnist):
    cfg = api.make_config("mvae", "mnist", SMALL + ["train.epochs=1", "train.limit_train=1000"])
    run = api.train(cfg, out=tmp_path / "r", progress=False)
    first, _ = load_model(run)
    cfg.train.epochs = 2
    api.train(cfg, out=run, resume=True, progress=False)
    second, _ = load_model(run)
    rows = [r.split(",") for r in (run / "logs" / "metrics.csv").read_text().splitlines()[1:]]
    assert {r[0] for r in rows} >= {"0", "1"}
    diff = sum(float((a - b).abs().sum()) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert diff > 0
    stats = json.loads((run / "train_stats.json").read_text())
    assert stats["epochs"] == 2


def test_the_thread_count_of_a_run_holds_for_that_run_only(tmp_path):
    import numpy as np

    from fusevae import api
    from fusevae.data.user import from_arrays

    data = from_arrays({"a": np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)}, seed=0)
    torch.set_num_threads(2)
    cfg = api.make_config("mvae", data, ["train.epochs=1", "train.threads=1", "model.latent_dim=2"])
    api.train(cfg, data=data, out=tmp_path / "run", progress=False)
    assert torch.get_num_threads() == 2  # what the caller had, so later work is not silently single-threaded


def test_a_modality_no_training_item_has_is_refused_before_anything_is_written(tmp_path):
    import numpy as np
    import pytest

    from fusevae.data.batch import BatchError
    from fusevae.data.user import from_arrays

    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(60, 3)).astype(np.float32), "b": rng.normal(size=(60, 2)).astype(np.float32)}
    inverted = {"b": np.zeros(60, dtype=bool)}  # a mask written the wrong way round: no item has b
    data = from_arrays(x, masks=inverted, seed=0)
    cfg = api.make_config("mvae", data, ["train.epochs=1", "model.latent_dim=2"])
    with pytest.raises(BatchError, match=r"training set: modality 'b' is present in none of its \d+ items"):
        api.train(cfg, data=data, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    # the same modality dropped for most items still trains: one present item is enough to learn from
    some = {"b": np.arange(60) % 10 == 0}
    api.train(cfg, data=from_arrays(x, masks=some, seed=0), out=tmp_path / "ok", progress=False)
    assert (tmp_path / "ok" / "model.safetensors").exists()


def test_mid_epoch_saves_overwrite_the_one_last_checkpoint_that_resume_reads(tmp_path, mnist):
    # 1000 items at batch 100: 10 steps an epoch, so the epoch-end save writes last.ckpt before the first
    # mid-epoch one (step 13), which must overwrite it rather than go to a last-v1.ckpt that resume never reads
    cfg = api.make_config(
        "mvae",
        "mnist",
        SMALL + ["train.epochs=2", "train.limit_train=1000", "train.batch_size=100", "train.checkpoint_every_steps=13"],
    )
    run = api.train(cfg, out=tmp_path / "r", progress=False)
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.ckpt", "last.ckpt"], names
