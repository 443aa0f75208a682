"""Wearable replay: a motion clip -> the samples real wearables would send.

IMUs are synthesised at the five sites (``core/imu.py``), resampled to the device rate
and written the way a standard ``sensor_msgs/Imu`` carries them (acceleration in the
sensor frame with gravity, xyzw orientation in the REP-103 world); noise, random
drops and whole outages (a sensor vanishing for a while) are optional. The ground-truth
pose goes with it so a live run can be scored, and the head-worn camera's rendered view
(``camera_views``) stands in for the egocentric video the motion data does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import interface
from ..core import features, frames, imu
from ..core.clip import MotionClip
from ..readers import read_clip
from .sensors import from_body_frame


@dataclass(frozen=True)
class ReplayConfig:
    sites: tuple[str, ...] = interface.DEFAULT_SITES
    imu_rate_hz: float = 100.0
    acc_noise: float = 0.0  # m/s^2, Gaussian, per axis
    drop_probability: float = 0.0  # each sample independently lost
    outages: tuple[tuple[str, float, float], ...] = ()  # (site, start s, end s): no samples
    seed: int = 0

    def __post_init__(self):
        unknown = [s for s in list(self.sites) + [o[0] for o in self.outages] if s not in imu.IMU_SITES]
        if unknown:
            raise ValueError(f"unknown IMU sites {unknown}; sites are {imu.IMU_SITES}")
        if self.imu_rate_hz <= 0:
            raise ValueError("imu_rate_hz must be positive")


@dataclass
class ImuSample:
    site: str
    stamp: float  # s from the start of the clip
    acc: np.ndarray  # (3,) m/s^2, sensor frame, gravity included
    quat_xyzw: np.ndarray  # (4,) sensor in the REP-103 world


class WearableReplay:
    def __init__(self, clip: MotionClip, config: ReplayConfig = ReplayConfig()):
        self.config = config
        clip = replace(clip, joints=features.retarget_to_template(clip.joints))
        readings = imu.resample_imu(imu.synthesize_from_clip(clip), config.imu_rate_hz)
        acc, quat = from_body_frame(readings.acc, readings.ori)
        rng = np.random.default_rng(config.seed)
        acc = acc + rng.normal(0.0, config.acc_noise, acc.shape) if config.acc_noise > 0 else acc
        self.imu_times = np.arange(readings.num_frames) / config.imu_rate_hz
        self.site_index = [imu.IMU_SITES.index(s) for s in config.sites]
        self._acc, self._quat = acc, quat
        self._kept = rng.random((len(self.imu_times), imu.NUM_SITES)) >= config.drop_probability
        for site, start, end in config.outages:
            gone = (self.imu_times >= start) & (self.imu_times < end)
            self._kept[gone, imu.IMU_SITES.index(site)] = False
        self.fps = clip.fps
        self.truth_times = np.arange(clip.num_frames) / clip.fps
        self.truth_joints = clip.joints @ frames.ROS_FROM_BODY.T  # (T, 22, 3) REP-103
        self.truth_joints_body = clip.joints
        self.name = clip.name
        self.description = clip.descriptions[0] if clip.descriptions else ""

    @classmethod
    def from_file(cls, path: str | Path, config: ReplayConfig = ReplayConfig(), fps: float = 30.0) -> WearableReplay:
        return cls(read_clip(path, target_fps=fps), config)

    @property
    def duration(self) -> float:
        return float(min(self.imu_times[-1], self.truth_times[-1]))

    def imu_samples(self, start: float, end: float) -> list[ImuSample]:
        """Samples with ``start <= stamp < end`` in stamp order (sites interleaved)."""
        rows = np.flatnonzero((self.imu_times >= start) & (self.imu_times < end))
        return [
            ImuSample(imu.IMU_SITES[s], float(self.imu_times[r]), self._acc[r, s], self._quat[r, s])
            for r in rows
            for s in self.site_index
            if self._kept[r, s]
        ]

    def camera_views(self, camera=None) -> np.ndarray:
        """(T, H, W, 3) uint8: what a head-worn camera sees at every ground-truth frame,
        rendered once (headless GL; ``core.egocentric``) with the clip's own appearance,
        the way the image model's training views were drawn. ``camera``: an
        ``EgoCameraConfig`` (default: the image modality's)."""
        from ..core.camera_views import IMAGE_CAMERA, take_appearance
        from ..core.egocentric import EgocentricRenderer

        with EgocentricRenderer(camera or IMAGE_CAMERA) as renderer:
            return renderer.render(self.truth_joints_body, take_appearance(self.name), fps=self.fps)

    def truth_frames(self, start: float, end: float) -> list[tuple[float, np.ndarray]]:
        """Ground-truth (stamp, joints (22, 3) REP-103) with ``start <= stamp < end``."""
        rows = np.flatnonzero((self.truth_times >= start) & (self.truth_times < end))
        return [(float(self.truth_times[r]), self.truth_joints[r]) for r in rows]
