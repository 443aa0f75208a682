"""Checkpoints: weights as safetensors, a typed model card as JSON beside them.

``<stem>.safetensors`` holds the tensors; ``<stem>.json`` is the ``ModelCard``: what
the tensors are (kind, model config), what they expect (rate, window, IMU sites, body
parts, units, feature statistics, text/image backends), where they come from (data
licence, training settings, the VQ-VAE they were initialised from) and the SHA-256 of
the weights file, verified at load. Cards are read in one place (``ModelCard.read``)
and validated there with one clear error; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..core import body, imu
from ..core.features import FeatureNormalizer

CHECKPOINT_VERSION = 2
KINDS = ("vqvae", "ego4o", "baseline", "captioner", "lm_captioner", "image")
DATA_LICENCE = "trained on Bandai-Namco Research Motion datasets (CC BY-NC 4.0): non-commercial use only"
UNITS = {
    "imu_acc": "m/s^2 world, gravity included, / 30 at the input",
    "imu_ori": "world-from-sensor, identity in the T-pose",
    "features": "HumanML3D 263, normalised",
    "frames": "body frame: metres, Y up, facing +Z",
}


class CheckpointError(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelCard:
    kind: str  # one of KINDS
    model_config: dict  # the model's constructor config (its dataclass as a dict)
    fps: float  # model rate, Hz
    window: int  # frames per window
    dataset: dict  # core.dataset.DatasetConfig of the training cache
    feature_mean: list[float]  # HumanML3D feature statistics (263 each)
    feature_std: list[float]
    sites: tuple[str, ...] = imu.IMU_SITES
    parts: tuple[str, ...] = body.PART_NAMES
    units: dict = field(default_factory=lambda: dict(UNITS))
    licence: str = DATA_LICENCE
    text_backend: str | None = None  # "minilm", "clip:<file>" or None (no text input)
    image_backend: str | None = None  # None: the image token is masked
    initialised_from: dict = field(default_factory=dict)  # e.g. {"vqvae": {"sha256": ...}}
    training: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # kind-specific data (captioner texts)
    weights_sha256: str = ""
    version: int = CHECKPOINT_VERSION

    def __post_init__(self):
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} is not one of {KINDS}")
        if tuple(self.sites) != imu.IMU_SITES:
            problems.append(f"sites {list(self.sites)} differ from this package's {list(imu.IMU_SITES)}")
        if tuple(self.parts) != body.PART_NAMES:
            problems.append(f"parts {list(self.parts)} differ from {list(body.PART_NAMES)}")
        if len(self.feature_mean) != body.FEATURE_DIM or len(self.feature_std) != body.FEATURE_DIM:
            problems.append(f"feature statistics must have {body.FEATURE_DIM} values")
        elif not (np.all(np.isfinite(self.feature_mean)) and np.all(np.asarray(self.feature_std) > 0)):
            problems.append("feature statistics are not finite and positive")
        if self.fps <= 0 or self.window < 4:
            problems.append(f"bad rate/window {self.fps} Hz / {self.window}")
        if problems:
            raise CheckpointError("invalid model card: " + "; ".join(problems))

    @classmethod
    def for_cache(cls, cache, kind: str, model_config: dict, training: dict, normalizer=None, **fields) -> ModelCard:
        """A card for a model trained on ``cache`` (a ``core.dataset.MotionCache``): its rate,
        window, dataset settings and feature statistics (``normalizer`` overrides the cache's)."""
        normalizer = normalizer or cache.normalizer()
        return cls(
            kind=kind,
            model_config=model_config,
            fps=cache.config.fps,
            window=cache.config.window,
            dataset=asdict(cache.config),
            feature_mean=normalizer.mean.tolist(),
            feature_std=normalizer.std.tolist(),
            training=training,
            **fields,
        )

    def normalizer(self) -> FeatureNormalizer:
        return FeatureNormalizer(np.asarray(self.feature_mean), np.asarray(self.feature_std))

    @classmethod
    def read(cls, stem: str | Path, kind: str | None = None) -> ModelCard:
        path = Path(stem).with_suffix(".json")
        if not path.exists():
            raise CheckpointError(f"model card missing: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise CheckpointError(f"model card is not valid JSON: {path}: {error}") from error
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            version = data.get("version") if isinstance(data, dict) else None
            raise CheckpointError(
                f"{path}: card version {version}, expected {CHECKPOINT_VERSION} "
                "(retrain, or use the weights shipped with this version)"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"{path}: unknown card fields {unknown}")
        try:
            card = cls(
                **{
                    **data,
                    "sites": tuple(data.get("sites", imu.IMU_SITES)),
                    "parts": tuple(data.get("parts", body.PART_NAMES)),
                }
            )
        except TypeError as error:
            raise CheckpointError(f"{path}: {error}") from error
        except CheckpointError as error:
            raise CheckpointError(f"{path}: {error}") from error
        if kind is not None and card.kind != kind:
            raise CheckpointError(f"{path} holds a {card.kind!r}, not a {kind!r}")
        return card

    def write(self, stem: str | Path) -> Path:
        path = Path(stem).with_suffix(".json")
        data = asdict(self)
        data["sites"], data["parts"] = list(self.sites), list(self.parts)
        path.write_text(json.dumps(data, indent=1))
        return path


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(stem: str | Path, tensors: torch.nn.Module | dict, card: ModelCard) -> Path:
    """Weights + card; the card gets the weights file's checksum."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(tensors, torch.nn.Module):
        tensors = tensors.state_dict()
    weights = stem.with_suffix(".safetensors")
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(weights))
    replace(card, weights_sha256=sha256(weights)).write(stem)
    return weights


def load_tensors(stem: str | Path, card: ModelCard) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, after checking the file against the card's checksum."""
    path = Path(stem).with_suffix(".safetensors")
    if not path.exists():
        raise CheckpointError(f"checkpoint weights missing: {path}")
    if card.weights_sha256 and sha256(path) != card.weights_sha256:
        raise CheckpointError(
            f"{path} does not match its model card's SHA-256 (corrupt, or from another "
            "training run); restore the file or retrain"
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint weights are corrupt or unreadable: {path}: {error}") from error
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: non-finite values in {bad[:5]}")
    return tensors


def load_weights(stem: str | Path, model: torch.nn.Module, card: ModelCard) -> torch.nn.Module:
    try:
        model.load_state_dict(load_tensors(stem, card))
    except RuntimeError as error:
        raise CheckpointError(
            f"{Path(stem).with_suffix('.safetensors')} does not fit the model its card describes: {error}"
        ) from error
    return model


def save_training_state(path: Path, model, optimizer, step: int, extra: dict | None = None) -> None:
    """Resumable state (tensors and plain numbers only, so it loads with weights_only)."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "extra": extra or {}}, tmp
    )
    tmp.replace(path)


def load_training_state(path: Path, model, optimizer, device="cpu") -> tuple[int, dict]:
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), state.get("extra", {})
