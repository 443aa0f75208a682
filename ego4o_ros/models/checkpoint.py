"""Checkpoints: weights as safetensors, everything else as JSON beside them.

``<stem>.safetensors`` holds the tensors; ``<stem>.json`` says what they are: model kind
and config, version, rates, window, units, IMU site names, feature statistics and the
data licence. Nothing is unpickled.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKPOINT_VERSION = 1


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(stem: str | Path, model: torch.nn.Module, metadata: dict) -> Path:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(stem.with_suffix(".safetensors")))
    stem.with_suffix(".json").write_text(json.dumps({"version": CHECKPOINT_VERSION, **metadata}, indent=1))
    return stem.with_suffix(".safetensors")


def read_metadata(stem: str | Path) -> dict:
    path = Path(stem).with_suffix(".json")
    if not path.exists():
        raise CheckpointError(f"checkpoint metadata missing: {path}")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint metadata is not valid JSON: {path}: {error}") from error
    if metadata.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {metadata.get('version')}, expected {CHECKPOINT_VERSION}")
    return metadata


def load_weights(stem: str | Path, model: torch.nn.Module) -> torch.nn.Module:
    path = Path(stem).with_suffix(".safetensors")
    if not path.exists():
        raise CheckpointError(f"checkpoint weights missing: {path}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint weights are corrupt or unreadable: {path}: {error}") from error
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit the model its metadata describes: {error}") from error
    return model


def save_training_state(path: Path, model, optimizer, step: int, extra: dict | None = None) -> None:
    """Resumable state (tensors and plain numbers only, so it loads with weights_only)."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "extra": extra or {}}, tmp)
    tmp.replace(path)


def load_training_state(path: Path, model, optimizer) -> tuple[int, dict]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), state.get("extra", {})
