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
    rows = np.frombuffer(data, np.uint8).reshape(height, step)[:, :width * channels]
    pixels = rows.reshape(height, width, channels)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[..., :3]
    return rgb[..., ::-1].copy() if encoding.startswith("bgr") else rgb.copy()


def decode_compressed(data: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"))
