"""Rotation conversions, SMPL-22 topology and parts, frames."""

import numpy as np

from ego4o_ros.core import body, frames, rotations


def test_rotation_conversions_round_trip():
    rng = np.random.default_rng(0)
    aa = rng.normal(size=(50, 3))
    m = rotations.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(rotations.quat_to_matrix(rotations.matrix_to_quat(m)), m, atol=1e-12)
    np.testing.assert_allclose(rotations.axis_angle_to_matrix(rotations.matrix_to_axis_angle(m)), m, atol=1e-12)
    np.testing.assert_allclose(rotations.cont6d_to_matrix(rotations.matrix_to_cont6d(m)), m, atol=1e-12)
    v = rng.normal(size=(50, 3))
    q = rotations.matrix_to_quat(m)
    np.testing.assert_allclose(rotations.qrot(q, v), np.einsum("nij,nj->ni", m, v), atol=1e-12)
    np.testing.assert_allclose(rotations.quat_to_matrix(rotations.qmul(q[:-1], q[1:])), m[:-1] @ m[1:], atol=1e-12)


def test_qbetween_handles_opposite_vectors():
    u = np.array([[1.0, 0, 0], [0, 1.0, 0], [0.3, 0.4, 0.5]])
    for v in (-u, u[::-1]):
        q = rotations.qbetween(u, v)
        np.testing.assert_allclose(rotations.qrot(q, rotations.normalize(u)), rotations.normalize(v), atol=1e-9)


def test_euler_order_is_intrinsic_left_to_right():
    angles = np.radians([90.0, 90.0, 0.0])
    zxy = rotations.euler_to_matrix(angles, "ZXY")
    expected = rotations.axis_rotation("Z", np.pi / 2) @ rotations.axis_rotation("X", np.pi / 2)
    np.testing.assert_allclose(zxy, expected, atol=1e-12)
    assert not np.allclose(zxy, rotations.euler_to_matrix(angles, "XZY"))


def test_parts_cover_every_feature_dim_once():
    indices = np.concatenate(list(body.PART_FEATURE_INDICES.values()))
    assert sorted(indices.tolist()) == list(range(263))
    assert len(body.PART_NAMES) == 6
    assert set(sum(body.BODY_PARTS.values(), ())) == set(range(22))


def test_chains_follow_parents():
    for chain in body.KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert body.PARENTS[child] == parent


def test_forward_kinematics_of_rest_pose_and_a_bent_elbow():
    rest = np.broadcast_to(np.eye(3), (22, 3, 3)).copy()
    positions, global_rot = body.forward_kinematics(rest, np.zeros(3), body.SMPL_REST_OFFSETS)
    assert positions[15, 1] > positions[0, 1] + 0.4  # head above the pelvis
    assert positions[1, 0] > 0 > positions[2, 0]  # left hip on +X
    bent = rest.copy()
    bent[18] = rotations.axis_rotation("Y", -np.pi / 2)  # left forearm turned to +Z
    bent_positions, bent_rot = body.forward_kinematics(bent, np.zeros(3), body.SMPL_REST_OFFSETS)
    forearm = bent_positions[20] - bent_positions[18]
    np.testing.assert_allclose(forearm, rotations.axis_rotation("Y", -np.pi / 2) @ body.SMPL_REST_OFFSETS[20])
    assert forearm[2] > 0.25  # now points forward
    np.testing.assert_allclose(bent_rot[20], bent[18])  # children inherit the rotation


def test_ros_rotation_is_proper_and_maps_axes():
    assert np.isclose(np.linalg.det(frames.ROS_FROM_BODY), 1.0)
    np.testing.assert_allclose(frames.ROS_FROM_BODY @ frames.FORWARD, [1, 0, 0])  # forward = x
    np.testing.assert_allclose(frames.ROS_FROM_BODY @ frames.UP, [0, 0, 1])  # up = z
    np.testing.assert_allclose(frames.ROS_FROM_BODY @ [1.0, 0, 0], [0, 1, 0])  # left = y


def test_canonical_frame_puts_floor_origin_and_facing(humanml3d_sample):
    joints, _ = humanml3d_sample
    moved = frames.yaw_frame(2.5, (1.0, 0.7, 4.0)).points(joints)
    frame = frames.canonical_frame(moved)
    canonical = frame.points(moved)
    assert abs(canonical[..., 1].min()) < 1e-12
    np.testing.assert_allclose(canonical[0, 0, [0, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(frames.facing_directions(canonical[0]), [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(frame.inverse().points(canonical), moved, atol=1e-9)
