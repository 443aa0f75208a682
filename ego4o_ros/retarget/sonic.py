"""The captured body in SONIC's ZMQ stream protocol (NVIDIA GR00T whole-body control for the
Unitree G1), ROS-free and socket-free: arrays in, message bytes out.

Read from NVlabs/GR00T-WholeBodyControl (docs/source/tutorials/zmq.md; the receiver
``gear_sonic_deploy/.../input_interface/zmq_packed_message_subscriber.hpp`` and
``zmq_endpoint_interface.hpp``; SONIC's own senders ``gear_sonic/utils/teleop/zmq/
zmq_planner_sender.py`` and ``gear_sonic/scripts/pico_manager_thread_server.py``).

**Framing.** One single-part ZMQ message on a PUB socket: the topic's bytes (``pose``: the
subscriber filters on it as a prefix and strips it), then a JSON header null-padded to
exactly 1280 bytes, ``{"v": <protocol>, "endian": "le", "count": N, "fields": [{"name",
"dtype", "shape"}, ...]}``, then each field's raw little-endian C-order bytes, concatenated in
the header's order. dtypes ``f32``, ``f64``, ``i32``, ``i64``, ``u8``, ``bool``.

**Fields** (N frames per message), protocol v2 (SMPL) or v3 (SMPL + G1 joints):

* ``smpl_joints`` f32 [N, 24, 3]: SMPL joint positions, m, pelvis at the origin, in the
  pelvis frame SONIC uses (x forward, y left, z up, turned with the pelvis: the joints of
  ``body_quat``'s frame);
* ``smpl_pose`` f32 [N, 21, 3]: SMPL ``body_pose``, axis-angle of joints 1..21 relative to
  their parents, relative to SMPL's T-pose;
* ``body_quat`` f32 [N, 4]: the pelvis orientation (w, x, y, z) in a z-up world, SONIC's
  convention: SMPL's root rotation turned y-up -> z-up (+90 deg about x) with SMPL's base
  rotation (the quaternion (0.5, 0.5, 0.5, 0.5)) removed, so a person standing upright
  facing the world's +x gives the identity;
* ``frame_index`` i64 [N]: consecutive (+1 per frame) for the whole session;
* v3 only: ``joint_pos`` / ``joint_vel`` f32 [N, 29]: the G1's joints in IsaacLab order
  (``G1_ISAACLAB_JOINTS``), rad and rad/s, from our retargeting (SONIC reads the 6 wrist
  joints 23..28 of it; ours are 0: wrist twist is not observed);
* ``timestamp_realtime`` f64 [1]: the stamp (s) of the captured pose that produced the
  message; SONIC's own streamer sends this field too and the receiver ignores it.

SMPL-24 from our SMPL-22: joints 0..21 are ours; 22 and 23 (hands) are not observed, and
are put on each forearm's extension, ``HAND_LENGTH_M`` past the wrist. (SONIC's PICO
pipeline puts SMPL-X's thumb tips there, its webcam example SMPL's hand joints.)

SONIC plays a stream at its own rate (50 Hz) and aligns frames by ``frame_index``, so
``SonicStream`` resamples the captured poses (30 Hz) to ``rate`` Hz: each input pose
produces the frames of the rate's grid up to its stamp, interpolated from the previous
pose (no look-ahead added; a frame is at most one grid period older than the pose).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .. import interface
from ..core import body, joint_angles, rotations

HEADER_SIZE = 1280  # bytes of the null-padded JSON header (zmq_packed_message_subscriber.hpp)
DEFAULT_TOPIC = interface.SONIC_ZMQ_TOPIC
PROTOCOLS = (2, 3)
SONIC_RATE_HZ = 50.0
HAND_LENGTH_M = 0.085  # wrist -> hand of SMPL's neutral body
SMPL_JOINTS = 24
SMPL_POSES = 21
# The G1's 29 joints in IsaacLab order (gear_sonic/envs/manager_env/robots/g1.py, the
# bodies after the pelvis, each named by the joint that moves it).
G1_ISAACLAB_JOINTS = (
    "left_hip_pitch_joint",
    "right_hip_pitch_joint",
    "waist_yaw_joint",
    "left_hip_roll_joint",
    "right_hip_roll_joint",
    "waist_roll_joint",
    "left_hip_yaw_joint",
    "right_hip_yaw_joint",
    "waist_pitch_joint",
    "left_knee_joint",
    "right_knee_joint",
    "left_shoulder_pitch_joint",
    "right_shoulder_pitch_joint",
    "left_ankle_pitch_joint",
    "right_ankle_pitch_joint",
    "left_shoulder_roll_joint",
    "right_shoulder_roll_joint",
    "left_ankle_roll_joint",
    "right_ankle_roll_joint",
    "left_shoulder_yaw_joint",
    "right_shoulder_yaw_joint",
    "left_elbow_joint",
    "right_elbow_joint",
    "left_wrist_roll_joint",
    "right_wrist_roll_joint",
    "left_wrist_pitch_joint",
    "right_wrist_pitch_joint",
    "left_wrist_yaw_joint",
    "right_wrist_yaw_joint",
)
DTYPES = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "u8": "u1", "bool": "?"}
_NAMES = {np.dtype(v).str: k for k, v in DTYPES.items()}

# body frame (y up, facing +z, +x left) -> SONIC's z-up world: +90 deg about x
Z_UP_FROM_Y_UP = rotations.axis_rotation("x", np.pi / 2)
# SMPL's base rotation (w, x, y, z) = (0.5, 0.5, 0.5, 0.5): 120 deg about (1, 1, 1)
SMPL_BASE = rotations.quat_to_matrix(np.array([0.5, 0.5, 0.5, 0.5]))


def _smpl_rest_rotations() -> np.ndarray:
    """Our fitted global rotations (core.joint_angles) of SMPL's own rest (T-)pose: what
    turns our rest pose (arms down) into SMPL's, per joint."""
    positions, _ = body.forward_kinematics(
        np.broadcast_to(np.eye(3), (body.NUM_JOINTS, 3, 3)), np.zeros(3), body.SMPL_REST_OFFSETS
    )
    return joint_angles.global_rotations_from_joints(positions)


