"""Training batches from the dataset cache, with Ego4o's random modality masking."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core import imu
from ..core.dataset import MotionCache
from ..core.features import FeatureNormalizer


@dataclass(frozen=True)
class MaskingConfig:
    """Random masking so one model serves every input combination (REFERENCE.md 1)."""
    min_sites: int = 1
    max_sites: int = 3
    text_drop: float = 0.4
    image_drop: float = 1.0          # no image features in the Bandai data yet
    vanish_probability: float = 0.15  # a kept sensor drops out for part of the window
    acc_noise_std: float = 0.2       # m/s^2, white noise on synthesised accelerations


def random_sites(rng: np.random.Generator, batch: int, config: MaskingConfig) -> np.ndarray:
    """(B, 5) bool: a random subset of 1-3 of the five sites per sample."""
    counts = rng.integers(config.min_sites, config.max_sites + 1, size=batch)
    order = rng.random((batch, imu.NUM_SITES)).argsort(axis=1)
    return order < counts[:, None]


def vanish(rng: np.random.Generator, present: np.ndarray, num_frames: int, probability: float) -> np.ndarray:
    """(B, 5) -> (B, T, 5): some kept sensors disappear over a random span of frames."""
    out = np.repeat(present[:, None, :], num_frames, axis=1)
    for b in np.flatnonzero(rng.random(len(present)) < probability):
        site = rng.choice(np.flatnonzero(present[b]))
        start = rng.integers(0, num_frames - 4)
        out[b, start:rng.integers(start + 4, num_frames + 1), site] = False
    return out


class TrainingWindows:
    """All windows of one split in memory, normalised, ready to sample batches from."""

    def __init__(self, cache: MotionCache, split: str, normalizer: FeatureNormalizer,
                 text_table: dict[str, np.ndarray] | None = None):
        data = cache.load(split)
        self.names = cache.names(split)
        self.features = normalizer.normalize(data["features"]).astype(np.float32)
        self.joints = data["joints"]
        self.acc, self.ori = data["imu_acc"], data["imu_ori"]
        lengths = data["length"]
        self.valid = np.arange(self.features.shape[1])[None] < lengths[:, None]
        self.clip_index = data["clip_index"]
        self.descriptions = [cache.clips[n]["descriptions"] for n in self.names]
        self.text_table = text_table

    def __len__(self) -> int:
        return len(self.features)

    def text_features(self, rng: np.random.Generator, index: np.ndarray) -> np.ndarray:
        """A random description of each window's take, embedded (B, text_dim)."""
        return np.stack([self.text_table[rng.choice(self.descriptions[self.clip_index[i]])] for i in index])

    def batch(self, index: np.ndarray, rng: np.random.Generator | None = None,
              masking: MaskingConfig | None = None, sites: np.ndarray | None = None,
              with_text: bool | np.ndarray = False) -> dict[str, torch.Tensor]:
        """Tensors for windows ``index``. With ``masking`` (training) sensors and text are
        dropped at random; otherwise ``sites`` (5,) bool and ``with_text`` decide."""
        batch, frames = len(index), self.features.shape[1]
        acc = self.acc[index].astype(np.float64)
        if masking is not None:
            present = vanish(rng, random_sites(rng, batch, masking), frames, masking.vanish_probability)
            text_present = rng.random(batch) >= masking.text_drop
            acc = acc + rng.normal(0.0, masking.acc_noise_std, acc.shape)
        else:
            present = np.broadcast_to(np.asarray(sites, bool), (batch, frames, imu.NUM_SITES))
            text_present = np.broadcast_to(np.asarray(with_text, bool), (batch,))
        out = {"features": torch.from_numpy(self.features[index]),
               "valid": torch.from_numpy(self.valid[index]),
               "imu": torch.from_numpy(imu.network_inputs(acc, self.ori[index], present)),
               "present": torch.from_numpy(np.ascontiguousarray(present)),
               "text_present": torch.from_numpy(np.ascontiguousarray(text_present))}
        if self.text_table is not None:
            text_rng = rng if rng is not None else np.random.default_rng(0)
            out["text"] = torch.from_numpy(self.text_features(text_rng, index).astype(np.float32))
        return out


def text_table(cache: MotionCache, encoder, name: str = "minilm") -> dict[str, np.ndarray]:
    """Embeddings of every description in the cache, computed once and kept beside it."""
    path = cache.folder / f"text_{name}.npz"
    texts = sorted({t for entry in cache.clips.values() for t in entry["descriptions"]})
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            table = dict(zip(data["texts"].tolist(), data["embeddings"]))
        if all(t in table for t in texts):
            return table
    embeddings = encoder.encode(texts)
    np.savez(path, texts=np.array(texts), embeddings=embeddings.astype(np.float32))
    return dict(zip(texts, embeddings.astype(np.float32)))
