"""Human pose (SMPL-22, body frame) -> keypoint targets in the robot's proportions.

The rules are in ``robot_map``'s module doc. Here the rest-pose quantities they need are
measured once (``TargetBuilder``: limb scales, rigid offsets, frame orientations in the
robot's rest pose), then each frame's targets are a short walk down the keypoint tree.
Everything works on one frame (22, 3) or a batch (T, 22, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import body, frames, joint_angles
from ..core.rotations import xyzw_to_matrix
from .robot import RobotModel
from .robot_map import RobotMap


def human_rest_positions() -> np.ndarray:
    """The template skeleton in its rest pose (SMPL's T-pose), body frame, pelvis at 0."""
    positions, _ = body.forward_kinematics(
        np.broadcast_to(np.eye(3), (body.NUM_JOINTS, 3, 3)), np.zeros(3), joint_angles.REST_OFFSETS
    )
    return positions


def human_length(from_joint: int, to_joint: int) -> float:
    """The human's limb length between two joints: the template's bone lengths summed
    along the chain (pelvis -> head is 0.65 m, as a person standing straight measures,
    whatever the rest pose bends), or their rest distance when one is not above the other."""
    length, joint = 0.0, to_joint
    while joint > 0 and joint != from_joint:
        length += body.TEMPLATE_BONE_LENGTHS[joint]
        joint = body.PARENTS[joint]
    if joint == from_joint:
        return float(length)
    rest = human_rest_positions()
    return float(np.linalg.norm(rest[to_joint] - rest[from_joint]))


def to_ros(joints_body: np.ndarray, rotations_body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body frame (Y up, facing +Z) -> REP-103 axes (z up, facing +x), see core.frames."""
    positions = np.einsum("ij,...j->...i", frames.ROS_FROM_BODY, joints_body)
    rotations = frames.ROS_FROM_BODY @ rotations_body @ frames.BODY_FROM_ROS
    return positions, rotations


def from_ros(
    positions_ros: np.ndarray, orientations_xyzw: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """What ``joint_poses`` carries (REP-103 positions, global rotations as quaternions in
    REP-103 axes) -> body-frame joints and rotations. Rotations are None (to be fitted to
    the positions) when absent, not unit quaternions, or all identity (publishers that
    send positions only, such as the ground-truth replay)."""
    joints_body = np.asarray(positions_ros, np.float64) @ frames.ROS_FROM_BODY
    if orientations_xyzw is None:
        return joints_body, None
    q = np.asarray(orientations_xyzw, np.float64)
    if not np.allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-3) or np.allclose(np.abs(q[..., 3]), 1.0):
        return joints_body, None
    rotations_ros = xyzw_to_matrix(q)
    return joints_body, frames.BODY_FROM_ROS @ rotations_ros @ frames.ROS_FROM_BODY


@dataclass
class Targets:
    positions: np.ndarray  # (..., K, 3) m, REP-103 world, robot proportions
    rotations: np.ndarray  # (..., K, 3, 3) world rotations of the keypoint frames


class TargetBuilder:
    def __init__(self, robot_map: RobotMap, robot: RobotModel, frame_ids: list[int]):
        self.map = robot_map
        keypoints = robot_map.keypoints
        self.names = [k.name for k in keypoints]
        self.parent = [self.names.index(k.parent) if k.parent else -1 for k in keypoints]
        self.joint = [k.joint_index for k in keypoints]
        self.carrier = [
            body.JOINT_NAMES.index(k.carrier)
            if k.carrier
            else (keypoints[self.parent[i]].joint_index if self.parent[i] >= 0 else k.joint_index)
            for i, k in enumerate(keypoints)
        ]
        rest_q = robot.configuration(robot_map.rest_pose)
        self.robot_rest_positions, self.rest_rotations = robot.frame_placements(rest_q, frame_ids)
        self.scale = np.ones(len(keypoints))
        self.rigid_offset = np.zeros((len(keypoints), 3))
        for i, k in enumerate(keypoints):
            p = self.parent[i]
            if p < 0:
                self.scale[i] = robot_map.scale_of_root
                continue
            robot_bone = self.robot_rest_positions[i] - self.robot_rest_positions[p]
            self.rigid_offset[i] = robot_bone
            if k.scale is not None or k.segment == "rigid":
                self.scale[i] = k.scale or 1.0
                continue
            length = human_length(self.joint[p], self.joint[i])
            if length < 1e-6:
                raise ValueError(
                    f"{robot_map.name}: keypoint {k.name}: joints {k.joint} and "
                    f"{keypoints[p].joint} coincide, give a scale"
                )
            self.scale[i] = np.linalg.norm(robot_bone) / length
        self.rigid = [k.segment == "rigid" for k in keypoints]

    def __call__(self, joints_body: np.ndarray, rotations_body: np.ndarray | None = None) -> Targets:
        """Targets of one frame (22, 3) or a batch (T, 22, 3). Without rotations they are
        fitted to the positions (``core.joint_angles``: what ``joint_poses`` carries)."""
        joints_body = np.asarray(joints_body, np.float64)
        if rotations_body is None:
            rotations_body = joint_angles.global_rotations_from_joints(joints_body)
        positions, rotations = to_ros(joints_body, rotations_body)
        out = np.empty(positions.shape[:-2] + (len(self.names), 3))
        for i, p in enumerate(self.parent):
            joint = self.joint[i]
            if p < 0:
                out[..., i, :] = self.scale[i] * positions[..., joint, :]
            elif self.rigid[i]:
                out[..., i, :] = out[..., p, :] + rotations[..., self.carrier[i], :, :] @ self.rigid_offset[i]
            else:
                bone = positions[..., joint, :] - positions[..., self.joint[p], :]
                out[..., i, :] = out[..., p, :] + self.scale[i] * bone
        return Targets(out, rotations[..., self.joint, :, :] @ self.rest_rotations)
