"""Sensor streams -> the model's grid (acc, ori, present per frame), offline.

The live rule (``live/capture.py``), with the whole recording known: grid frames every
1/fps from the first sample of any sensor to the last; a sensor is present at a frame
when it has a sample within ``max_sensor_age_s`` of it (before or after), and its
reading there is interpolated between the samples around the frame (linear
acceleration, slerped orientation, as ``ImuSampleBuffer.sample``), or the nearest
sample held when those are further apart than twice the age limit (the sensor was
gone in between). Frames where no sensor is present split the recording into
segments, each captured as its own stream (the live graph restarts its stream too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import imu, rotations
from .reading import ImuStream


@dataclass
class Grid:
    start_ns: int
    fps: float
    stamps_ns: np.ndarray  # (T,) int64
    acc: np.ndarray  # (T, 5, 3)
    ori: np.ndarray  # (T, 5, 3, 3)
    present: np.ndarray  # (T, 5) bool

    @property
    def times_s(self) -> np.ndarray:
        """Seconds since the first frame."""
        return (self.stamps_ns - self.start_ns) * 1e-9


def resample_stream(stream: ImuStream, stamps_ns: np.ndarray, max_age_s: float):
    """One sensor at the grid stamps -> acc (T, 3), ori (T, 3, 3), present (T,)."""
    t = (stamps_ns - stamps_ns[0]) * 1e-9
    s = (stream.stamps_ns - stamps_ns[0]) * 1e-9
    n = len(s)
    upper = np.searchsorted(s, t, side="left").clip(0, n - 1)  # first sample >= t (or the last)
    lower = np.where(s[upper] > t, upper - 1, upper).clip(0, n - 1)  # last sample <= t (or the first)
    distance = np.minimum(np.abs(t - s[lower]), np.abs(s[upper] - t))
    present = distance <= max_age_s + 1e-9
    span = s[upper] - s[lower]
    bridge = (span > 0) & (span <= 2 * max_age_s + 1e-9)
    weight = np.where(bridge, (t - s[lower]) / np.where(span > 0, span, 1.0), 0.0).clip(0.0, 1.0)
    # Not bridged: hold the nearest sample.
    nearest = np.where(np.abs(t - s[lower]) <= np.abs(s[upper] - t), lower, upper)
    lower = np.where(bridge, lower, nearest)
    upper = np.where(bridge, upper, nearest)
    acc = stream.acc[lower] + weight[:, None] * (stream.acc[upper] - stream.acc[lower])
    q = rotations.slerp_quat(
        rotations.matrix_to_quat(stream.ori[lower]), rotations.matrix_to_quat(stream.ori[upper]), weight
    )
    return acc, rotations.quat_to_matrix(q), present


def make_grid(streams: dict[str, ImuStream], fps: float, max_age_s: float) -> Grid:
    """Every sensor on one grid at the model rate (see the module doc)."""
    streams = {site: s for site, s in streams.items() if len(s.stamps_ns)}
    if not streams:
        raise ValueError("no sensor has any sample")
    first = min(int(s.stamps_ns[0]) for s in streams.values())
    last = max(int(s.stamps_ns[-1]) for s in streams.values())
    frames = int(np.floor((last - first) * 1e-9 * fps + 1e-6)) + 1
    stamps = first + np.round(np.arange(frames) * 1e9 / fps).astype(np.int64)
    acc = np.zeros((frames, imu.NUM_SITES, 3))
    ori = np.broadcast_to(np.eye(3), (frames, imu.NUM_SITES, 3, 3)).copy()
    present = np.zeros((frames, imu.NUM_SITES), bool)
    for site, stream in streams.items():
        i = imu.IMU_SITES.index(site)
        site_acc, site_ori, site_present = resample_stream(stream, stamps, max_age_s)
        acc[site_present, i], ori[site_present, i], present[site_present, i] = (
            site_acc[site_present],
            site_ori[site_present],
            True,
        )
    return Grid(first, fps, stamps, acc, ori, present)


def segments(present: np.ndarray, min_frames: int = 1) -> list[tuple[int, int]]:
    """[start, end) runs of frames with at least one sensor present."""
    any_present = np.asarray(present).any(axis=1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], any_present, [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_frames]
