"""HumanML3D's 263-dim motion representation: joints -> features -> joints.

This reproduces HumanML3D's ``process_file`` / ``recover_from_ric`` (Guo et al. 2022)
so that features we compute are interchangeable with the published dataset's
(checked against the shipped sample in ``test/test_features.py``). Per frame t, from
positions t and t+1 (T positions give T-1 rows):

====== ========= =========================================================
dims   name      meaning
====== ========= =========================================================
0      root_rvel yaw velocity: arcsin of the y part of the facing change
                 quaternion (= sin(half the yaw step)), per frame
1:3    root_lvel root xz displacement per frame, in the facing frame of t+1
3      root_y    root height
4:67   ric       joints 1..21 relative to the root's xz, in the facing frame
67:193 rot       cont6d of joints 1..21 from swing-only chain IK (below)
193:259 vel      per-frame displacement of all 22 joints, in the facing frame of t
259:263 contact  foot contacts (L ankle, L foot, R ankle, R foot), 0/1
====== ========= =========================================================

The facing frame of every frame is the yaw that turns the (Gaussian-smoothed)
hip/shoulder facing to +Z; as in HumanML3D the first frame's is identity (the motion
was canonicalised to face +Z there). The chain IK starts every kinematic chain from
that facing rotation and stores, at each joint, the shortest-arc rotation of the bone
ending there relative to the chain so far (HumanML3D's convention, twist-free).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from . import body, frames, rotations

_HML_FOOT_THRESHOLD_SQ = 0.002  # HumanML3D: squared per-frame foot displacement at 20 fps
_HML_FPS = 20.0


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed. Defaults reproduce HumanML3D at its 20 fps."""

    fps: float = 20.0
    # Feet are in contact below this speed (HumanML3D: sqrt(0.002) m per frame at 20 fps).
    foot_contact_speed: float = float(np.sqrt(_HML_FOOT_THRESHOLD_SQ) * _HML_FPS)
    # Gaussian smoothing of the facing direction (HumanML3D: sigma 20 frames at 20 fps).
    facing_smoothing_s: float = 1.0


def retarget_to_template(joints: np.ndarray, lengths: np.ndarray = body.TEMPLATE_BONE_LENGTHS) -> np.ndarray:
    """Give a clip the template's bone lengths, keeping every bone's direction.

    Equivalent to HumanML3D's ``uniform_skeleton`` (its swing IK followed by FK with the
    target offsets): each bone keeps its direction and takes the target length; the
    root trajectory is scaled by the ratio of (right) leg lengths measured on frame 0.
    """
    joints = np.asarray(joints, np.float64)
    src = body.bone_lengths(joints[0])
    scale = (lengths[5] + lengths[8]) / max(src[5] + src[8], 1e-9)
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * scale
    for j, p in enumerate(body.PARENTS):
        if p >= 0:
            bone = rotations.normalize(joints[:, j] - joints[:, p])
            out[:, j] = out[:, p] + bone * lengths[j]
    return out


