"""What the retarget node sends per captured pose, ROS-free: the retargeter's output through
the hand-off (``handoff.py``) and, when streaming, SONIC's message (``sonic.py``) through its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import sonic as sonic_protocol
from .handoff import HandOff


@dataclass
class SentPose:
    """What the robot is sent for one captured pose."""

    joint_positions: np.ndarray  # the robot's joints, URDF order, rad
    root_position: np.ndarray  # (3,) m
    root_xyzw: np.ndarray  # (4,)
    sonic_message: bytes | None  # SONIC's ZMQ message, when streaming and one is due


class HandedOffRetarget:
    """The retargeter's live output through the hand-off (held or blending: the pose of the
    handed-off configuration), and with ``sonic`` (a ``retarget.sonic.SonicStream``) the body in
    SONIC's protocol through its own hand-off; ``isaaclab``: the G1 joints in SONIC's order
    (protocol 3)."""

    def __init__(self, retargeter, handoff: HandOff, sonic=None, sonic_handoff: HandOff | None = None, isaaclab=None):
        self.retargeter, self.handoff = retargeter, handoff
        self.sonic, self.sonic_handoff, self.isaaclab = sonic, sonic_handoff, isaaclab

    def hold(self, on: bool) -> None:
        self.handoff.hold(on)
        if self.sonic_handoff is not None:
            self.sonic_handoff.hold(on)

    def step(self, joints: np.ndarray, rotations: np.ndarray | None, stamp: float):
        """(the retargeter's ``RobotFrame``, the ``SentPose``) of one body pose (body frame)."""
        frame = self.retargeter.step(joints, rotations, stamp)
        q = self.handoff(stamp, frame.q)
        if np.array_equal(q, frame.q):  # live
            sent = (frame.joint_positions, frame.root_position, frame.root_orientation_xyzw)
        else:
            sent = self.retargeter.pose_of(q)
        message = None
        if self.sonic is not None:
            live = sonic_protocol.sonic_pose(joints, rotations).vector()
            pose = sonic_protocol.SonicPose.from_vector(self.sonic_handoff(stamp, live))
            message = self.sonic(stamp, pose, None if self.isaaclab is None else sent[0][self.isaaclab])
        return frame, SentPose(*sent, message)
