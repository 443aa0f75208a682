"""Frames and units used by the package, and the per-window canonical frame.

Every frame and unit in one place:

* **Body frame** (SMPL / HumanML3D, used by the whole ROS-free core): metres, right
  handed, **Y up**, the body faces **+Z** in its rest pose and **+X is the body's
  left**. Joint positions, global rotations and synthesised IMU readings live here.
* **ROS frame** (REP-103): x forward, y left, z up. A fixed proper rotation
  (a cyclic permutation, det +1) maps body -> ROS: ``x_ros = z_body``,
  ``y_ros = x_body``, ``z_ros = y_body``; see ``ROS_FROM_BODY``.
* **Canonical window frame**: the body frame moved so that the floor (lowest joint
  over the window) is at y = 0, the first frame's root is at x = z = 0, and the first
  frame faces +Z (facing from the hips and shoulders, HumanML3D's rule). Motion and
  IMU readings of a window are both expressed in it: positions get the full rigid
  transform, directions (accelerations, orientations) only its yaw.
* **IMU readings**: acceleration in m/s^2 in the world (body) frame, with gravity
  included unless a setting says removed (then at rest a sensor reads +9.81 m/s^2
  along +Y); orientation as a world-from-sensor rotation, identity when the wearer
  stands in the calibration pose (SMPL's T-pose) facing +Z.
* **HumanML3D features**: 263 numbers per frame (see ``features.py``), per-frame
  (not per-second) velocities, at the model rate (``FeatureConfig.fps``).
* Time: seconds; rates in Hz (frames per second). Angles in radians unless a name
  says degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import body, rotations

UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, 1.0])

# Proper rotation (det +1) taking body-frame vectors to ROS REP-103 vectors.
ROS_FROM_BODY = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
BODY_FROM_ROS = ROS_FROM_BODY.T


def facing_directions(joints: np.ndarray) -> np.ndarray:
    """Unit horizontal facing direction of each frame, (..., 22, 3) -> (..., 3)."""
    r_hip, l_hip, r_shoulder, l_shoulder = body.FACE_JOINTS
    across = (joints[..., r_hip, :] - joints[..., l_hip, :]) + (joints[..., r_shoulder, :] - joints[..., l_shoulder, :])
    across = rotations.normalize(across)
    return rotations.normalize(np.cross(UP, across))


@dataclass(frozen=True)
class CanonicalFrame:
    """A rigid change of frame ``x_new = rotation @ x + translation`` (yaw only)."""

    rotation: np.ndarray
    translation: np.ndarray

    def points(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ij,...j->...i", self.rotation, x) + self.translation

    def vectors(self, v: np.ndarray) -> np.ndarray:
        return np.einsum("ij,...j->...i", self.rotation, v)

    def orientations(self, world_from_local: np.ndarray) -> np.ndarray:
        return np.einsum("ij,...jk->...ik", self.rotation, world_from_local)

    def inverse(self) -> CanonicalFrame:
        inv = self.rotation.T
        return CanonicalFrame(inv, -inv @ self.translation)

    @property
    def yaw(self) -> float:
        """Rotation about +Y (radians) taking the original frame to this one."""
        return float(np.arctan2(self.rotation[0, 2], self.rotation[0, 0]))


def canonical_frame(joints: np.ndarray, forward: np.ndarray | None = None) -> CanonicalFrame:
    """The canonical frame of a window of joints (T, 22, 3), see the module doc.

    ``forward``: the horizontal direction to turn to +Z; default the first frame's
    hip/shoulder facing (HumanML3D's rule). ``features.window_frame`` passes the
    features' own smoothed facing instead, so that the two agree.
    """
    floor = joints[..., 1].min()
    root0 = joints[0, 0]
    forward = facing_directions(joints[0]) if forward is None else rotations.normalize(np.asarray(forward, np.float64))
    yaw_to_forward = rotations.quat_to_matrix(rotations.qbetween(forward, FORWARD))
    origin = np.array([root0[0], floor, root0[2]])
    return CanonicalFrame(yaw_to_forward, -yaw_to_forward @ origin)


def yaw_frame(yaw: float, translation=(0.0, 0.0, 0.0)) -> CanonicalFrame:
    """A frame change by a rotation of ``yaw`` radians about +Y, then a translation."""
    return CanonicalFrame(rotations.axis_rotation("Y", yaw), np.asarray(translation, np.float64))