SMPL_REST_ROTATIONS = _smpl_rest_rotations()


def isaaclab_order(joint_names) -> np.ndarray:
    """Indices that take a G1 joint vector in ``joint_names`` order to IsaacLab order."""
    names = list(joint_names)
    missing = [n for n in G1_ISAACLAB_JOINTS if n not in names]
    if missing:
        raise ValueError(f"not the Unitree G1 (29 DOF): no joints {missing}")
    return np.array([names.index(n) for n in G1_ISAACLAB_JOINTS])


# -------------------------------------------------------------------------------- one pose
@dataclass
class SonicPose:
    """One captured pose in SONIC's conventions (module doc), as a vector for the hand-off
    (``retarget.handoff``: one quaternion, 21 quaternions, 24 points) and interpolation."""

    body_quat: np.ndarray  # (4,) w, x, y, z
    local_quats: np.ndarray  # (21, 4) w, x, y, z: SMPL body_pose as quaternions
    smpl_joints: np.ndarray  # (24, 3) m

    SIZE = 4 + SMPL_POSES * 4 + SMPL_JOINTS * 3

    def vector(self) -> np.ndarray:
        return np.concatenate([self.body_quat, self.local_quats.ravel(), self.smpl_joints.ravel()])

    @classmethod
    def from_vector(cls, v: np.ndarray) -> SonicPose:
        v = np.asarray(v, np.float64)
        quats = rotations.normalize(v[: 4 + SMPL_POSES * 4].reshape(-1, 4))
        return cls(quats[0], quats[1:], v[4 + SMPL_POSES * 4 :].reshape(SMPL_JOINTS, 3))

    def smpl_pose(self) -> np.ndarray:
        """(21, 3) axis-angle."""
        return rotations.matrix_to_axis_angle(rotations.quat_to_matrix(self.local_quats))


