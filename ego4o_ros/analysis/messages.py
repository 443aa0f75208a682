"""The analysis' output messages, laid out exactly as the live graph publishes them.

``joint_states`` / ``joint_poses`` / ``skeleton_markers`` follow ``nodes/fusion_node.py``
(the same names, orders, colours, sizes and lifetimes), ``description`` /
``description_stamped`` follow ``nodes/captioning_node.py``, so a Foxglove layout or an
RViz config made for a live run shows an analysed bag unchanged. Built with rosbags'
typestore (no rclpy) through ``cdr.CdrTemplate``, in bulk.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..core import body, joint_angles
from ..core.bag import standard_typestore
from .cdr import CdrTemplate, message

BONES = [(body.PARENTS[j], j) for j in range(1, body.NUM_JOINTS)]  # as fusion_node.BONES
BONE_POINTS = np.array([i for bone in BONES for i in bone])
NUM_JOINTS = body.NUM_JOINTS


def _header(store, sec, nanosec, frame_id):
    return message(
        store,
        "std_msgs/msg/Header",
        stamp=message(store, "builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec),
        frame_id=frame_id,
    )


def _point(store, msgtype, xyz):
    return message(store, msgtype, x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def imu_template(frame_id: str) -> CdrTemplate:
    """``sensor_msgs/Imu`` as the wearable replay sends it: slots quaternion xyzw (4) and
    acceleration (3); no gyro (angular_velocity_covariance[0] = -1)."""

    def build(store, sec, nanosec, v):
        cov = np.zeros(9)
        cov[0] = -1.0
        return message(
            store,
            "sensor_msgs/msg/Imu",
            header=_header(store, sec, nanosec, frame_id),
            orientation=message(store, "geometry_msgs/msg/Quaternion", x=v[0], y=v[1], z=v[2], w=v[3]),
            angular_velocity_covariance=cov,
            linear_acceleration=_point(store, "geometry_msgs/msg/Vector3", v[4:7]),
        )

    return CdrTemplate("sensor_msgs/msg/Imu", 7, build)


def joint_states_template(frame_id: str = "world") -> CdrTemplate:
    def build(store, sec, nanosec, v):
        return message(
            store,
            "sensor_msgs/msg/JointState",
            header=_header(store, sec, nanosec, frame_id),
            name=list(joint_angles.DOF_NAMES),
            position=np.asarray(v, np.float64),
        )

    return CdrTemplate("sensor_msgs/msg/JointState", len(joint_angles.DOF_NAMES), build)


def pose_array_template(frame_id: str = "world") -> CdrTemplate:
    """22 poses; slots per pose: position xyz then orientation xyzw."""

    def build(store, sec, nanosec, v):
        v = np.asarray(v).reshape(NUM_JOINTS, 7)
        poses = [
            message(
                store,
                "geometry_msgs/msg/Pose",
                position=_point(store, "geometry_msgs/msg/Point", p[:3]),
                orientation=message(store, "geometry_msgs/msg/Quaternion", x=p[3], y=p[4], z=p[5], w=p[6]),
            )
            for p in v
        ]
        return message(store, "geometry_msgs/msg/PoseArray", header=_header(store, sec, nanosec, frame_id), poses=poses)

    return CdrTemplate("geometry_msgs/msg/PoseArray", NUM_JOINTS * 7, build)


def markers_template(frame_id: str = "world") -> CdrTemplate:
    """The fusion node's skeleton: LINE_LIST bones (id 0) + SPHERE_LIST joints (id 1);
    slots: the bone points' xyz, then the joints' xyz."""

    def build(store, sec, nanosec, v):
        v = np.asarray(v).reshape(-1, 3)
        bone_points, joint_points = v[: len(BONE_POINTS)], v[len(BONE_POINTS) :]
        pose = message(
            store, "geometry_msgs/msg/Pose", orientation=message(store, "geometry_msgs/msg/Quaternion", w=1.0)
        )
        lifetime = message(store, "builtin_interfaces/msg/Duration", nanosec=500_000_000)

        def marker(marker_id, kind, points, rgba, scale):
            return message(
                store,
                "visualization_msgs/msg/Marker",
                header=_header(store, sec, nanosec, frame_id),
                ns="skeleton",
                id=marker_id,
                type=kind,
                action=0,
                pose=pose,
                scale=message(store, "geometry_msgs/msg/Vector3", x=scale[0], y=scale[1], z=scale[2]),
                color=message(store, "std_msgs/msg/ColorRGBA", r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3]),
                lifetime=lifetime,
                points=[_point(store, "geometry_msgs/msg/Point", p) for p in points],
            )

        return message(
            store,
            "visualization_msgs/msg/MarkerArray",
            markers=[
                marker(0, 5, bone_points, (0.2, 0.6, 1.0, 1.0), (0.03, 0.0, 0.0)),  # LINE_LIST
                marker(1, 7, joint_points, (1.0, 0.5, 0.1, 1.0), (0.05, 0.05, 0.05)),
            ],
        )  # SPHERE_LIST

    return CdrTemplate("visualization_msgs/msg/MarkerArray", 3 * (len(BONE_POINTS) + NUM_JOINTS), build)


@cache
def output_templates(frame_id: str = "world") -> dict[str, CdrTemplate]:
    return {
        "joint_states": joint_states_template(frame_id),
        "joint_poses": pose_array_template(frame_id),
        "skeleton_markers": markers_template(frame_id),
    }


def pose_values(positions: np.ndarray, orientations_xyzw: np.ndarray) -> np.ndarray:
    """(N, 22, 3) + (N, 22, 4) -> (N, 154) slots of ``pose_array_template``."""
    return np.concatenate([positions, orientations_xyzw], axis=-1).reshape(len(positions), -1)


def marker_values(positions: np.ndarray) -> np.ndarray:
    """(N, 22, 3) -> (N, 192) slots of ``markers_template``."""
    return np.concatenate([positions[:, BONE_POINTS], positions], axis=1).reshape(len(positions), -1)


def string_cdr(text: str) -> bytes:
    store = standard_typestore()
    return bytes(store.serialize_cdr(message(store, "std_msgs/msg/String", data=text), "std_msgs/msg/String"))


def description_stamped_cdr(
    store,
    text: str,
    window_start_ns: int,
    window_end_ns: int,
    source: str,
    frame_id: str = "world",
    fed_back: bool = True,
    confidence: float = float("nan"),
) -> bytes:
    """``ego4o_ros/msg/MotionDescription`` (``store`` must know it: ``custom_store()``)."""

    def stamp(ns):
        return message(
            store, "builtin_interfaces/msg/Time", sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000)
        )

    msg = message(
        store,
        "ego4o_ros/msg/MotionDescription",
        header=message(store, "std_msgs/msg/Header", stamp=stamp(window_end_ns), frame_id=frame_id),
        window_start=stamp(window_start_ns),
        window_end=stamp(window_end_ns),
        text=text,
        source=source,
        confidence=float(confidence),
        fed_back=bool(fed_back),
    )
    return bytes(store.serialize_cdr(msg, "ego4o_ros/msg/MotionDescription"))
