"""A motion clip on the SMPL-22 body, the one type every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import rotations


@dataclass
class MotionClip:
    """Motion of one take, in the body frame (metres, Y up; see ``frames.py``).

    joints: (T, 22, 3) SMPL-22 joint positions.
    global_rotations: (T, 22, 3, 3) rotation of the segment below each joint relative
        to the T-pose (identity when the body stands in SMPL's rest pose), or None when
        the source only has positions (HumanML3D): twist is then unknown.
    take: clips of one take never straddle the train/validation split.
    imu_acc / imu_ori: real IMU readings at the five sites (T, 5, 3) m/s^2 and
        (T, 5, 3, 3), when the source has them (DIP-IMU); otherwise synthesised.
    """

    name: str
    fps: float
    joints: np.ndarray
    global_rotations: np.ndarray | None = None
    descriptions: list[str] = field(default_factory=list)
    take: str = ""
    source: str = ""
    imu_acc: np.ndarray | None = None
    imu_ori: np.ndarray | None = None

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=np.float64)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (22, 3):
            raise ValueError(f"{self.name}: joints must be (T, 22, 3), got {self.joints.shape}")
        if not np.isfinite(self.joints).all():
            raise ValueError(f"{self.name}: joints contain NaN or inf")
        if self.fps <= 0:
            raise ValueError(f"{self.name}: fps must be positive, got {self.fps}")
        if self.global_rotations is not None and self.global_rotations.shape != self.joints.shape[:2] + (3, 3):
            raise ValueError(f"{self.name}: global_rotations must be (T, 22, 3, 3)")
        self.take = self.take or self.name

    @property
    def num_frames(self) -> int:
        return len(self.joints)

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps


def nominal_rate(frame_time: float) -> float:
    """Frame rate from a rounded frame time (BVH's 0.0333333 s -> 30.0 Hz, not 30.00003)."""
    rate = 1.0 / frame_time
    return float(round(rate)) if abs(rate - round(rate)) < 1e-3 * rate else rate


def resample_times(num_frames: int, fps: float, target_fps: float) -> np.ndarray:
    """Source-frame coordinates (fractional) of every output frame."""
    duration = (num_frames - 1) / fps
    count = int(np.floor(duration * target_fps + 1e-9)) + 1
    return np.arange(count) * (fps / target_fps)


def resample(clip: MotionClip, target_fps: float) -> MotionClip:
    """Resample to ``target_fps``: positions linearly, rotations by slerp."""
    if abs(clip.fps - target_fps) < 1e-6:
        return clip
    t = resample_times(clip.num_frames, clip.fps, target_fps)
    i0 = np.minimum(np.floor(t).astype(int), clip.num_frames - 1)
    i1 = np.minimum(i0 + 1, clip.num_frames - 1)
    w = t - i0

    def lerp(x):
        shape = (-1,) + (1,) * (x.ndim - 1)
        return x[i0] * (1 - w.reshape(shape)) + x[i1] * w.reshape(shape)

    def slerp_matrices(m):
        q = rotations.matrix_to_quat(m)
        wq = w.reshape((-1,) + (1,) * (q.ndim - 2))
        return rotations.quat_to_matrix(rotations.slerp_quat(q[i0], q[i1], wq))

    return replace(
        clip,
        fps=float(target_fps),
        joints=lerp(clip.joints),
        global_rotations=None if clip.global_rotations is None else slerp_matrices(clip.global_rotations),
        imu_acc=None if clip.imu_acc is None else lerp(clip.imu_acc),
        imu_ori=None if clip.imu_ori is None else slerp_matrices(clip.imu_ori),
    )
