"""Motion capture with the trained models: windows of IMU (+ text) -> HumanML3D features.

Every method has the same window face, ``predict(imu_inputs, present, text, text_present)
-> normalised features (B, W, 263)``, so the offline runner, the online runner and the
evaluation treat Ego4o, the baseline and the VQ-VAE ceiling alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.features import FeatureNormalizer
from . import checkpoint
from .fusion_encoder import EncoderConfig, FusionEncoder
from .lstm_baseline import BaselineConfig, LstmBaseline
from .part_vqvae import PartVQVAE, VqvaeConfig

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def _check_kind(stem: Path, metadata: dict, kind: str) -> None:
    if metadata.get("kind") != kind:
        raise checkpoint.CheckpointError(f"{Path(stem).with_suffix('.json')} holds a {metadata.get('kind')!r}, not a {kind!r}")


def load_vqvae(stem: str | Path) -> PartVQVAE:
    metadata = checkpoint.read_metadata(stem)
    _check_kind(stem, metadata, "vqvae")
    return checkpoint.load_weights(stem, PartVQVAE(VqvaeConfig(**metadata["model_config"]))).eval()


def normalizer_of(metadata: dict) -> FeatureNormalizer:
    return FeatureNormalizer(np.asarray(metadata["feature_mean"]), np.asarray(metadata["feature_std"]))


class Ego4oModel(torch.nn.Module):
    """Fusion encoder + VQ-VAE decoder; argmax codes (Gumbel temperature -> 0)."""

    def __init__(self, encoder: FusionEncoder, vqvae: PartVQVAE):
        super().__init__()
        self.encoder, self.vqvae = encoder, vqvae

    def forward(self, imu_inputs, present, text=None, text_present=None):
        ids, _ = self.encode_codes(imu_inputs, present, text, text_present)
        return self.vqvae.decode(ids), ids

    def encode_codes(self, imu_inputs, present, text=None, text_present=None):
        """Code ids (N, T', parts) and their softmax probability (a per-part confidence)."""
        logits = self.encoder(imu_inputs, present, text, text_present)
        best = [part.softmax(-1).max(-1) for part in logits]
        return torch.stack([b.indices for b in best], dim=-1), torch.stack([b.values for b in best], dim=-1)

    @classmethod
    def load(cls, encoder_stem: str | Path, vqvae_stem: str | Path | None = None) -> tuple["Ego4oModel", dict]:
        metadata = checkpoint.read_metadata(encoder_stem)
        _check_kind(encoder_stem, metadata, "encoder")
        vqvae_stem = vqvae_stem or Path(encoder_stem).with_name(metadata["vqvae"])
        encoder = FusionEncoder(tuple(metadata["num_codes"]), EncoderConfig(**metadata["model_config"]))
        model = cls(checkpoint.load_weights(encoder_stem, encoder), load_vqvae(vqvae_stem))
        return model.eval(), metadata


def load_baseline(stem: str | Path) -> tuple[LstmBaseline, dict]:
    metadata = checkpoint.read_metadata(stem)
    _check_kind(stem, metadata, "baseline")
    return checkpoint.load_weights(stem, LstmBaseline(BaselineConfig(**metadata["model_config"]))).eval(), metadata


class WindowPredictor:
    """One face for every method: numpy windows in, normalised features out."""

    def __init__(self, name: str, model: torch.nn.Module, uses_text: bool):
        self.name, self.model, self.uses_text = name, model, uses_text
        self.last_confidence: np.ndarray | None = None  # (N, T', parts) of the last Ego4o call

    @torch.inference_mode()
    def predict(self, imu_inputs: np.ndarray, present: np.ndarray, text: np.ndarray | None = None,
                text_present: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(np.ascontiguousarray(imu_inputs, np.float32))
        p = torch.from_numpy(np.ascontiguousarray(present, bool))
        if isinstance(self.model, Ego4oModel):
            t = None if text is None or not self.uses_text else torch.from_numpy(np.ascontiguousarray(text, np.float32))
            tp = None if t is None else torch.from_numpy(np.ascontiguousarray(text_present, bool))
            ids, confidence = self.model.encode_codes(x, p, t, tp)
            self.last_confidence = confidence.numpy()
            return self.model.vqvae.decode(ids).numpy(), ids.numpy()
        return self.model(x, p).numpy(), None
