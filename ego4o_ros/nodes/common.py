"""Small helpers shared by the nodes: time conversion, QoS, parameter declaration."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def to_stamp(seconds: float) -> Time:
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def sensor_qos(depth: int = 200) -> QoSProfile:
    """Best effort and deep: wearables at 100-200 Hz and Python pauses (REFERENCE.md 5)."""
    return QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE,
                      history=HistoryPolicy.KEEP_LAST, depth=depth)


def reliable_qos(depth: int = 10) -> QoSProfile:
    return QoSProfile(reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                      history=HistoryPolicy.KEEP_LAST, depth=depth)


def declare(node, name: str, default, description: str):
    """Declare a parameter with a description (``ros2 param describe``) and return its value."""
    return node.declare_parameter(name, default, ParameterDescriptor(description=description)).value


def quaternion_xyzw(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) x, y, z, w as geometry_msgs wants."""
    from ..core import rotations
    q = rotations.matrix_to_quat(rotation)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)
