"""Loading the trained models, and one window face for all of them.

Every method has the same window face, ``predict(imu_inputs, present, text, text_present)
-> (normalised features (B, W, 263), code ids or None)``, so the streaming runner, the
evaluation and the live capture treat Ego4o, the LSTM peer and the ONNX export alike.
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
        self.last_confidence: np.ndarray | None = None  # (N, T', parts) of the last Ego4o call

    @torch.inference_mode()
    def predict(
        self,
        imu_inputs: np.ndarray,
        present: np.ndarray,
        text: np.ndarray | None = None,
        text_present: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(np.ascontiguousarray(imu_inputs, np.float32))
        p = torch.from_numpy(np.ascontiguousarray(present, bool))
        if not self.uses_text:
            return self.model(x, p).numpy(), None
        t = None if text is None else torch.from_numpy(np.ascontiguousarray(text, np.float32))
        tp = (
            None
            if t is None
            else torch.from_numpy(
                np.ascontiguousarray(np.ones(len(t), bool) if text_present is None else text_present, bool)
            )
        )
        features, ids, confidence = self.model(x, p, t, tp)
        self.last_confidence = confidence.numpy()
        return features.numpy(), ids.numpy()
