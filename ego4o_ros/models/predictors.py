"""Loading the trained models, and one window face for all of them.

Every method has the same window face, ``predict(imu_inputs, present, text, text_present,
image, image_present, image_step) -> (normalised features (B, W, 263), code ids or None)``,
so the streaming runner, the evaluation and the live capture treat Ego4o, the LSTM peer
and the ONNX export alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from .ego4o import Ego4oModel
from .lstm_baseline import BaselineConfig, LstmBaseline
from .part_vqvae import PartVQVAE, VqvaeConfig


def load_vqvae(stem: str | Path) -> tuple[PartVQVAE, checkpoint.ModelCard]:
    card = checkpoint.ModelCard.read(stem, "vqvae")
    return checkpoint.load_weights(stem, PartVQVAE(VqvaeConfig(**card.model_config)), card).eval(), card


def load_baseline(stem: str | Path) -> tuple[LstmBaseline, checkpoint.ModelCard]:
    card = checkpoint.ModelCard.read(stem, "baseline")
    return checkpoint.load_weights(stem, LstmBaseline(BaselineConfig(**card.model_config)), card).eval(), card


class WindowPredictor:
    """numpy windows in, normalised features out, for a torch model."""

    def __init__(self, name: str, model: torch.nn.Module):
        self.name, self.model = name, model
        self.uses_text = isinstance(model, Ego4oModel)
        self.image_views = model.encoder_config.image_views if self.uses_text else 1
        self.last_confidence: np.ndarray | None = None  # (N, T', parts) of the last Ego4o call

    @torch.inference_mode()
    def predict(
        self,
        imu_inputs: np.ndarray,
        present: np.ndarray,
        text: np.ndarray | None = None,
        text_present: np.ndarray | None = None,
        image: np.ndarray | None = None,
        image_present: np.ndarray | None = None,
        image_step: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(np.ascontiguousarray(imu_inputs, np.float32))
        p = torch.from_numpy(np.ascontiguousarray(present, bool))
        if not self.uses_text:
            return self.model(x, p).numpy(), None
        t, tp = optional_tensors(text, text_present)
        i, ip = optional_tensors(image, image_present)
        step = None if image_step is None or i is None else torch.from_numpy(np.asarray(image_step, np.int64))
        features, ids, confidence = self.model(x, p, t, tp, i, ip, step)
        self.last_confidence = confidence.numpy()
        return features.numpy(), ids.numpy()


def optional_tensors(values: np.ndarray | None, present: np.ndarray | None):
    """An optional (B, [K,] D) input and its (B, [K]) flags as tensors (all present when flags are None)."""
    if values is None:
        return None, None
    values = torch.from_numpy(np.ascontiguousarray(values, np.float32))
    flags = np.ones(values.shape[:-1], bool) if present is None else present
    return values, torch.from_numpy(np.ascontiguousarray(flags, bool))
