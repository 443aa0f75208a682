"""The camera modality live: the newest frame -> image features, off the caller's thread (ROS-free).

Encoding a frame takes milliseconds, so it never runs where the 30 Hz pose output is
made: ``submit`` hands the newest frame (a stamp and a decode callable) to one worker
thread; a frame arriving while another waits replaces it (counted as superseded), so a
fast camera costs at most one encoding at a time. ``latest`` is the newest features and
their stamp, which ``LiveCapture.set_image`` takes.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import numpy as np

from .text import NewestOnlyWorker


class CameraEncoder(NewestOnlyWorker):
    """``submit(stamp, decode)``; ``on_features(features, stamp)`` is called from the worker."""

    def __init__(self, encoder, on_features: Callable[[np.ndarray, float], None], history: int = 300):
        super().__init__("image_encoder")
        self.encoder, self.on_features = encoder, on_features
        self.encoded = self.errors = 0
        self.encode_s: collections.deque = collections.deque(maxlen=history)
        self.stamps: collections.deque = collections.deque(maxlen=history)  # of encoded frames (rate)
        encoder.encode(np.zeros((1, 64, 64, 3), np.uint8))  # lazy initialisation now, not on the first frame

    def submit(self, stamp: float, decode: Callable[[], np.ndarray]) -> None:
        self.put((stamp, decode))

    def process(self, item) -> None:
        stamp, decode = item
        started = time.perf_counter()
        try:
            features = np.asarray(self.encoder.encode(decode()[None])[0], np.float32)
        except Exception:  # a frame the decoder or encoder cannot take: counted, capture goes on
            self.errors += 1
            return
        if not np.isfinite(features).all():
            self.errors += 1
            return
        self.encode_s.append(time.perf_counter() - started)
        self.stamps.append(stamp)
        self.encoded += 1
        self.on_features(features, stamp)

    def rate_hz(self) -> float:
        """Frames encoded per second of data time, over the recent history."""
        if len(self.stamps) < 2 or self.stamps[-1] <= self.stamps[0]:
            return 0.0
        return (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])

    def encode_ms(self, percentile: float = 50.0) -> float:
        return float(np.percentile(np.array(self.encode_s) * 1000, percentile)) if self.encode_s else float("nan")
