"""Humanoid retargeting (ego4o_ros.retarget) on the real URDFs through Pinocchio: the
bundled Unitree G1 and the project's own body. Poses are built on the template skeleton
with core.body's forward kinematics, as the capture publishes them."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ego4o_ros.core import body, joint_angles
from ego4o_ros.retarget import Retargeter, RetargetOptions, load_robot_map
from ego4o_ros.retarget.filters import OneEuroFilter, limit_velocity
from ego4o_ros.retarget.robot import urdf_joint_order
from ego4o_ros.retarget.targets import from_ros, to_ros

J = {name: i for i, name in enumerate(body.JOINT_NAMES)}
STANDING_PELVIS = np.array([0.0, 0.96, 0.0])  # body frame, floor at y = 0


def rot(axis: str, degrees: float) -> np.ndarray:
    return Rotation.from_euler(axis, degrees, degrees=True).as_matrix()


def pose(local: dict[str, np.ndarray] | None = None, root=STANDING_PELVIS) -> np.ndarray:
    """Template-skeleton joint positions (22, 3), body frame (X left, Y up, Z forward),
    from parent-relative rotations of some joints (the rest: identity = upright, arms
    hanging straight down, feet and head bones pointing forward)."""
    rotations = np.broadcast_to(np.eye(3), (body.NUM_JOINTS, 3, 3)).copy()
    for name, matrix in (local or {}).items():
        rotations[J[name]] = matrix
    positions, _ = body.forward_kinematics(rotations, np.asarray(root, np.float64), joint_angles.REST_OFFSETS)
    return positions


# A person standing like the G1's zero pose: straight legs, feet flat (SMPL's foot joint
# is 40 degrees below the ankle then), head up, upper arms hanging, forearms forward.
STANDING = {"left_ankle": rot("x", 40), "right_ankle": rot("x", 40), "neck": rot("x", -90)}
G1_ZERO_POSE = {**STANDING, "left_elbow": rot("x", -90), "right_elbow": rot("x", -90)}


@pytest.fixture(scope="module")
def g1():
    return Retargeter("g1", RetargetOptions(smoothing=False))


def solve(retargeter: Retargeter, joints: np.ndarray) -> dict[str, float]:
    retargeter.reset()
    frame = retargeter.step(joints)
    assert frame.converged
    return dict(zip(retargeter.joint_names, frame.joint_positions))


# --------------------------------------------------------------------------- loading


def test_g1_urdf_loads_through_pinocchio_with_joints_in_urdf_order(g1):
    robot = g1.robot
    assert g1.map.urdf.name == "g1_29dof_rev_1_0.urdf" and g1.map.urdf.is_file()
    assert robot.model.nq == 7 + 29 and robot.model.nv == 6 + 29  # free-flyer + 29 revolute joints
    assert len(g1.joint_names) == 29
    assert list(g1.joint_names) == [n for n in urdf_joint_order(g1.map.urdf) if n in g1.joint_names]
    # the G1 motor index order (../shared/robots/unitree_g1/README.md)
    assert g1.joint_names[0] == "left_hip_pitch_joint" and g1.joint_names[12] == "waist_yaw_joint"
    assert g1.joint_names[15] == "left_shoulder_pitch_joint" and g1.joint_names[28] == "right_wrist_yaw_joint"
    knee = g1.joint_names.index("left_knee_joint")
    assert robot.lower[knee] == pytest.approx(-0.087267) and robot.upper[knee] == pytest.approx(2.8798)
    assert robot.velocity_limits[knee] == pytest.approx(20.0)
    for frame in ("pelvis", "torso_link", "left_elbow_link", "right_wrist_pitch_link", "retarget_head"):
        assert robot.has_frame(frame)


def test_body_urdf_is_a_second_robot_whose_joints_match_joint_states():
    retargeter = Retargeter("ego4o_body", RetargetOptions(smoothing=False))
    assert not retargeter.map.floating_base
    # URDF file order, not Pinocchio's depth-first order: the fusion node's joint_states order
    assert retargeter.joint_names == joint_angles.DOF_NAMES
    np.testing.assert_allclose(retargeter.targets.scale, 1.0, atol=1e-4)  # same skeleton (URDF: 6 digits)


def test_map_errors_are_reported(tmp_path):
    good = load_robot_map("g1")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"urdf: {good.urdf}\nroot_height: 0.8\nkeypoints:\n"
        "  pelvis: {frame: pelvis, joint: pelvis}\n"
        "  knee: {frame: left_knee_link, joint: left_knee, parent: hip}\n"
        "  hip: {frame: left_hip_roll_link, joint: left_hip, parent: pelvis}\n"
    )
    with pytest.raises(ValueError, match="must be listed before"):
        load_robot_map(bad)
    bad.write_text(f"urdf: {good.urdf}\nroot_height: 0.8\nkeypoints:\n  pelvis: {{frame: pelvis, joint: hips}}\n")
    with pytest.raises(ValueError, match="not an SMPL-22 joint"):
        load_robot_map(bad)
    with pytest.raises(FileNotFoundError, match="no robot map"):
        load_robot_map("no_such_robot")


# --------------------------------------------------------------------------- poses


def test_human_in_the_g1_zero_pose_gives_near_zero_angles(g1):
    angles = solve(g1, pose(G1_ZERO_POSE))
    arms = [n for n in angles if "shoulder" in n or "elbow" in n]
    for name, value in angles.items():
        # the G1's upper arm leans 5 degrees forward and its forearm 4 degrees down at zero
        assert abs(value) < (0.2 if name in arms else 0.06), (name, value)
    frame = g1.step(pose(G1_ZERO_POSE))
    assert frame.root_position[2] == pytest.approx(g1.map.root_height, abs=0.01)  # standing height


def test_human_in_the_body_rest_pose_gives_zero_angles():
    retargeter = Retargeter("ego4o_body", RetargetOptions(smoothing=False))
    angles = solve(retargeter, pose())
    revolute = np.array([v for n, v in angles.items() if not n.startswith("pelvis_t")])
    assert np.abs(revolute).max() < 1e-3
    assert angles["pelvis_tz"] == pytest.approx(STANDING_PELVIS[1], abs=1e-3)


def test_a_raised_arm_raises_the_robot_arm(g1):
    straight = solve(g1, pose(STANDING))  # arms hanging straight
    # G1: +pi/2 is a straight elbow; its forearm's 1 cm offsets leave it ~15 degrees short here
    assert straight["left_elbow_joint"] == pytest.approx(np.pi / 2, abs=0.35)
    assert abs(straight["left_shoulder_roll_joint"]) < 0.2 and abs(straight["left_shoulder_pitch_joint"]) < 0.2

    # left arm out sideways to horizontal (abduction): +roll on the G1's left shoulder
    sideways = solve(g1, pose({**STANDING, "left_shoulder": rot("z", 90)}))
    assert sideways["left_shoulder_roll_joint"] == pytest.approx(np.pi / 2, abs=0.25)
    assert abs(sideways["right_shoulder_roll_joint"]) < 0.2
    # the right arm mirrored: -roll
    sideways_right = solve(g1, pose({**STANDING, "right_shoulder": rot("z", -90)}))
    assert sideways_right["right_shoulder_roll_joint"] == pytest.approx(-np.pi / 2, abs=0.25)

    # right arm straight forward (flexion): -pitch; overhead: about -pi
    forward = solve(g1, pose({**STANDING, "right_shoulder": rot("x", -90)}))
    assert forward["right_shoulder_pitch_joint"] == pytest.approx(-np.pi / 2, abs=0.25)
    assert abs(forward["left_shoulder_pitch_joint"]) < 0.2
    overhead = pose({**STANDING, "left_shoulder": rot("x", -170), "right_shoulder": rot("x", -170)})
    g1.reset()
    frame = g1.step(overhead)
    reached = g1.keypoint_positions(frame.q)
    wrist, shoulder = (reached[g1.targets.names.index(n)] for n in ("left_wrist", "left_shoulder"))
    assert wrist[2] > shoulder[2] + 0.2  # the robot's hand is up above its shoulder
    assert dict(zip(g1.joint_names, frame.joint_positions))["left_shoulder_pitch_joint"] < -2.3

    # elbow bent to 90 degrees (forearm forward): from +pi/2 (straight) down to ~0
    bent = solve(g1, pose({**STANDING, "left_elbow": rot("x", -90)}))
    assert bent["left_elbow_joint"] == pytest.approx(0.0, abs=0.2)
    assert straight["left_elbow_joint"] - bent["left_elbow_joint"] > 1.0


def test_a_raised_leg_and_a_bent_knee_move_hip_and_knee(g1):
    # thigh forward to horizontal: -pitch on the hip; shank hanging back down: knee +pi/2
    seated = solve(g1, pose({**STANDING, "left_hip": rot("x", -90), "left_knee": rot("x", 90)}))
    assert seated["left_hip_pitch_joint"] == pytest.approx(-np.pi / 2, abs=0.25)
    assert seated["left_knee_joint"] == pytest.approx(np.pi / 2, abs=0.25)
    assert abs(seated["right_hip_pitch_joint"]) < 0.25 and abs(seated["right_knee_joint"]) < 0.25
    # knee bent backwards with the thigh straight: knee flexes, hip stays
    kneel = solve(g1, pose({**STANDING, "right_knee": rot("x", 80)}))
    assert kneel["right_knee_joint"] == pytest.approx(np.radians(80), abs=0.25)
    # leg out sideways: +roll on the left hip, -roll on the right
    out = solve(g1, pose({**STANDING, "left_hip": rot("z", 30), "right_hip": rot("z", -30)}))
    assert out["left_hip_roll_joint"] > 0.3 and out["right_hip_roll_joint"] < -0.3


# --------------------------------------------------------------------------- motion


def random_motion(frames: int = 40, seed: int = 0) -> np.ndarray:
    """Wild joint rotations (up to ~170 degrees, far past the G1's limits), changing
    smoothly, on a wandering, turning body."""
    rng = np.random.default_rng(seed)
    knots = rng.normal(0.0, 1.2, (4, body.NUM_JOINTS, 3))
    t = np.linspace(0, 3, frames)
    rotvecs = np.stack(
        [np.stack([np.interp(t, np.arange(4), knots[:, j, a]) for a in range(3)], -1) for j in range(body.NUM_JOINTS)],
        1,
    )
    local = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(frames, body.NUM_JOINTS, 3, 3)
    roots = np.stack([np.sin(t), 0.96 + 0.1 * np.cos(3 * t), t], -1)
    positions, _ = body.forward_kinematics(local, roots, joint_angles.REST_OFFSETS)
    return positions


@pytest.mark.parametrize("velocity_limits", [False, True])
def test_limits_hold_on_a_random_motion(velocity_limits):
    retargeter = Retargeter("g1", RetargetOptions(velocity_limits=velocity_limits, velocity_scale=0.1))
    robot = retargeter.robot
    result = retargeter.retarget_clip(random_motion(), fps=30.0)
    q = result.joint_positions
    assert np.isfinite(q).all()
    assert (q >= robot.lower - 1e-9).all() and (q <= robot.upper + 1e-9).all()
    ik_q = np.array([robot.joint_positions(x) for x in result.q])
    assert (ik_q >= robot.lower - 1e-9).all() and (ik_q <= robot.upper + 1e-9).all()
    at_limit = np.isclose(q, robot.lower, atol=1e-6) | np.isclose(q, robot.upper, atol=1e-6)
    assert at_limit.any()  # the motion really pushed against the limits
    speed = np.abs(np.diff(q, axis=0)) * 30.0
    if velocity_limits:
        assert (speed <= 0.1 * robot.velocity_limits + 1e-6).all()
    else:
        assert (speed > 0.1 * robot.velocity_limits).any()  # so the capped run above was capped


def test_walk_is_tracked_warm_started_and_quick(g1):
    from pathlib import Path

    from ego4o_ros.core.features import retarget_to_template
    from ego4o_ros.readers.bandai import read_bandai

    sample = Path(__file__).resolve().parents[2] / "ego4o_ros" / "data" / "sample" / "dataset-2_walk_normal_001.bvh"
    joints = retarget_to_template(read_bandai(sample, target_fps=30).joints)[:90]
    result = g1.retarget_clip(joints, fps=30.0, rotations_body=joint_angles.global_rotations_from_joints(joints))
    assert result.converged.all()
    assert np.median(result.iterations[1:]) <= 5  # warm start: a few iterations per frame
    error = np.linalg.norm(result.reached_ik - result.targets, axis=-1)
    limbs = [i for i, k in enumerate(g1.map.keypoints) if k.joint in ("left_wrist", "right_knee", "left_ankle")]
    assert error[:, limbs].mean() < 0.02  # metres, in the robot's proportions
    # the robot walks forward with the person: its root moves along the walk, scaled
    human_travel = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]])
    robot_travel = np.linalg.norm(result.q[-1, :2] - result.q[0, :2])
    assert robot_travel == pytest.approx(g1.map.scale_of_root * human_travel, rel=0.05)


# --------------------------------------------------------------------------- filters, frames


def test_smoothing_lags_a_ramp_by_at_most_one_frame_and_removes_jitter():
    dt = 1 / 30
    for min_cutoff, beta in ((0.01, 0.0), (4.8, 4.0), (1.0, 0.5)):  # the first asks for heavy smoothing
        smoother = OneEuroFilter(min_cutoff, beta)
        ramp = np.arange(100) * 0.05
        out = np.array([smoother(np.array([x]), dt)[0] for x in ramp])
        lag_frames = (ramp[50:] - out[50:]) / 0.05
        assert (lag_frames <= 1.0 + 1e-9).all() and (lag_frames >= 0).all()
    rng = np.random.default_rng(1)
    noisy = rng.normal(0, 0.02, 300)
    smoother = OneEuroFilter(4.8, 4.0)
    smoothed = np.array([smoother(np.array([x]), dt)[0] for x in noisy])
    assert np.std(np.diff(smoothed)) < 0.8 * np.std(np.diff(noisy))


def test_velocity_limit_caps_each_step():
    previous, target = np.zeros(3), np.array([1.0, -1.0, 0.001])
    out = limit_velocity(target, previous, np.array([3.0, 30.0, 3.0]), 1 / 30)
    np.testing.assert_allclose(out, [0.1, -1.0, 0.001])


def test_joint_poses_convert_between_ros_and_body_frames():
    positions = pose({"left_shoulder": rot("z", 60)})
    rotations = joint_angles.global_rotations_from_joints(positions)
    positions_ros, rotations_ros = to_ros(positions, rotations)
    assert positions_ros[J["head"], 2] > positions_ros[J["pelvis"], 2]  # z up
    assert positions_ros[J["left_hip"], 1] > positions_ros[J["right_hip"], 1]  # y left
    back, back_rotations = from_ros(positions_ros, Rotation.from_matrix(rotations_ros).as_quat())
    np.testing.assert_allclose(back, positions, atol=1e-12)
    np.testing.assert_allclose(back_rotations, rotations, atol=1e-9)
    identity = np.tile([0.0, 0.0, 0.0, 1.0], (22, 1))  # positions-only publishers
    assert from_ros(positions_ros, identity)[1] is None
