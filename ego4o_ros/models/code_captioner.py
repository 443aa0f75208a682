"""Motion-to-text baseline: the nearest training window by part-code histogram.

Each window's code ids (T', 6 parts) become six normalised histograms, concatenated;
a query is described with the description of the most similar training window
(cosine similarity). Cheap, needs no training beyond storing the histograms, and
enough to measure the closed loop capture -> description -> capture.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import checkpoint


def code_histograms(ids: np.ndarray, num_codes: list[int]) -> np.ndarray:
    """(N, T', parts) code ids -> (N, sum(num_codes)) unit-norm histograms."""
    ids = np.asarray(ids)
    parts = []
    for p, n in enumerate(num_codes):
        counts = np.zeros((len(ids), n))
        np.add.at(counts, (np.arange(len(ids))[:, None], ids[..., p]), 1.0)
        parts.append(counts / np.maximum(np.linalg.norm(counts, axis=1, keepdims=True), 1e-9))
    hist = np.concatenate(parts, axis=1)
    return hist / np.maximum(np.linalg.norm(hist, axis=1, keepdims=True), 1e-9)


class CodeCaptioner:
    def __init__(self, histograms: np.ndarray, texts: list[str], num_codes: list[int]):
        self.histograms, self.texts, self.num_codes = histograms.astype(np.float32), texts, list(num_codes)

    @classmethod
    def fit(cls, ids: np.ndarray, texts: list[str], num_codes: list[int]) -> CodeCaptioner:
        return cls(code_histograms(ids, num_codes), list(texts), num_codes)

    def describe(self, ids: np.ndarray) -> list[str]:
        """(N, T', parts) -> one description per window."""
        # float32 on both sides: a float64 query would upcast the whole table on every call.
        similarity = code_histograms(ids, self.num_codes).astype(np.float32) @ self.histograms.T
        return [self.texts[i] for i in similarity.argmax(1)]

    def save(self, stem: str | Path, card: checkpoint.ModelCard) -> Path:
        """Histograms as safetensors; the texts ride in the model card."""
        card = replace(card, kind="captioner", model_config={"num_codes": self.num_codes}, extra={"texts": self.texts})
        return checkpoint.save_checkpoint(stem, {"histograms": torch.from_numpy(self.histograms)}, card)

    @classmethod
    def load(cls, stem: str | Path) -> CodeCaptioner:
        card = checkpoint.ModelCard.read(stem, "captioner")
        histograms = checkpoint.load_tensors(stem, card)["histograms"].numpy()
        return cls(histograms, card.extra["texts"], card.model_config["num_codes"])
