"""Egocentric camera frames: validation and decoding, ROS-free.

Frames are checked cheaply on arrival (encoding, sizes, magic bytes of compressed
data) and decoded only when something needs the pixels.
"""

from __future__ import annotations

import io

import numpy as np

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
MAGIC = {"jpeg": (b"\xff\xd8",), "png": (b"\x89PNG",)}


def check_raw(encoding: str, height: int, width: int, step: int, size: int) -> str | None:
    """None if a ``sensor_msgs/Image`` is usable, else the reason."""
    if encoding not in CHANNELS:
        return "unsupported_encoding"
    if height <= 0 or width <= 0 or step < width * CHANNELS[encoding] or size != step * height:
        return "bad_size"
    return None


def check_compressed(fmt: str, data: bytes) -> str | None:
    """None if a ``sensor_msgs/CompressedImage`` looks like the JPEG/PNG it claims."""
    kind = next((k for k in MAGIC if k in fmt.lower() or (k == "jpeg" and "jpg" in fmt.lower())), None)
    if kind is None:
        return "unsupported_encoding"
    if not bytes(data[:4]).startswith(MAGIC[kind]):
        return "corrupt"
    return None


def decode_raw(encoding: str, height: int, width: int, step: int, data: bytes) -> np.ndarray:
    """-> (H, W, 3) uint8 RGB."""
    channels = CHANNELS[encoding]
    rows = np.frombuffer(data, np.uint8).reshape(height, step)[:, : width * channels]
    pixels = rows.reshape(height, width, channels)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[..., :3]
    return rgb[..., ::-1].copy() if encoding.startswith("bgr") else rgb.copy()


def decode_compressed(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"))


class StampGate:
    """The stamp rules IMU samples follow (``sensors.py``), for camera frames: a stamp more
    than ``MAX_FUTURE_S`` ahead of the receiver's clock is refused ("stamp_in_future"), one
    not after the newest accepted is "stamp_backwards", and ``BACKWARDS_RESET_RUN`` frames in a
    row that are in order among themselves mean the camera's clock went back: accepted again
    (counted in ``clock_resets``). One bad stamp never blocks the camera for good."""

    def __init__(self):
        from .sensors import BACKWARDS_RESET_RUN, MAX_FUTURE_S

        self.max_future_s, self.reset_run = MAX_FUTURE_S, BACKWARDS_RESET_RUN
        self.newest: float | None = None
        self.clock_resets = 0
        self._backwards: list[float] = []

    def check(self, stamp: float, now: float | None) -> str | None:
        """None if a frame stamped ``stamp`` is accepted (and becomes the newest), else why not."""
        if not np.isfinite(stamp):
            return "stamp_backwards"
        if now is not None and stamp > now + self.max_future_s:
            return "stamp_in_future"
        if self.newest is not None and stamp <= self.newest:
            if self._backwards and stamp <= self._backwards[-1]:
                self._backwards.clear()
            self._backwards.append(stamp)
            if len(self._backwards) < self.reset_run:
                return "stamp_backwards"
            self.clock_resets += 1
        self._backwards.clear()
        self.newest = stamp
        return None
