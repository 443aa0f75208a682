"""Left/right mirroring of motion, HumanML3D features and IMU readings (augmentation).

The mirror is ``x -> -x`` in the body frame (+X is the body's left) with every left
joint swapped for its right twin. A mirrored motion is still a plausible motion, so
mirroring doubles the training data; it must change joints, features and the five
IMUs consistently, swapping the wrist and pocket sites:

* points and vectors: ``v -> M v`` with ``M = diag(-1, 1, 1)``;
* rotations (sensor orientations, 6-D joint rotations): ``R -> M R M``;
* yaw angles and yaw velocities change sign.

``features_from_joints(mirror_joints(j)) == mirror_features(features_from_joints(j))``
holds exactly (the facing rule and HumanML3D's chain IK commute with the mirror), and
mirroring twice is the identity; both are tested.
"""

from __future__ import annotations

import numpy as np

from . import body
from .imu import IMU_SITES

_SIGN = np.array([-1.0, 1.0, 1.0])
_ROTATION_SIGN = _SIGN[:, None] * _SIGN[None, :]  # elementwise form of M R M


def _twin(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if name.startswith(a):
            return b + name[len(a) :]
        if name.endswith(a):
            return name[: -len(a)] + b
    return name


JOINT_TWINS = np.array([body.JOINT_NAMES.index(_twin(n)) for n in body.JOINT_NAMES])
SITE_TWINS = np.array([IMU_SITES.index(_twin(n)) for n in IMU_SITES])


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """(..., 22, 3) positions -> mirrored positions."""
    return np.asarray(joints)[..., JOINT_TWINS, :] * _SIGN


def mirror_rotations(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> ``M R M`` (no joint swap)."""
    return np.asarray(matrices) * _ROTATION_SIGN


def mirror_imu(acc: np.ndarray, ori: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """acc (..., 5, 3), ori (..., 5, 3, 3) -> the readings of the mirrored motion."""
    return (np.asarray(acc)[..., SITE_TWINS, :] * _SIGN, mirror_rotations(np.asarray(ori)[..., SITE_TWINS, :, :]))


def mirror_presence(present: np.ndarray) -> np.ndarray:
    """(..., 5) site flags -> the flags of the twin sites."""
    return np.asarray(present)[..., SITE_TWINS]


def _feature_permutation_and_sign() -> tuple[np.ndarray, np.ndarray]:
    """out = features[..., index] * sign mirrors a 263-dim HumanML3D row."""
    index = np.arange(body.FEATURE_DIM)
    sign = np.ones(body.FEATURE_DIM)
    sign[0] = -1.0  # yaw velocity
    sign[1] = -1.0  # root velocity x (facing frame)
    for joint in range(body.NUM_JOINTS):
        twin = JOINT_TWINS[joint]
        mine, theirs = body.feature_slices(joint), body.feature_slices(twin)
        for key in ("ric", "vel"):
            if key in mine:
                index[mine[key]] = np.arange(theirs[key].start, theirs[key].stop)
                sign[mine[key].start] = -1.0  # x component
        if "rot" in mine:
            # 6-D rotation = the matrix's first two columns (rotations.matrix_to_cont6d):
            # entries (0,0) (1,0) (2,0) (0,1) (1,1) (2,1) under M R M.
            index[mine["rot"]] = np.arange(theirs["rot"].start, theirs["rot"].stop)
            sign[mine["rot"]] = np.concatenate([_ROTATION_SIGN[:, 0], _ROTATION_SIGN[:, 1]])
    # Foot contacts (left ankle, left foot, right ankle, right foot) swap sides.
    index[259:263] = [261, 262, 259, 260]
    return index, sign


FEATURE_INDEX, FEATURE_SIGN = _feature_permutation_and_sign()


def mirror_features(features: np.ndarray) -> np.ndarray:
    """(..., 263) denormalised HumanML3D features -> those of the mirrored motion."""
    return np.asarray(features)[..., FEATURE_INDEX] * FEATURE_SIGN
