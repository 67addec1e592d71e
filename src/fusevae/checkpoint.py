"""Checkpoints as safetensors: tensors in the file body, everything else as JSON in its header.

Loading never unpickles. `SafeCheckpointIO` plugs this format into Lightning, so the full
training state (model, optimiser, loops, callbacks) is saved and resumed without pickle;
`save_model` / `load_model` write the final weights and the config for users.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import CheckpointIO
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .config import CONFIG_VERSION, ConfigError, ExperimentConfig

FORMAT = "fusevae-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint is unreadable, unsafe, or does not match the code or the config."""


def _encode(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, bool | int | float | str) or obj is None:
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{path}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        return {"__map__": [[_encode(k, tensors, path), _encode(v, tensors, f"{path}.{k}")] for k, v in obj.items()]}
    raise CheckpointError(f"cannot store {type(obj).__name__} at {path} in a safe checkpoint")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            if obj["__tensor__"] not in tensors:
                raise CheckpointError(f"checkpoint header names tensor {obj['__tensor__']!r} that the file lacks")
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if set(obj) == {"__map__"}:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__map__"]}
        return {k: _decode(v, tensors) for k, v in obj.items()}
    return obj


def save_state(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a nested state dict atomically (temp file, then rename) as one safetensors file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    header = _encode(state, tensors, "checkpoint")
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(header)})
    os.replace(tmp, path)


def load_state(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by save_state; refuses anything that is not this safetensors format."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a safetensors checkpoint ({e}); fusevae never unpickles checkpoints"
        ) from None
    if meta.get("format") != FORMAT or "state" not in meta:
        raise CheckpointError(f"{path}: not a fusevae checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    return _decode(json.loads(meta["state"]), tensors)


class SafeCheckpointIO(CheckpointIO):
    """Lightning CheckpointIO that writes and reads the safetensors+JSON format above."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        save_state(checkpoint, path)

    def load_checkpoint(
        self, path: str | os.PathLike[str], map_location: Any = None, weights_only: Any = None
    ) -> dict[str, Any]:
        return load_state(path, "cpu")

    def remove_checkpoint(self, path: str | os.PathLike[str]) -> None:
        Path(path).unlink(missing_ok=True)


MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def save_model(run_dir: str | os.PathLike[str], model: torch.nn.Module, cfg: ExperimentConfig) -> None:
    """The trained weights (safetensors) and the config that rebuilds the model (JSON)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (MODEL_FILE + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp), metadata={"format": "fusevae-model-1"})
    os.replace(tmp, run_dir / MODEL_FILE)
    (run_dir / CONFIG_FILE).write_text(cfg.to_json())


def load_config(run_dir: str | os.PathLike[str]) -> ExperimentConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: missing; is {run_dir} a fusevae run folder?")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from None
    if raw.get("version") != CONFIG_VERSION:
        raise CheckpointError(f"{path}: config version {raw.get('version')!r}, this fusevae reads {CONFIG_VERSION}")
    try:
        return ExperimentConfig.from_dict(raw)
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None


def load_model(run_dir: str | os.PathLike[str], map_location: str = "cpu") -> tuple[torch.nn.Module, ExperimentConfig]:
    """Rebuild the model from config.json and load model.safetensors, checking every tensor."""
    from .model import MultimodalVAE

    cfg = load_config(run_dir)
    model = MultimodalVAE(cfg.model)
    path = Path(run_dir) / MODEL_FILE
    try:
        state = load_file(str(path), device=map_location)
    except (SafetensorError, OSError, FileNotFoundError) as e:
        raise CheckpointError(f"{path}: cannot read weights ({e})") from None
    load_weights(model, state, str(path))
    model.eval()
    return model, cfg


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict with one error naming the missing, unexpected or mis-shaped tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{where} does not match the model built from its config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, shape mismatches {shapes[:5]}"
        )
    model.load_state_dict(state)
