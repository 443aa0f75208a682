"""A robot's kinematics from its URDF, through Pinocchio: joints, limits, frames, FK.

Pinocchio parses the URDF and computes placements and Jacobians; this wrapper only keeps
the bookkeeping the retargeting needs: the 1-DOF joints (revolute, prismatic) with their
limits and their order in the URDF file (the order ``robot/joint_states`` uses), the
optional free-flyer root, and extra frames for tracked points that are not link origins.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin

ROOT_JOINT = "root_joint"  # Pinocchio's name for the free-flyer it adds


@dataclass(frozen=True)
class JointInfo:
    name: str
    index_q: int  # in Pinocchio's configuration vector
    index_v: int  # in its tangent (velocity) vector
    lower: float
    upper: float
    velocity: float  # URDF velocity limit (rad/s or m/s); inf when the URDF gives none


def urdf_joint_order(urdf: Path) -> list[str]:
    """Joint names in the order the URDF file lists them. Pinocchio orders its joints
    depth-first, which differs for branching trees; users expect the file's order (on the
    G1 it is the motor index). ElementTree skips commented-out joints."""
    return [j.get("name") for j in ElementTree.parse(urdf).getroot().iter("joint")]


class RobotModel:
    def __init__(
        self,
        urdf: str | Path,
        floating_base: bool,
        extra_points: dict[str, tuple[str, tuple[float, float, float]]] | None = None,
    ):
        """``extra_points``: name -> (existing frame, offset in it, m): added as frames."""
        self.urdf = Path(urdf)
        self.floating_base = floating_base
        self.model = (
            pin.buildModelFromUrdf(str(self.urdf), pin.JointModelFreeFlyer())
            if floating_base
            else pin.buildModelFromUrdf(str(self.urdf))
        )
        for name, (frame, offset) in (extra_points or {}).items():
            self.add_point(name, frame, offset)
        self.data = self.model.createData()
        self.joints = self._joint_table()
        self.joint_names = tuple(j.name for j in self.joints)
        self.index_q = np.array([j.index_q for j in self.joints], dtype=np.int64)
        self.index_v = np.array([j.index_v for j in self.joints], dtype=np.int64)
        self.lower = np.array([j.lower for j in self.joints])
        self.upper = np.array([j.upper for j in self.joints])
        self.velocity_limits = np.array([j.velocity for j in self.joints])

    def _joint_table(self) -> list[JointInfo]:
        model = self.model
        by_name = {}
        for joint_id in range(1, model.njoints):
            name, joint = model.names[joint_id], model.joints[joint_id]
            if name == ROOT_JOINT and self.floating_base:
                continue
            if joint.nq != 1 or joint.nv != 1:
                raise ValueError(
                    f"{self.urdf}: joint {name} ({joint.shortname()}) is not supported: "
                    "only revolute and prismatic joints (continuous joints have no limits to keep)"
                )
            lower, upper = model.lowerPositionLimit[joint.idx_q], model.upperPositionLimit[joint.idx_q]
            velocity = model.velocityLimit[joint.idx_v]
            by_name[name] = JointInfo(
                name,
                joint.idx_q,
                joint.idx_v,
                float(lower),
                float(upper),
                float(velocity) if velocity > 0 else float("inf"),
            )
        order = [n for n in urdf_joint_order(self.urdf) if n in by_name]
        return [by_name[n] for n in order]

    # -- frames ------------------------------------------------------------------------
    def has_frame(self, name: str) -> bool:
        return self.model.existFrame(name)

    def frame_id(self, name: str) -> int:
        if not self.model.existFrame(name):
            raise KeyError(f"{self.urdf.name}: no frame {name!r}")
        return self.model.getFrameId(name)

    def add_point(self, name: str, frame: str, offset) -> int:
        """A frame at ``offset`` (m) in ``frame``, same orientation: a tracked point."""
        parent = self.model.frames[self.frame_id(frame)]
        placement = parent.placement * pin.SE3(np.eye(3), np.asarray(offset, np.float64))
        return self.model.addFrame(
            pin.Frame(name, parent.parentJoint, self.frame_id(frame), placement, pin.FrameType.OP_FRAME)
        )

    # -- configurations ----------------------------------------------------------------
    def neutral(self) -> np.ndarray:
        return pin.neutral(self.model)

    def configuration(
        self, joint_values: dict[str, float] | None = None, root_position=None, root_orientation=None
    ) -> np.ndarray:
        """A configuration from named joint values (others 0) and, with a free-flyer, the
        root pose (position (3,), orientation matrix (3, 3))."""
        q = self.neutral()
        for name, value in (joint_values or {}).items():
            if name not in self.joint_names:
                raise KeyError(f"{self.urdf.name}: no joint {name!r}")
            q[self.joints[self.joint_names.index(name)].index_q] = value
        if self.floating_base:
            if root_position is not None:
                q[:3] = root_position
            if root_orientation is not None:
                q[3:7] = pin.Quaternion(np.asarray(root_orientation, np.float64)).coeffs()
        return q

    def joint_positions(self, q: np.ndarray) -> np.ndarray:
        """Configuration -> the 1-DOF joint values in URDF order."""
        return q[self.index_q]

    def clamp(self, q: np.ndarray) -> np.ndarray:
        q[self.index_q] = np.clip(q[self.index_q], self.lower, self.upper)
        return q

    # -- kinematics --------------------------------------------------------------------
    def frame_placements(self, q: np.ndarray, frame_ids) -> tuple[np.ndarray, np.ndarray]:
        """World positions (K, 3) and rotations (K, 3, 3) of frames at configuration q."""
        pin.framesForwardKinematics(self.model, self.data, q)
        placements = [self.data.oMf[i] for i in frame_ids]
        return (
            np.array([m.translation for m in placements]).reshape(-1, 3),
            np.array([m.rotation for m in placements]).reshape(-1, 3, 3),
        )

    def skeleton(self, q: np.ndarray, extra_frames=()) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Points and segments to draw the robot: every joint origin linked to its parent
        joint's, plus ``extra_frames`` linked to their joint. Returns (P, 3) points, bones."""
        pin.framesForwardKinematics(self.model, self.data, q)
        points = [self.data.oMi[i].translation.copy() for i in range(1, self.model.njoints)]
        bones = [(self.model.parents[i] - 1, i - 1) for i in range(2, self.model.njoints) if self.model.parents[i] > 0]
        for name in extra_frames:
            frame = self.model.frames[self.frame_id(name)]
            points.append(self.data.oMf[self.frame_id(name)].translation.copy())
            if frame.parentJoint > 0:
                bones.append((frame.parentJoint - 1, len(points) - 1))
        return np.array(points), bones
