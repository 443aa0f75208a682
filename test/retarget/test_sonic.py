"""SONIC's stream encoder on plain arrays: SONIC's conventions on known poses, the framing
read back by an independent decoder written from the protocol doc, the 50 Hz resampling."""

import json
from pathlib import Path

import numpy as np
import pytest

from ego4o_ros.core import body, rotations
from ego4o_ros.core.features import retarget_to_template
from ego4o_ros.readers.bandai import read_bandai
from ego4o_ros.retarget import Retargeter, sonic

SAMPLE = Path(__file__).resolve().parents[2] / "ego4o_ros" / "data" / "sample" / "dataset-2_walk_normal_001.bvh"


def smpl_t_pose(yaw: float = 0.0) -> np.ndarray:
    local = np.broadcast_to(np.eye(3), (body.NUM_JOINTS, 3, 3)).copy()
    local[0] = rotations.axis_rotation("y", np.array(yaw))
    positions, _ = body.forward_kinematics(local, np.array([0.3, 0.9, -1.0]), body.SMPL_REST_OFFSETS)
    return positions


def decode(message: bytes, topic: str = "pose"):
    """The receiver as zmq.md and zmq_packed_message_subscriber.hpp describe it."""
    assert message[: len(topic)] == topic.encode()
    rest = message[len(topic) :]
    header = json.loads(rest[:1280].rstrip(b"\0"))
    dtypes = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8"}
    data, at, out = rest[1280:], 0, {}
    for field in header["fields"]:
        count = int(np.prod(field["shape"]))
        out[field["name"]] = np.frombuffer(data, dtypes[field["dtype"]], count, at).reshape(field["shape"])
        at += count * np.dtype(dtypes[field["dtype"]]).itemsize
    assert at == len(data)
    return header, out


def test_smpls_rest_pose_is_the_zero_pose_and_the_joints_are_in_the_pelvis_frame():
    pose = sonic.sonic_pose(smpl_t_pose())
    np.testing.assert_allclose(pose.smpl_pose(), 0.0, atol=1e-9)
    np.testing.assert_allclose(pose.smpl_joints[0], 0.0)
    left_hip, head, left_wrist, left_hand = pose.smpl_joints[[1, 15, 20, 22]]
    assert left_hip[1] > 0.05 and left_hip[2] < -0.05  # x forward, y left, z up
    assert head[2] > 0.5 and abs(head[1]) < 0.02
    assert left_wrist[1] > 0.6  # the T-pose's arm, sideways
    np.testing.assert_allclose(np.linalg.norm(left_hand - left_wrist), sonic.HAND_LENGTH_M)


def test_body_quat_is_identity_facing_the_z_up_worlds_x_and_turns_with_the_body():
    # SONIC's z-up world is the body frame turned +90 deg about x: its +x is the body frame's +X.
    facing_x = sonic.sonic_pose(smpl_t_pose(np.pi / 2))
    np.testing.assert_allclose(np.abs(facing_x.body_quat), [1, 0, 0, 0], atol=1e-9)
    turned = sonic.sonic_pose(smpl_t_pose(np.pi / 2 + 0.7))
    yaw = 2 * np.arctan2(turned.body_quat[3], turned.body_quat[0])
    assert yaw == pytest.approx(0.7)  # about z, the z-up world's up
    np.testing.assert_allclose(turned.smpl_joints, facing_x.smpl_joints, atol=1e-9)  # local: unchanged


def test_messages_follow_the_protocol_doc():
    joints = retarget_to_template(read_bandai(SAMPLE, target_fps=30).joints)[:60]
    retargeter = Retargeter("g1")
    order = sonic.isaaclab_order(retargeter.joint_names)
    assert [retargeter.joint_names[i] for i in order[23:]] == [
        f"{side}_wrist_{axis}_joint" for axis in ("roll", "pitch", "yaw") for side in ("left", "right")
    ]
    stream = sonic.SonicStream(version=3)
    indices, stamps = [], 100.0 + np.arange(60) / 30
    for t, stamp in enumerate(stamps):
        q = retargeter.step(joints[t], None, stamp).joint_positions[order]
        header, fields = decode(stream(stamp, sonic.sonic_pose(joints[t]), q))
        n = header["count"]
        assert header["v"] == 3 and header["endian"] == "le"
        shapes = {f["name"]: (f["dtype"], f["shape"]) for f in header["fields"]}
        assert shapes["smpl_joints"] == ("f32", [n, 24, 3]) and shapes["smpl_pose"] == ("f32", [n, 21, 3])
        assert shapes["body_quat"] == ("f32", [n, 4]) and shapes["frame_index"] == ("i64", [n])
        assert shapes["joint_pos"] == ("f32", [n, 29]) and shapes["joint_vel"] == ("f32", [n, 29])
        np.testing.assert_allclose(np.linalg.norm(fields["body_quat"], axis=1), 1.0, atol=1e-6)
        assert fields["timestamp_realtime"][0] == stamp
        indices += fields["frame_index"].tolist()
    assert indices == list(range(len(indices)))  # consecutive from 0
    assert len(indices) == pytest.approx(59 / 30 * 50, abs=1.5)  # resampled to 50 Hz
    assert stream.version == 3


def test_resampled_frames_interpolate_and_a_gap_restarts_the_grid():
    a, b = sonic.sonic_pose(smpl_t_pose(0.0)), sonic.sonic_pose(smpl_t_pose(0.3))
    stream = sonic.SonicStream(version=2, rate=50.0)
    decode(stream(1.0, a))
    _, fields = decode(stream(1.1, b))  # 0.1 s later: the grid frames at 1.02 .. 1.10
    assert len(fields["frame_index"]) == 5
    yaw = 2 * np.arctan2(fields["body_quat"][:, 3], fields["body_quat"][:, 0])
    np.testing.assert_allclose(np.diff(yaw), 0.3 / 5, atol=1e-5)
    assert "joint_pos" not in fields  # optional in v2: not sent
    _, fields = decode(stream(9.0, a))  # after a gap: one frame, the next index
    assert fields["frame_index"].tolist() == [6]


def test_the_protocol_is_fixed_and_v3_needs_the_robots_joints():
    with pytest.raises(ValueError):
        sonic.SonicStream(version=4)
    with pytest.raises(ValueError):
        sonic.SonicStream(version=3)(0.0, sonic.sonic_pose(smpl_t_pose()))
    with pytest.raises(AttributeError):
        sonic.SonicStream(version=2).version = 3
    with pytest.raises(ValueError):
        sonic.isaaclab_order(["left_knee_joint"])


def test_pack_and_unpack_agree():
    fields = {"a": np.arange(6, dtype="<f4").reshape(2, 3), "frame_index": np.array([7], "<i8")}
    message = sonic.pack(fields, 2, "pose", count=2)
    assert len(message) == 4 + 1280 + 24 + 8
    header, out = sonic.unpack(message)
    assert header["count"] == 2 and out["frame_index"][0] == 7
    np.testing.assert_array_equal(out["a"], fields["a"])