def smoothed_forward(joints: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(T, 3) unit horizontal facing of each frame, by the features' own rule."""
    r_hip, l_hip, r_shoulder, l_shoulder = body.FACE_JOINTS
    # HumanML3D's IK unpacks its face indices as (l_hip, r_hip, sdr_r, sdr_l), so its
    # "across" is (left hip - right hip) + (right shoulder - left shoulder): shoulders
    # dominate. Reproduced on purpose: the published features are made this way.
    across = (joints[:, l_hip] - joints[:, r_hip]) + (joints[:, r_shoulder] - joints[:, l_shoulder])
    forward = np.cross(frames.UP, rotations.normalize(across))
    sigma = config.facing_smoothing_s * config.fps
    if sigma > 0:
        forward = gaussian_filter1d(forward, sigma, axis=0, mode="nearest")
    return rotations.normalize(forward)


def window_frame(joints: np.ndarray, config: FeatureConfig = FeatureConfig()) -> frames.CanonicalFrame:
    """The canonical frame of our windows: ``frames.canonical_frame`` turned by the
    features' own smoothed facing of frame 0 (not the raw hip/shoulder facing that
    HumanML3D canonicalises with). Features then start at identity facing with no
    yaw jump in row 0, and a window's ground truth is exactly what its features
    recover. Smoothing commutes with the yaw turn, so frame 0 faces exactly +Z."""
    joints = np.asarray(joints, np.float64)
    return frames.canonical_frame(joints, forward=smoothed_forward(joints, config)[0])


def facing_rotations(joints: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(T, 4) quaternions turning each frame's smoothed facing to +Z; frame 0 identity."""
    quats = rotations.qbetween(smoothed_forward(joints, config), frames.FORWARD)
    quats[0] = (1.0, 0.0, 0.0, 0.0)
    return quats


def chain_ik(joints: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Swing-only local quaternions (T, 22, 4) in HumanML3D's chain convention."""
    quats = np.zeros(joints.shape[:-1] + (4,))
    quats[..., 0] = 1.0
    quats[:, 0] = facing
    for chain in body.KINEMATIC_CHAINS:
        chain_rot = facing
        for parent, child in zip(chain[:-1], chain[1:]):
            swing = rotations.qbetween(body.RAW_DIRECTIONS[child], joints[:, child] - joints[:, parent])
            local = rotations.qmul(rotations.qinv(chain_rot), swing)
            quats[:, child] = local
            chain_rot = rotations.qmul(chain_rot, local)
    return quats


def chain_fk(quats: np.ndarray, root_positions: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """Inverse of ``chain_ik``: local quaternions + root positions -> joints."""
    offsets = body.template_offsets() if offsets is None else offsets
    joints = np.zeros(quats.shape[:-1] + (3,))
    joints[:, 0] = root_positions
    for chain in body.KINEMATIC_CHAINS:
        chain_rot = quats[:, 0]
        for parent, child in zip(chain[:-1], chain[1:]):
            chain_rot = rotations.qmul(chain_rot, quats[:, child])
            joints[:, child] = joints[:, parent] + rotations.qrot(chain_rot, offsets[child])
    return joints


def foot_contacts(joints: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(T-1, 4) contact flags for joints (7, 10, 8, 11) from per-frame displacement."""
    feet = list(body.FOOT_JOINTS_LEFT + body.FOOT_JOINTS_RIGHT)
    step_sq = ((joints[1:, feet] - joints[:-1, feet]) ** 2).sum(-1)
    threshold_sq = (config.foot_contact_speed / config.fps) ** 2
    return (step_sq < threshold_sq).astype(np.float64)


def features_from_joints(
    joints: np.ndarray, config: FeatureConfig = FeatureConfig(), canonicalize: bool = True
) -> np.ndarray:
    """Joints (T, 22, 3) in metres -> features (T-1, 263).

    With ``canonicalize`` the joints are first moved into their canonical frame
    (``frames.canonical_frame``); pass False for joints already there. Bone lengths
    are used as given: call ``retarget_to_template`` first to unify skeletons.
    """
    joints = np.asarray(joints, np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) < 2:
        raise ValueError(f"joints must be (T >= 2, 22, 3), got {joints.shape}")
    if canonicalize:
        joints = frames.canonical_frame(joints).points(joints)
    facing = facing_rotations(joints, config)
    local_quats = chain_ik(joints, facing)

    facing_change = rotations.qmul(facing[1:], rotations.qinv(facing[:-1]))
    root_rvel = np.arcsin(np.clip(facing_change[:, 2:3], -1.0, 1.0))
    root_step = rotations.qrot(facing[1:], joints[1:, 0] - joints[:-1, 0])
    root_lvel = root_step[:, [0, 2]]
    root_y = joints[:-1, 0, 1:2]

    relative = joints.copy()
    relative[..., [0, 2]] -= joints[:, :1, [0, 2]]
    ric = rotations.qrot(facing[:, None], relative)[:-1, 1:].reshape(len(joints) - 1, -1)
    rot = rotations.quat_to_cont6d(local_quats[:-1, 1:]).reshape(len(joints) - 1, -1)
    vel = rotations.qrot(facing[:-1, None], joints[1:] - joints[:-1]).reshape(len(joints) - 1, -1)
    contacts = foot_contacts(joints, config)
    return np.concatenate([root_rvel, root_lvel, root_y, ric, rot, vel, contacts], axis=-1)


def recover_root(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the root: features (..., T, 263) -> facing quats (..., T, 4), root (..., T, 3)."""
    features = np.asarray(features, np.float64)
    half_yaw = np.zeros(features.shape[:-1])
    half_yaw[..., 1:] = features[..., :-1, 0]
    half_yaw = np.cumsum(half_yaw, axis=-1)
    facing = np.zeros(features.shape[:-1] + (4,))
    facing[..., 0] = np.cos(half_yaw)
    facing[..., 2] = np.sin(half_yaw)

    step = np.zeros(features.shape[:-1] + (3,))
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    root = np.cumsum(rotations.qrot(rotations.qinv(facing), step), axis=-2)
    root[..., 1] = features[..., 3]
    return facing, root


def joints_from_features(features: np.ndarray) -> np.ndarray:
    """Features (..., T, 263) -> joints (..., T, 22, 3) from the ric part (HumanML3D's
    ``recover_from_ric``): root integrated from velocities, joints from ric."""
    features = np.asarray(features, np.float64)
    if features.shape[-1] != body.FEATURE_DIM:
        raise ValueError(f"features must end in {body.FEATURE_DIM} dims, got {features.shape}")
    facing, root = recover_root(features)
    ric = features[..., 4:67].reshape(features.shape[:-1] + (21, 3))
    joints = rotations.qrot(rotations.qinv(facing)[..., None, :], ric)
    joints[..., 0] += root[..., None, 0]
    joints[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], joints], axis=-2)


# HumanML3D normalises every dim by its mean and std, with each group's std replaced by
# the group's mean std so that no single dim dominates a group.
FEATURE_GROUPS = {
    "root_rvel": slice(0, 1),
    "root_lvel": slice(1, 3),
    "root_y": slice(3, 4),
    "ric": slice(4, 67),
    "rot": slice(67, 193),
    "vel": slice(193, 259),
    "contact": slice(259, 263),
}


class FeatureStatistics:
    """Running per-dim mean/std over feature rows, with HumanML3D's group rule."""

    def __init__(self):
        self.count = 0
        self.total = np.zeros(body.FEATURE_DIM)
        self.total_sq = np.zeros(body.FEATURE_DIM)

    def update(self, features: np.ndarray) -> None:
        rows = np.asarray(features, np.float64).reshape(-1, body.FEATURE_DIM)
        self.count += len(rows)
        self.total += rows.sum(0)
        self.total_sq += (rows**2).sum(0)

    def result(self) -> FeatureNormalizer:
        if self.count < 2:
            raise ValueError("need at least two feature rows for statistics")
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.total_sq / self.count - mean**2, 0.0))
        for group in FEATURE_GROUPS.values():
            std[group] = std[group].mean()
        return FeatureNormalizer(mean, np.maximum(std, 1e-6))


@dataclass
class FeatureNormalizer:
    mean: np.ndarray
    std: np.ndarray

    def normalize(self, features):
        return (features - self.mean) / self.std

    def denormalize(self, normalized):
        return normalized * self.std + self.mean

    def save(self, path: str | Path) -> None:
        np.savez(path, mean=self.mean, std=self.std)

    @classmethod
    def load(cls, path: str | Path) -> FeatureNormalizer:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["mean"], data["std"])


class RootIntegrator:
    """Online ``joints_from_features``: one feature row in, that frame's joints out.

    Integrates the root's yaw and position row by row exactly as ``recover_root`` does
    for a whole sequence, so a stream of rows gives the same joints as the batch call.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.half_yaw = 0.0
        self.position = np.zeros(3)

    def step(self, row: np.ndarray) -> np.ndarray:
        """(263,) -> joints (22, 3) of this frame; then advance to the next frame."""
        facing = np.array([np.cos(self.half_yaw), 0.0, np.sin(self.half_yaw), 0.0])
        root = np.array([self.position[0], row[3], self.position[2]])
        local = rotations.qrot(rotations.qinv(facing), row[4:67].reshape(21, 3))
        joints = np.concatenate([root[None], local + root * np.array([1.0, 0.0, 1.0])], axis=0)
        self.half_yaw += float(row[0])
        facing_next = np.array([np.cos(self.half_yaw), 0.0, np.sin(self.half_yaw), 0.0])
        self.position += rotations.qrot(rotations.qinv(facing_next), np.array([row[1], 0.0, row[2]]))
        return joints
