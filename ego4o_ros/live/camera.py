"""The camera modality live: the newest frame -> image features, off the caller's thread (ROS-free).

Encoding a frame takes milliseconds, so it never runs where the 30 Hz pose output is
made: ``submit`` hands the newest frame (a stamp and a decode callable) to one worker
thread; a frame arriving while another waits replaces it (counted as superseded), so a
fast camera costs at most one encoding at a time. ``latest`` is the newest features and
their stamp, which ``LiveCapture.set_image`` takes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable

import numpy as np

from .text import LatestWins


class CameraEncoder:
    """``submit(stamp, decode)``; ``on_features(features, stamp)`` is called from the worker."""

    def __init__(self, encoder, on_features: Callable[[np.ndarray, float], None], history: int = 300):
        self.encoder, self.on_features = encoder, on_features
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="image_encoder")
        self._waiting = LatestWins()
        self._busy = False
        self._lock = threading.Lock()
        self.encoded = self.errors = 0
        self.encode_s: collections.deque = collections.deque(maxlen=history)
        self.stamps: collections.deque = collections.deque(maxlen=history)  # of encoded frames (rate)
        encoder.encode(np.zeros((1, 64, 64, 3), np.uint8))  # lazy initialisation now, not on the first frame

    @property
    def superseded(self) -> int:
        return self._waiting.superseded

    def submit(self, stamp: float, decode: Callable[[], np.ndarray]) -> None:
        self._waiting.put((stamp, decode))
        with self._lock:
            if self._busy:
                return
            self._busy = True
        self._worker.submit(self._drain)

    def _drain(self) -> None:
        while True:
            item = self._waiting.take()
            if item is None:
                with self._lock:
                    if not self._waiting.waiting():  # nothing arrived meanwhile: done
                        self._busy = False
                        return
                continue
            stamp, decode = item
            started = time.perf_counter()
            try:
                features = np.asarray(self.encoder.encode(decode()[None])[0], np.float32)
            except Exception:  # a frame the decoder or encoder cannot take: counted, capture goes on
                self.errors += 1
                continue
            if not np.isfinite(features).all():
                self.errors += 1
                continue
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

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Until nothing waits or encodes (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy and not self._waiting.waiting():
                    return True
            time.sleep(0.002)
        return False

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