def handoff_blocks(linear_speed: float, angular_speed: float):
    """``retarget.handoff`` blocks of ``SonicPose.vector()``."""
    from .handoff import Block

    return [
        Block("quaternion", 1, angular_speed),
        Block("quaternion", SMPL_POSES, angular_speed),
        Block("point", SMPL_JOINTS, linear_speed),
    ]


def sonic_pose(joints_body: np.ndarray, rotations_body: np.ndarray | None = None) -> SonicPose:
    """One frame of SMPL-22 joints (22, 3) in the body frame (y up, facing +z, +x left, m)
    and optionally their global rotations (22, 3, 3) as ``core.joint_angles`` defines them
    (fitted to the positions when None) -> SONIC's pose (module doc)."""
    joints = np.asarray(joints_body, np.float64)
    if rotations_body is None:
        rotations_body = joint_angles.global_rotations_from_joints(joints)
    # SMPL's convention: global rotations relative to SMPL's T-pose, then parent-relative.
    smpl_global = rotations_body @ np.swapaxes(SMPL_REST_ROTATIONS, -1, -2)
    local = joint_angles.local_rotations(smpl_global)[1:]
    pelvis = Z_UP_FROM_Y_UP @ smpl_global[0] @ SMPL_BASE.T  # SONIC's body_quat, as a matrix
    forearms = joints[[20, 21]] - joints[[18, 19]]
    hands = joints[[20, 21]] + HAND_LENGTH_M * rotations.normalize(forearms)
    points = np.concatenate([joints, hands]) - joints[0]
    local_points = (Z_UP_FROM_Y_UP @ points.T).T @ pelvis  # pelvis^T p, row-wise
    return SonicPose(rotations.matrix_to_quat(pelvis), rotations.matrix_to_quat(local), local_points)


def interpolate(a: SonicPose, b: SonicPose, alpha: float) -> SonicPose:
    return SonicPose(
        rotations.slerp_quat(a.body_quat, b.body_quat, alpha),
        rotations.slerp_quat(a.local_quats, b.local_quats, np.full(SMPL_POSES, alpha)),
        (1 - alpha) * a.smpl_joints + alpha * b.smpl_joints,
    )


# -------------------------------------------------------------------------------- framing
def pack(fields: dict[str, np.ndarray], version: int, topic: str = DEFAULT_TOPIC, count: int = 1) -> bytes:
    """[topic][1280-byte JSON header][fields' little-endian bytes, in order]."""
    descriptors, payload = [], []
    for name, value in fields.items():
        value = np.ascontiguousarray(value)
        if value.dtype.str not in _NAMES:
            raise TypeError(f"{name}: dtype {value.dtype} is not one of {sorted(DTYPES)}")
        descriptors.append({"name": name, "dtype": _NAMES[value.dtype.str], "shape": list(value.shape)})
        payload.append(value.tobytes())
    header = json.dumps(
        {"v": int(version), "endian": "le", "count": int(count), "fields": descriptors}, separators=(",", ":")
    ).encode()
    if len(header) > HEADER_SIZE:
        raise ValueError(f"header of {len(header)} bytes > {HEADER_SIZE}")
    return topic.encode() + header.ljust(HEADER_SIZE, b"\0") + b"".join(payload)


