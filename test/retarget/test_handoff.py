"""The robot hand-off on plain arrays: hold freezes, release and outages come back at a
bounded speed (never a jump) and reach the live vector."""

import numpy as np
import pytest

from ego4o_ros.core import rotations
from ego4o_ros.retarget import Retargeter
from ego4o_ros.retarget.handoff import BLENDING, HELD, LIVE, Block, HandOff, robot_blocks

FPS = 30.0
SPEEDS = np.array([1.0, 2.0, 0.5])


def feed(handoff, stamps, values):
    return np.array([handoff(t, v) for t, v in zip(stamps, values)])


def test_hold_freezes_and_release_blends_at_bounded_speed():
    handoff = HandOff([Block("scalar", 3, tuple(SPEEDS))], timeout_s=0.5, max_step_s=1.5 / FPS)
    stamps = np.arange(200) / FPS
    near, far = np.zeros(3), np.array([3.0, -2.0, 1.0])
    out = [handoff(stamps[t], near + 0.01 * t) for t in range(10)]
    np.testing.assert_allclose(out[-1], near + 0.09)  # live: passed through
    handoff.hold(True)
    held = feed(handoff, stamps[10:40], [far] * 30)
    assert handoff.state == HELD and (held == out[-1]).all()  # frozen at the last output
    handoff.hold(False)
    assert handoff.state == BLENDING
    blend = feed(handoff, stamps[40:], [far] * 160)
    path = np.concatenate([held[-1:], blend])
    speed = np.abs(np.diff(path, axis=0)) * FPS
    assert (speed <= SPEEDS + 1e-9).all()
    assert speed.max(axis=0) == pytest.approx(SPEEDS)  # it went as fast as allowed, no faster
    assert handoff.state == LIVE and (blend[-1] == far).all()
    assert handoff.blends == 1


def test_an_outage_blends_back_in_and_its_first_frame_stays_put():
    handoff = HandOff([Block("scalar", 3, tuple(SPEEDS))], timeout_s=0.5, max_step_s=1.5 / FPS)
    before = feed(handoff, np.arange(10) / FPS, [np.zeros(3)] * 10)
    stamps = 5.0 + np.arange(160) / FPS  # 4.7 s without input, then a pose far away
    after = feed(handoff, stamps, [np.full(3, 2.0)] * 160)
    np.testing.assert_array_equal(after[0], before[-1])  # no jump when the input returns
    steps = np.abs(np.diff(after, axis=0))
    assert (steps <= SPEEDS / FPS + 1e-9).all()
    assert handoff.state == LIVE and (after[-1] == 2.0).all()


def test_time_going_back_is_an_outage_too():
    handoff = HandOff([Block("scalar", 1, 1.0)])
    handoff(10.0, np.zeros(1))
    assert handoff(2.0, np.ones(1))[0] == 0.0 and handoff.state == BLENDING


def test_points_and_quaternions_are_bounded_by_distance_and_angle():
    handoff = HandOff([Block("point", 2, 0.5), Block("quaternion", 1, 1.0)], max_step_s=1.0)
    start = np.concatenate([np.zeros(6), [1.0, 0, 0, 0]])
    turned = rotations.matrix_to_quat(rotations.axis_rotation("z", np.array(2.5)))
    goal = np.concatenate([[3.0, 4.0, 0.0], [0.0, 0.0, -1.0], turned])
    handoff(0.0, start)
    handoff.hold(True)
    handoff.hold(False)
    path = [start] + [handoff(t / 10, goal) for t in range(1, 200)]
    path = np.array(path)
    points = path[:, :6].reshape(len(path), 2, 3)
    assert (np.linalg.norm(np.diff(points, axis=0), axis=2) <= 0.05 + 1e-9).all()  # 0.5 m/s x 0.1 s
    quats = path[:, 6:]
    angles = 2 * np.arccos(np.clip(np.abs((quats[1:] * quats[:-1]).sum(1)), 0, 1))
    assert (angles <= 0.1 + 1e-6).all()
    np.testing.assert_allclose(path[-1], goal)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0)


def test_before_any_frame_the_first_one_is_held():
    handoff = HandOff([Block("scalar", 2, 1.0)])
    handoff.hold(True)
    assert (handoff(0.0, np.ones(2)) == 1).all() and (handoff(0.1, np.zeros(2)) == 1).all()


def test_robot_blocks_follow_the_urdf_limits_of_the_g1():
    robot = Retargeter("g1").robot
    blocks = robot_blocks(robot, 0.1, 0.5, 1.0)
    assert [b.kind for b in blocks] == ["point", "quaternion", "scalar"]
    assert sum(b.size for b in blocks) == robot.model.nq
    speeds = HandOff(blocks).max_speeds()
    np.testing.assert_allclose(speeds[robot.index_q], 0.1 * robot.velocity_limits)
    assert 2.0 <= speeds[robot.index_q].min() and speeds[robot.index_q].max() <= 3.7


def test_bad_blocks_are_refused():
    with pytest.raises(ValueError):
        Block("angle", 1, 1.0)
    with pytest.raises(ValueError):
        Block("scalar", 2, (1.0, 0.0))
    with pytest.raises(ValueError):
        HandOff([Block("scalar", 2, 1.0)])(0.0, np.zeros(3))
