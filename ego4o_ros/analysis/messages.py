"""The analysis' output messages, laid out exactly as the live graph publishes them.

``joint_states`` / ``joint_poses`` / ``skeleton_markers`` follow ``nodes/fusion_node.py``
(the same names, orders, colours, sizes and lifetimes), ``description`` /
``description_stamped`` follow ``nodes/captioning_node.py``, ``smpl_pose`` follows
``nodes/common.smpl_pose`` (less the part confidences), so a Foxglove layout or an RViz
config made for a live run shows an analysed bag unchanged. Built with rosbags' typestore
(no rclpy) through ``cdr.CdrTemplate``, in bulk.
"""

from __future__ import annotations

import struct
from functools import cache

import numpy as np

from .. import interface
from ..core import body, frames, joint_angles, rotations
from ..core.bag import standard_typestore
from .cdr import CdrTemplate, message

BONE_POINTS = np.array(interface.BONE_POINTS)  # the skeleton marker as the fusion node draws it
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
        lifetime = message(store, "builtin_interfaces/msg/Duration", nanosec=interface.MARKER_LIFETIME_NS)

        def marker(marker_id, kind, points, rgba, scale):
            return message(
                store,
                "visualization_msgs/msg/Marker",
                header=_header(store, sec, nanosec, frame_id),
                ns=interface.MARKER_NAMESPACE,
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
            markers=[  # types 5 LINE_LIST (bones) and 7 SPHERE_LIST (joints)
                marker(0, 5, bone_points, interface.BONE_COLOR_RGBA, (interface.BONE_WIDTH_M, 0.0, 0.0)),
                marker(1, 7, joint_points, interface.JOINT_COLOR_RGBA, (interface.JOINT_DIAMETER_M,) * 3),
            ],
        )

    return CdrTemplate("visualization_msgs/msg/MarkerArray", 3 * (len(BONE_POINTS) + NUM_JOINTS), build)


@cache
def output_templates(frame_id: str = "world") -> dict[str, CdrTemplate]:
    return {
        interface.JOINT_STATES: joint_states_template(frame_id),
        interface.JOINT_POSES: pose_array_template(frame_id),
        interface.SKELETON_MARKERS: markers_template(frame_id),
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


_BODY_POSE_SENTINEL = np.arange(63, dtype="<f4") + np.float32(0.375)  # float32 slots, found in the bytes
_FRAME_INDEX_SENTINEL = 0xFEDC_BA98


def smpl_values(local_rotations: np.ndarray, positions_ros: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 22, 3, 3) parent-relative rotations (body axes) + (N, 22, 3) REP-103 joints -> SMPL
    ``global_orient`` (N, 3), ``body_pose`` (N, 21, 3), ``transl`` (N, 3): what
    ``core.joint_angles.ros_body_pose(...).smpl`` gives for each frame."""
    global_orient = rotations.matrix_to_axis_angle(frames.ROS_FROM_BODY @ local_rotations[:, 0])
    return global_orient, rotations.matrix_to_axis_angle(local_rotations[:, 1:]), positions_ros[:, 0]


def smpl_pose_rows(
    store,
    stamps_ns: np.ndarray,
    local_rotations: np.ndarray,
    positions_ros: np.ndarray,
    active_sensors: list[tuple[str, ...]],
    frame_index: np.ndarray,
    frame_id: str = "world",
) -> list[bytes]:
    """``ego4o_ros/msg/SmplPose`` CDR, one per frame, as the fusion node fills it (``store``
    must know the type: ``writing.custom_store()``); no part confidences (both part arrays
    empty, as the message says when the estimator gives none). In bulk: one ``CdrTemplate``
    per set of active sensors (their strings fix the layout), the float32 ``body_pose`` and the
    uint32 ``frame_index`` written into the rows where their sentinels sit in the template."""
    global_orient, body_pose, transl = smpl_values(local_rotations, positions_ros)
    values = np.concatenate([global_orient, transl, positions_ros.reshape(len(positions_ros), -1)], axis=1)
    body_pose = np.ascontiguousarray(body_pose, "<f4").reshape(len(body_pose), -1).view(np.uint8)
    frame_index = np.ascontiguousarray(frame_index, "<u4").reshape(-1, 1).view(np.uint8)
    rows: list[bytes] = [b""] * len(stamps_ns)
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, sites in enumerate(active_sensors):
        groups.setdefault(tuple(sites), []).append(k)
    for sites, members in groups.items():

        def build(store, sec, nanosec, v, sites=sites):
            return message(
                store,
                "ego4o_ros/msg/SmplPose",
                header=_header(store, sec, nanosec, frame_id),
                global_orient=_point(store, "geometry_msgs/msg/Vector3", v[0:3]),
                body_pose=_BODY_POSE_SENTINEL,
                transl=_point(store, "geometry_msgs/msg/Vector3", v[3:6]),
                joint_positions=[_point(store, "geometry_msgs/msg/Point", p) for p in np.reshape(v[6:], (-1, 3))],
                active_sensors=list(sites),
                frame_index=_FRAME_INDEX_SENTINEL,
            )

        template = CdrTemplate("ego4o_ros/msg/SmplPose", 6 + 3 * NUM_JOINTS, build, store=store)
        (pose_at,) = CdrTemplate._find(template.template, _BODY_POSE_SENTINEL.tobytes(), exactly_one=True)
        (index_at,) = CdrTemplate._find(template.template, struct.pack("<I", _FRAME_INDEX_SENTINEL), exactly_one=True)
        members = np.array(members)
        out = template.encode(np.asarray(stamps_ns)[members], values[members])
        out[:, pose_at : pose_at + body_pose.shape[1]] = body_pose[members]
        out[:, index_at : index_at + 4] = frame_index[members]
        for k, row in zip(members.tolist(), out):
            rows[k] = row.tobytes()
    return rows