def unpack(message: bytes, topic: str = DEFAULT_TOPIC) -> tuple[dict, dict[str, np.ndarray]]:
    """What SONIC's receiver does with a message: strip the topic, parse the header, cut the
    payload by the fields' dtypes and shapes. Returns (header, {name: array})."""
    prefix = topic.encode()
    if not message.startswith(prefix) or len(message) < len(prefix) + HEADER_SIZE:
        raise ValueError("not a message of this topic, or shorter than the header")
    block = message[len(prefix) : len(prefix) + HEADER_SIZE]
    header = json.loads(block.split(b"\0", 1)[0])
    data, at, arrays = message[len(prefix) + HEADER_SIZE :], 0, {}
    for field in header["fields"]:
        dtype = np.dtype(DTYPES[field["dtype"]])
        size = int(np.prod(field["shape"], dtype=np.int64)) * dtype.itemsize
        if at + size > len(data):
            raise ValueError(f"field {field['name']} runs past the end of the message")
        arrays[field["name"]] = np.frombuffer(data, dtype, size // dtype.itemsize, at).reshape(field["shape"])
        at += size
    return header, arrays


# -------------------------------------------------------------------------------- the stream
class SonicStream:
    """Stamped poses in -> SONIC messages out, one protocol version for the whole session,
    resampled to ``rate`` Hz with consecutive frame indices (module doc). A gap longer than
    ``max_gap_s`` (or time going back) restarts the grid at the new pose; the indices go on."""

    def __init__(
        self, version: int = 3, rate: float = SONIC_RATE_HZ, topic: str = DEFAULT_TOPIC, max_gap_s: float = 0.5
    ):
        if version not in PROTOCOLS:
            raise ValueError(f"SONIC protocol must be one of {PROTOCOLS}, not {version!r}")
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self._version, self.rate, self.topic, self.max_gap_s = version, float(rate), topic, max_gap_s
        self.next_index = 0  # frame_index of the next frame
        self.messages = 0
        self._previous: tuple[float, SonicPose, np.ndarray | None] | None = None
        self._next_time: float | None = None  # grid time of the next frame
        self._last_joint_pos: np.ndarray | None = None
        self._last_quat: np.ndarray | None = None

    @property
    def version(self) -> int:
        return self._version  # fixed: SONIC stops streaming when it changes mid-session

    def __call__(self, stamp: float, pose: SonicPose, joint_pos: np.ndarray | None = None) -> bytes | None:
        """The message for one captured pose (``joint_pos``: the G1's 29 joints in IsaacLab
        order, required by v3), or None when no grid frame falls due yet."""
        if self._version == 3 and (joint_pos is None or np.shape(joint_pos) != (29,)):
            raise ValueError("protocol v3 needs the G1's 29 joint positions (IsaacLab order)")
        joint_pos = None if joint_pos is None else np.asarray(joint_pos, np.float64)
        previous, self._previous = self._previous, (stamp, pose, joint_pos)
        if previous is None or not 0 < stamp - previous[0] <= self.max_gap_s:
            self._next_time, self._last_joint_pos = stamp, None  # (re)start the grid here
            previous = None
        frames, positions = [], []
        while self._next_time <= stamp + 1e-9:
            if previous is None:
                alpha, before, before_joints = 1.0, pose, joint_pos
            else:
                t0, before, before_joints = previous
                alpha = (self._next_time - t0) / (stamp - t0)
            frames.append(interpolate(before, pose, alpha))
            if joint_pos is not None:
                positions.append(before_joints + alpha * (joint_pos - before_joints))
            self._next_time += 1.0 / self.rate
        if not frames:
            return None
        return self._message(stamp, frames, positions)

    def _message(self, stamp: float, frames: list[SonicPose], positions: list[np.ndarray]) -> bytes:
        n = len(frames)
        quats = np.array([f.body_quat for f in frames])
        for i in range(n):  # q and -q are one rotation: keep the stream's sign continuous
            reference = quats[i - 1] if i else self._last_quat
            if reference is not None and np.dot(quats[i], reference) < 0:
                quats[i] = -quats[i]
        self._last_quat = quats[-1]
        fields = {
            "smpl_joints": np.array([f.smpl_joints for f in frames], "<f4"),
            "smpl_pose": np.array([f.smpl_pose() for f in frames], "<f4"),
            "body_quat": quats.astype("<f4"),
        }
        if self._version == 3:
            joint_pos = np.array(positions)
            before = joint_pos[:1] if self._last_joint_pos is None else self._last_joint_pos[None]
            velocity = np.diff(np.concatenate([before, joint_pos]), axis=0) * self.rate  # 0 at a (re)start
            self._last_joint_pos = joint_pos[-1]
            fields["joint_pos"] = joint_pos.astype("<f4")
            fields["joint_vel"] = velocity.astype("<f4")
        fields["frame_index"] = np.arange(self.next_index, self.next_index + n, dtype="<i8")
        fields["timestamp_realtime"] = np.array([stamp], "<f8")
        self.next_index += n
        self.messages += 1
        return pack(fields, self._version, self.topic, count=n)
