"""The head-mounted camera: its settings, where it is in every frame, and how it projects.

* **Camera** (``EgoCameraConfig``): rigidly on the head joint like glasses, ``offset_m``
  forward of and above the head joint, pitched down by ``pitch_deg``, a wide field of
  view; ``projection`` is ``"pinhole"`` or ``"fisheye"`` (equidistant, ``r = f * theta``,
  the model of Aria-like fisheye lenses). ``fov_deg`` spans the image width in both.
* **Head orientation** (joints-only data has no head rotation; ``head_frames``): the
  head's up axis is the neck -> head direction (it carries the torso's bend and the
  neck's flexion), its left axis the shoulder line (collars + shoulders), so head yaw
  follows the upper torso; both are lightly smoothed in time (the head stabilises gaze
  against the shoulders' swing when walking). The neck -> head bone is not vertical in
  a level head and its tilt depends on the mocap rig (a few degrees in the Bandai
  data, ~30 degrees in SMPL's template), so the head's pitch is measured from a neutral
  pitch: the clip's median by default (``neutral_head_pitch_deg=None``), or a fixed
  value for streaming, where there is no clip to take a median of.
* **Projection** (``project_points``): where world points land in the image, the same
  model the vertex shader (``shaders/project.glsl``) draws with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import body

PROJECTIONS = ("pinhole", "fisheye")

J = {name: i for i, name in enumerate(body.JOINT_NAMES)}


@dataclass(frozen=True)
class EgoCameraConfig:
    """The head-mounted camera. Angles in degrees (the names say so), lengths in metres."""

    width: int = 128
    height: int = 128
    projection: str = "fisheye"  # "fisheye" (equidistant, Aria-like) or "pinhole"
    fov_deg: float = 110.0  # across the image width (pinhole: < 180; fisheye: any up to ~200)
    pitch_deg: float = 35.0  # down from the level head: glasses cameras look at the hands' workspace
    # (left, up, forward) from the head joint, in the levelled head frame: the SMPL head joint
    # sits inside the skull below eye level; glasses are ~5 cm higher and ~12 cm forward.
    offset_m: tuple[float, float, float] = (0.0, 0.05, 0.12)
    # The head's forward elevation (degrees, negative = looking down) taken as level; None = the
    # clip's median (the rig's neck -> head tilt differs between datasets; see the module doc).
    neutral_head_pitch_deg: float | None = None
    head_smoothing_s: float = 0.05  # Gaussian sigma of the head axes over time (0 = none)
    near_m: float = 0.02
    far_m: float = 60.0
    samples: int = 0  # multisample anti-aliasing (0 = off); edges of far objects shimmer less, costs speed

    def __post_init__(self):
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {self.projection!r}")
        if self.width < 8 or self.height < 8:
            raise ValueError(f"resolution too small: {self.width}x{self.height}")
        if not 0.0 < self.fov_deg < (179.0 if self.projection == "pinhole" else 220.0):
            raise ValueError(f"fov_deg {self.fov_deg} out of range for a {self.projection} camera")
        if not 0.0 < self.near_m < self.far_m:
            raise ValueError("need 0 < near_m < far_m")

    @property
    def aspect(self) -> float:
        return self.width / self.height


def _check_joints(joints) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 2:
        joints = joints[None]
    if joints.ndim != 3 or joints.shape[1:] != (body.NUM_JOINTS, 3) or len(joints) == 0:
        raise ValueError(f"joints must be (T, 22, 3) with T >= 1, got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("joints contain NaN or inf")
    return joints


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about the local +X (left) axis; positive pitches +Z (forward) down."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(np.shape(angle) + (3, 3))
    out[..., 0, 0] = 1.0
    out[..., 1, 1], out[..., 1, 2] = c, -s
    out[..., 2, 1], out[..., 2, 2] = s, c
    return out


def head_frames(joints: np.ndarray, config: EgoCameraConfig = EgoCameraConfig(), fps: float = 30.0) -> np.ndarray:
    """(T, 3, 3) world-from-head rotations, columns (left, up, forward): up = neck -> head,
    left = the shoulder line made perpendicular to it (see the module doc)."""
    joints = _check_joints(joints)
    up = joints[:, J["head"]] - joints[:, J["neck"]]
    left = (joints[:, J["left_shoulder"]] - joints[:, J["right_shoulder"]]) + (
        joints[:, J["left_collar"]] - joints[:, J["right_collar"]]
    )
    sigma = config.head_smoothing_s * fps
    if sigma > 0.0 and len(joints) > 1:
        from scipy.ndimage import gaussian_filter1d

        up = gaussian_filter1d(_normalize(up), sigma, axis=0, mode="nearest")
        left = gaussian_filter1d(_normalize(left), sigma, axis=0, mode="nearest")
    up = _normalize(up)
    left = _normalize(left - np.sum(left * up, axis=-1, keepdims=True) * up)
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def camera_poses(joints: np.ndarray, config: EgoCameraConfig = EgoCameraConfig(), fps: float = 30.0) -> np.ndarray:
    """(T, 4, 4) world-from-camera transforms in OpenGL's camera convention (columns: right,
    up, backward, position; the camera looks along -Z of its own frame)."""
    joints = _check_joints(joints)
    head = head_frames(joints, config, fps)
    elevation = np.arcsin(np.clip(head[:, 1, 2], -1.0, 1.0))  # of the head's forward axis
    if config.neutral_head_pitch_deg is None:
        neutral = float(np.median(elevation))
    else:
        neutral = math.radians(config.neutral_head_pitch_deg)
    level = head @ _rot_x(np.full(len(joints), neutral))  # a level head looks horizontally in its neutral pose
    look = head @ _rot_x(np.full(len(joints), neutral + math.radians(config.pitch_deg)))
    poses = np.zeros((len(joints), 4, 4))
    poses[:, :3, 0] = -look[:, :, 0]  # right = -left
    poses[:, :3, 1] = look[:, :, 1]
    poses[:, :3, 2] = -look[:, :, 2]  # backward = -forward
    poses[:, :3, 3] = joints[:, J["head"]] + level @ np.asarray(config.offset_m, dtype=np.float64)
    poses[:, 3, 3] = 1.0
    return poses


def project_points(
    points: np.ndarray, world_from_camera: np.ndarray, config: EgoCameraConfig = EgoCameraConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Where world points land in the image, by the renderer's own projection.

    ``points`` (N, 3) or (T, N, 3), ``world_from_camera`` (4, 4) or (T, 4, 4) from
    ``camera_poses``. Returns pixel coordinates (..., N, 2) as (column, row) from the
    image's top-left corner (pixel centres at +0.5) and a mask (..., N) of points in front
    of the camera and inside the image."""
    pose = np.asarray(world_from_camera, dtype=np.float64)
    view = np.linalg.inv(pose)
    pts = np.asarray(points, dtype=np.float64)
    p = np.einsum("...ij,...nj->...ni", view[..., :3, :3], pts) + view[..., None, :3, 3]
    half = math.radians(config.fov_deg) / 2.0
    if config.projection == "pinhole":
        depth = -p[..., 2]
        safe = np.where(depth > 1e-9, depth, 1e-9)
        ndc = p[..., :2] / safe[..., None] / math.tan(half)
        front = depth > config.near_m
    else:
        dist = np.linalg.norm(p, axis=-1)
        theta = np.arccos(np.clip(-p[..., 2] / np.maximum(dist, 1e-12), -1.0, 1.0))
        ndc = _normalize(p[..., :2]) * (theta / half)[..., None]
        front = dist > config.near_m
    ndc[..., 1] *= config.aspect
    pixels = np.stack([(ndc[..., 0] + 1.0) * 0.5 * config.width, (1.0 - ndc[..., 1]) * 0.5 * config.height], -1)
    inside = front & (np.abs(ndc) <= 1.0).all(axis=-1)
    return pixels, inside
