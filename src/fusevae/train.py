"""Training on PyTorch Lightning: the LightningModule owns a step, the Trainer owns loops and devices."""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import nn

from .checkpoint import SafeCheckpointIO, save_model
from .config import ExperimentConfig, TrainConfig
from .data import MultimodalData, batch_loader
from .data.batch import Batch
from .epoch_clock import EpochClock
from .metrics.likelihood import joint_elbo
from .model import MultimodalVAE
from .objectives import make_objective
from .validation import check_dataset, check_learnable, diagnose_non_finite

CHECK_EVERY = 50  # steps between reads of the non-finite flag on an accelerator


OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser named by train.optimizer; the fused kernels update every parameter in one pass."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, fused=True)
    if cfg.optimizer == "rmsprop":  # M2VAE Table 2 trains its MoG models with RMSprop
        return torch.optim.RMSprop(params, lr=cfg.lr)
    raise ValueError(f"train.optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")


class ResumableCSVLogger(CSVLogger):
    """CSVLogger that, when resuming, keeps the rows already written instead of deleting the file."""

    def __init__(self, *args: Any, keep_existing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep_existing = keep_existing

    @property
    def experiment(self) -> Any:
        if self._experiment is not None or not self._keep_existing:
            return super().experiment
        path = Path(self.log_dir) / "metrics.csv"
        saved = path.read_text() if path.exists() else ""
        writer = super().experiment  # Lightning's writer removes the old file here
        if saved:
            path.write_text(saved)
            writer.metrics_keys = sorted(saved.splitlines()[0].split(","))
        return writer


class LitMultimodalVAE(L.LightningModule):
    """One training step = the objective on one batch; validation = the plain joint ELBO."""

    def __init__(self, cfg: ExperimentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = MultimodalVAE(cfg.model)
        self.objective = make_objective(cfg.objective, self.model, epochs=cfg.train.epochs)
        self._loss = torch.compile(self.objective) if cfg.train.compile else self.objective

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        epoch = self.current_epoch + batch_idx / max(1, self.trainer.num_training_batches)
        # a compiled step takes the epoch as a tensor: a new Python float each step would recompile it
        out = self._loss(self.model, batch, torch.tensor(epoch) if self.cfg.train.compile else epoch)
        self._check_finite(out.loss, out.logs, batch)
        sampler = getattr(self, "train_sampler", None)
        if sampler is not None:
            sampler.completed += 1  # before the checkpoint callbacks of this step run
        if self._logs_this_step():
            n = len(batch)
            self.log("train/loss", out.loss, prog_bar=True, batch_size=n)
            for k, v in out.logs.items():
                self.log(f"train/{k}", v, batch_size=n)
        return out.loss

    def _logs_this_step(self) -> bool:
        """Whether the logger writes this step (every log_every_n_steps); each self.log costs ~0.7 ms.

        Step metrics are written only on those steps, so logging the others is pure overhead.
        Falls back to logging every step if Lightning stops exposing the answer.
        """
        connector = getattr(self.trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True))

    def _check_finite(self, loss: torch.Tensor, logs: dict[str, torch.Tensor], batch: Batch) -> None:
        """Stop on a non-finite loss, naming the scheme, the terms and the first bad batch entry.

        On the CPU reading the loss costs nothing, so every step is checked before the
        optimiser uses it. On an accelerator that read would stall the device every step, so
        a flag is kept on the device and read every `CHECK_EVERY` steps instead.
        """
        if loss.device.type != "cpu":
            flag = ~torch.isfinite(loss.detach())
            self._bad = flag if getattr(self, "_bad", None) is None else self._bad | flag
            if (self.global_step + 1) % CHECK_EVERY and not self.trainer.is_last_batch:
                return
            bad, self._bad = bool(self._bad), None
            if not bad:
                return
            where = f"in the {CHECK_EVERY} steps up to step {self.global_step}"
        elif math.isfinite(loss.item()):
            return
        else:
            where = f"at step {self.global_step}"
        terms = {k: float(v) for k, v in logs.items()}
        raise FloatingPointError(
            f"non-finite training loss at epoch {self.current_epoch}, {where} "
            f"(scheme {self.cfg.objective.kind}, terms {terms}): {diagnose_non_finite(self.model, batch)}; "
            "the last checkpoint is kept"
        )

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
        # a Batch moves itself; Lightning's generic walk over dataclass fields deep-copies it every step
        return batch.to(device)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.log("val/elbo", joint_elbo(self.model, batch).mean(), prog_bar=True, batch_size=len(batch), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.cfg.train, self.model.parameters())

    # -- exact resume: the random-number state travels with the checkpoint ------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        checkpoint["fusevae_rng"] = rng

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # applied when training starts, after Lightning's own set-up and sanity checks
        self._pending_rng = checkpoint.get("fusevae_rng")

    def on_train_start(self) -> None:
        rng = getattr(self, "_pending_rng", None)
        if rng:
            torch.set_rng_state(rng["torch"].to(torch.uint8))
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(list(rng["cuda"].to(torch.uint8)))
            self._pending_rng = None

    def setup(self, stage: str) -> None:
        # shard before Lightning measures the loader, so each rank counts only its own batches;
        # Lightning itself calls the sampler's set_epoch at the start of every epoch
        sampler = getattr(self, "train_sampler", None)
        if sampler is not None:
            sampler.set_shard(self.trainer.global_rank, self.trainer.world_size)


def _devices(spec: int | str) -> Any:
    if isinstance(spec, int) or spec == "auto":
        return spec
    if "," in spec:
        return [int(d) for d in spec.split(",") if d]
    return int(spec)


def fit(
    cfg: ExperimentConfig,
    data: MultimodalData,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
    callbacks: list[L.Callback] | None = None,
    before_write: Callable[[], None] | None = None,
) -> LitMultimodalVAE:
    """Train `cfg` on `data`, logging to CSV and TensorBoard and checkpointing every epoch in out_dir.

    With resume, training continues from out_dir/checkpoints/last.ckpt (model, optimiser,
    loop and data-order state). The final weights go to out_dir/model.safetensors.
    `callbacks` are extra Lightning callbacks (timers, early stopping, ...). The data is checked
    against the config before anything is written; `before_write` runs once those checks pass.
    `train.threads` holds for this call only: the caller's torch thread count is restored afterwards.
    """
    previous = torch.get_num_threads()
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    try:
        return _fit(cfg, data, Path(out_dir), resume, progress, callbacks, before_write)
    finally:
        torch.set_num_threads(previous)


def _fit(
    cfg: ExperimentConfig,
    data: MultimodalData,
    out: Path,
    resume: bool,
    progress: bool,
    callbacks: list[L.Callback] | None,
    before_write: Callable[[], None] | None,
) -> LitMultimodalVAE:
    t = cfg.train
    L.seed_everything(t.seed, workers=True, verbose=False)
    train_set = data.train.subset(t.limit_train) if t.limit_train else data.train
    val_set = data.valid.subset(t.limit_val) if t.limit_val else data.valid
    if t.missing:
        train_set = train_set.drop_modalities(t.missing, seed=t.seed)
        val_set = val_set.drop_modalities(t.missing, seed=t.seed + 1)
    check_dataset(cfg.model, train_set, "training set")
    check_learnable(cfg.model, train_set, "training set")
    check_dataset(cfg.model, val_set, "validation set")
    module = LitMultimodalVAE(cfg)
    out.mkdir(parents=True, exist_ok=True)
    if before_write is not None:
        before_write()
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    cbs: list[Any] = [
        ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="best",
            monitor="val/elbo",
            mode="max",
            save_top_k=1,
            save_last=True,
            enable_version_counter=False,
        ),
    ]
    if t.checkpoint_every_steps > 0 or t.checkpoint_every_minutes > 0:
        # mid-epoch saves of last.ckpt, so a crash loses at most this interval. Both callbacks write the one
        # last.ckpt that resume reads: with Lightning's version counter the second to write got last-v1.ckpt
        cbs.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                save_top_k=0,
                save_last=True,
                enable_version_counter=False,
                every_n_train_steps=t.checkpoint_every_steps or None,
                train_time_interval=None
                if t.checkpoint_every_steps
                else datetime.timedelta(minutes=t.checkpoint_every_minutes),
            )
        )
    cbs.append(EpochClock(out))  # each epoch's wall time, kept across resumptions (a run's training time)
    if progress:
        cbs.append(TQDMProgressBar(refresh_rate=20))
    cbs += callbacks or []
    trainer = L.Trainer(
        max_epochs=t.epochs,
        accelerator=t.accelerator,
        devices=_devices(t.devices),
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,  # type: ignore[arg-type]
        logger=[
            ResumableCSVLogger(out, name="logs", version="", keep_existing=resume),
            TensorBoardLogger(out, name="tb", version=""),
        ],
        callbacks=cbs,
        plugins=[SafeCheckpointIO()],
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
        log_every_n_steps=50,
        deterministic=False,
        default_root_dir=out,
    )
    (out / "config.json").write_text(cfg.to_json())
    train_loader = batch_loader(train_set, t.batch_size, shuffle=True, seed=t.seed)
    module.train_sampler = train_loader.sampler
    trainer.fit(
        module,
        train_dataloaders=train_loader,
        val_dataloaders=batch_loader(val_set, 1000, shuffle=False),
        ckpt_path=str(last) if resume and last.exists() else None,
    )
    if trainer.is_global_zero:
        save_model(out, module.model, cfg)
    return module
