"""Live captioning: the captured joint stream -> a description of the recent motion.

The captioner sees only what any consumer of the capture sees (joint positions), so
it runs anywhere, in its own process: the last window of joints is put in its
canonical frame, turned into HumanML3D features, encoded to part codes by the VQ-VAE
and described by the code captioner (nearest training window by code histogram; a
language model comes later behind the same ``describe``).
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core import features, frames
from ..core.dataset import DatasetConfig
from ..models import checkpoint
from ..models.capture import DEFAULT_WEIGHTS, load_vqvae, normalizer_of
from ..models.code_captioner import CodeCaptioner


@dataclass
class Description:
    text: str
    window_start: float   # s, stamp of the first frame described
    window_end: float     # s, stamp of the last
    source: str


class LiveCaptioner:
    source = "code_captioner"

    def __init__(self, weights: Path = DEFAULT_WEIGHTS, min_frames: int = 32):
        metadata = checkpoint.read_metadata(Path(weights) / "encoder")
        self.config = DatasetConfig(**metadata["dataset"])
        self.vqvae = load_vqvae(Path(weights) / "vqvae")
        self.normalizer = normalizer_of(metadata)
        self.captioner = CodeCaptioner.load(Path(weights) / "captioner")
        self.min_frames = max(min_frames, 2)
        # One frame more than a window: T positions give T - 1 feature rows.
        self._joints = collections.deque(maxlen=self.config.window + 1)
        self._stamps = collections.deque(maxlen=self.config.window + 1)

    def reset(self) -> None:
        self._joints.clear()
        self._stamps.clear()

    def push(self, stamp: float, joints_body: np.ndarray) -> None:
        """One captured frame (22, 3), body frame. Out-of-order frames are ignored."""
        if self._stamps and stamp <= self._stamps[-1]:
            return
        self._stamps.append(stamp)
        self._joints.append(np.asarray(joints_body, np.float64))

    def push_ros(self, stamp: float, joints_ros: np.ndarray) -> None:
        self.push(stamp, np.asarray(joints_ros) @ frames.ROS_FROM_BODY)

    @torch.inference_mode()
    def describe(self) -> Description | None:
        """A description of the buffered window, or None with too few frames."""
        if len(self._joints) < self.min_frames:
            return None
        joints = np.stack(self._joints)
        if len(joints) < self.config.window + 1:  # hold the first frame, as online capture does
            joints = np.concatenate([np.repeat(joints[:1], self.config.window + 1 - len(joints), 0), joints])
        canonical = frames.canonical_frame(joints).points(joints)
        rows = features.features_from_joints(canonical, self.config.feature_config, canonicalize=False)
        normalised = torch.from_numpy(self.normalizer.normalize(rows[None]).astype(np.float32))
        ids = self.vqvae.encode(normalised).numpy()
        return Description(self.captioner.describe(ids)[0], self._stamps[0], self._stamps[-1], self.source)
