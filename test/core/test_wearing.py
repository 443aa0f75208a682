"""What wearing does to readings (ego4o_ros.core.wearing), on plain arrays."""

import numpy as np
import pytest

from ego4o_ros.core import imu, rotations
from ego4o_ros.core.wearing import WEAR_PROFILES, WearConfig, wear

NONE = WearConfig(slip_deg=0, heading_deg=0, time_offset_frames=0, acc_noise_std=0, acc_bias_std=0, ori_noise_deg=0)


def readings(batch=8, frames=64, seed=0):
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 3, (batch, frames, imu.NUM_SITES, 3)) + [0, imu.GRAVITY, 0]
    ori = rotations.axis_angle_to_matrix(rng.normal(0, 1, (batch, frames, imu.NUM_SITES, 3)))
    return acc, ori


def angle_deg(a, b):
    return np.degrees(np.linalg.norm(rotations.matrix_to_axis_angle(np.swapaxes(a, -1, -2) @ b), axis=-1))


def test_nothing_worn_changes_nothing():
    acc, ori = readings()
    worn_acc, worn_ori = wear(acc, ori, NONE, np.random.default_rng(0))
    np.testing.assert_allclose(worn_acc, acc)
    np.testing.assert_allclose(worn_ori, ori)


def test_a_slip_turns_the_device_on_its_segment_and_keeps_its_world_acceleration():
    acc, ori = readings(batch=200)
    worn_acc, worn_ori = wear(acc, ori, NONE.__class__(**{**NONE.__dict__, "slip_deg": 10.0}), np.random.default_rng(1))
    np.testing.assert_allclose(worn_acc, acc)
    slip = np.swapaxes(ori, -1, -2) @ worn_ori  # segment -> device: one rotation per window and site
    np.testing.assert_allclose(slip, slip[:, :1].repeat(slip.shape[1], 1), atol=1e-9)
    assert 8.5 < angle_deg(ori, worn_ori).mean() < 11.5


def test_a_heading_offset_turns_the_devices_world_about_vertical():
    acc, ori = readings()
    config = NONE.__class__(**{**NONE.__dict__, "heading_deg": 5.0})
    worn_acc, worn_ori = wear(acc, ori, config, np.random.default_rng(2))
    turn = worn_ori @ np.swapaxes(ori, -1, -2)  # world error, the same for orientation and acceleration
    np.testing.assert_allclose(turn @ acc[..., None], worn_acc[..., None], atol=1e-9)
    np.testing.assert_allclose(turn[..., 1, :], np.broadcast_to([0, 1, 0], turn[..., 1, :].shape), atol=1e-9)
    np.testing.assert_allclose(worn_acc[..., 1], acc[..., 1], atol=1e-9)  # vertical unchanged


def test_a_clock_offset_shifts_a_device_by_whole_frames():
    acc, ori = readings(batch=50)
    config = NONE.__class__(**{**NONE.__dict__, "time_offset_frames": 1})
    worn_acc, _ = wear(acc, ori, config, np.random.default_rng(3))
    shifts = set()
    for b in range(50):
        for s in range(imu.NUM_SITES):
            for d in (-1, 0, 1):
                if np.allclose(worn_acc[b, 2:-2, s], acc[b, 2 - d : acc.shape[1] - 2 - d, s]):
                    shifts.add(d)
                    break
            else:
                pytest.fail(f"window {b} site {s} is not a shift of its readings")
    assert shifts == {-1, 0, 1}


def test_the_worn_profile_is_seeded_and_costs_a_few_degrees():
    acc, ori = readings()
    ori = np.repeat(ori[:, :1], ori.shape[1], axis=1)  # devices held still: a clock offset costs nothing
    a = wear(acc, ori, WEAR_PROFILES["worn"], np.random.default_rng(5))
    b = wear(acc, ori, WEAR_PROFILES["worn"], np.random.default_rng(5))
    np.testing.assert_array_equal(a[1], b[1])
    assert WEAR_PROFILES["clean"] is None
    assert 5 < angle_deg(ori, a[1]).mean() < 25
