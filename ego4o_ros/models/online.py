"""Running a window model on streams: ``forward_offline`` on whole sequences and a
stateful ``reset()`` / ``step()`` online face (as TransPose does).

Online, a sliding window of the last ``window`` frames is kept in pre-allocated ring
buffers; each ``step`` with one new IMU frame runs the model on the window and emits
the pose of the frame ``lookahead`` frames back (0 = causal). Before a full window has
arrived the window is filled by holding the first frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import imu
from ..core.features import FeatureNormalizer, RootIntegrator
from .capture import WindowPredictor


@dataclass
class PoseOutput:
    frame: int              # index (in steps since reset) of the frame this pose describes
    features: np.ndarray    # (263,) denormalised HumanML3D features of that frame
    joints: np.ndarray      # (22, 3) metres, in the stream's frame (integrated root)
    codes: np.ndarray | None  # (6,) code ids of the chunk holding the frame (Ego4o only)
    confidence: np.ndarray | None = None  # (6,) softmax probability of those codes


class StreamingCapture:
    def __init__(self, predictor: WindowPredictor, normalizer: FeatureNormalizer, window: int = 64,
                 lookahead: int = 0):
        if not 0 <= lookahead < window:
            raise ValueError(f"lookahead must be within 0..{window - 1}, got {lookahead}")
        self.predictor, self.normalizer = predictor, normalizer
        self.window, self.lookahead = window, lookahead
        self._acc = np.zeros((window, imu.NUM_SITES, 3))
        self._ori = np.broadcast_to(np.eye(3), (window, imu.NUM_SITES, 3, 3)).copy()
        self._present = np.zeros((window, imu.NUM_SITES), dtype=bool)
        self._order = np.arange(window)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._root = RootIntegrator()

    def step(self, acc: np.ndarray, ori: np.ndarray, present: np.ndarray,
             text: np.ndarray | None = None) -> PoseOutput | None:
        """One IMU frame (5, 3) m/s^2, (5, 3, 3), (5,) bool -> the pose ``lookahead``
        frames back, or None until that frame exists."""
        slot = self._count % self.window
        if self._count == 0:  # hold the first frame across the whole window
            self._acc[:], self._ori[:], self._present[:] = acc, ori, present
        self._acc[slot], self._ori[slot], self._present[slot] = acc, ori, present
        self._count += 1
        described = self._count - 1 - self.lookahead
        if described < 0:
            return None
        # Oldest-to-newest order of the ring, newest last.
        order = (self._order + self._count) % self.window if self._count >= self.window else self._warmup_order()
        inputs = imu.network_inputs(self._acc[order][None], self._ori[order][None], self._present[order][None])
        features, ids = self.predictor.predict(inputs, self._present[order][None], *self._text_args(text))
        row = self.window - 1 - self.lookahead
        values = self.normalizer.denormalize(features[0, row])
        chunk = row * (ids.shape[1] if ids is not None else 1) // self.window
        codes = None if ids is None else ids[0, chunk]
        last = getattr(self.predictor, "last_confidence", None)  # the ONNX face has none
        confidence = None if ids is None or last is None else last[0, chunk]
        return PoseOutput(described, values, self._root.step(values), codes, confidence)

    def _warmup_order(self) -> np.ndarray:
        # Fewer frames than a window: the held first frame pads the front.
        newest = self._count - 1
        return np.clip(np.arange(newest - self.window + 1, newest + 1), 0, None)

    @staticmethod
    def _text_args(text):
        if text is None:
            return None, None
        return np.asarray(text, np.float32)[None], np.array([True])

    def forward_offline(self, acc: np.ndarray, ori: np.ndarray, present: np.ndarray,
                        text: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Whole sequence (T, 5, ...) -> features (T, 263) and joints (T, 22, 3), from
        consecutive windows (the last one flush with the end), in one batch."""
        frames = len(acc)
        if frames < self.window:
            pad = self.window - frames
            acc, ori, present = (np.concatenate([x, np.repeat(x[-1:], pad, 0)]) for x in (acc, ori, present))
        starts = list(range(0, len(acc) - self.window + 1, self.window))
        if starts[-1] + self.window < len(acc):
            starts.append(len(acc) - self.window)
        index = np.array(starts)[:, None] + np.arange(self.window)
        inputs = imu.network_inputs(acc[index], ori[index], present[index])
        text_args = (None, None) if text is None else (np.repeat(np.asarray(text, np.float32)[None], len(starts), 0),
                                                       np.ones(len(starts), bool))
        normalised, _ = self.predictor.predict(inputs, present[index], *text_args)
        values = self.normalizer.denormalize(normalised)
        features = np.empty((len(acc), values.shape[-1]))
        for start, window_values in zip(starts, values):
            features[start:start + self.window] = window_values
        features = features[:frames]
        root = RootIntegrator()
        return features, np.stack([root.step(row) for row in features])
