"""Calibration alone, on plain arrays: three devices on their segments at unknown mountings,
each with its own idea of north (a watch 70 deg off); the wearer moves during the count,
stands still in the T-pose, then walks the bundled walk. The procedure counts down, restarts
on the movement, calibrates, and the walk brings every device to the same heading."""

from dataclasses import replace

import numpy as np
import pytest

from ego4o_ros.core import features, imu, rotations
from ego4o_ros.devices.recordings import standard_from_body
from ego4o_ros.live.calibration import Calibration, CalibrationConfig, mean_rotation
from ego4o_ros.live.sensors import ImuSampleBuffer, calibrate_tpose
from ego4o_ros.paths import SAMPLE_CLIP
from ego4o_ros.readers import read_clip

RATE = 100.0
SITES = ("left_wrist", "right_pocket", "head")
WORLD_YAW_DEG = {"left_wrist": 70.0, "right_pocket": 0.0, "head": -15.0}  # each device's north
FACING = np.radians(40.0)  # the wearer faces (and walks) 40 deg off the body world's +Z
STILL_FROM, WIGGLE, WALK_FROM = 0.5, (1.5, 1.8), 6.5


@pytest.fixture(scope="module")
def scenario():
    clip = read_clip(SAMPLE_CLIP, target_fps=30)
    clip = replace(clip, joints=features.retarget_to_template(clip.joints))
    turn = rotations.axis_rotation("Y", FACING)
    walk = imu.apply_world_rotation(imu.resample_imu(imu.synthesize_from_clip(clip), RATE), turn)
    rng = np.random.default_rng(0)
    times = np.arange(0.0, WALK_FROM + 4.0, 1 / RATE)
    seg = np.empty((len(times), len(SITES), 3, 3))
    acc = np.empty((len(times), len(SITES), 3))
    for k, t in enumerate(times):
        for j, site in enumerate(SITES):
            if t < WALK_FROM:  # the T-pose, facing the way of the walk; noise of a real device
                wiggle = site == "left_wrist" and (t < STILL_FROM or WIGGLE[0] <= t < WIGGLE[1])
                seg[k, j] = turn @ rotations.axis_rotation("X", 0.6 * np.sin(12 * t) if wiggle else 0.0)
                acc[k, j] = imu.GRAVITY * np.array([0, 1, 0]) + rng.normal(0, 0.03, 3) + (3.0 if wiggle else 0.0)
            else:
                i = min(int(round((t - WALK_FROM) * RATE)), walk.num_frames - 1)
                seg[k, j] = walk.ori[i, imu.IMU_SITES.index(site)]
                acc[k, j] = walk.acc[i, imu.IMU_SITES.index(site)]
    mounts = {s: rotations.axis_angle_to_matrix(rng.normal(0, 1.2, 3)) for s in SITES}
    worlds = {s: rotations.axis_rotation("Y", np.radians(WORLD_YAW_DEG[s])) for s in SITES}
    raw_ori = np.stack([worlds[s] @ seg[:, j] @ mounts[s].T for j, s in enumerate(SITES)], axis=1)
    raw_acc = np.stack([acc[:, j] @ worlds[s].T for j, s in enumerate(SITES)], axis=1)
    return times, seg, raw_acc, raw_ori


def run(scenario, config, until=None):
    times, _, raw_acc, raw_ori = scenario
    acc_msg, quat_msg = standard_from_body(raw_acc, raw_ori)
    buffers = {s: ImuSampleBuffer() for s in imu.IMU_SITES}
    calibration = Calibration(config)
    lines, k = [], 0
    for now in np.arange(0.0, until or times[-1], 1 / 30):
        while k < len(times) and times[k] <= now:
            for j, site in enumerate(SITES):
                assert buffers[site].push(times[k], acc_msg[k, j], quat_msg[k, j]) is None
            k += 1
        lines += calibration.update(buffers, now)
    return calibration, buffers, lines


def heading_errors(scenario, buffers):
    """Angle (deg) between each calibrated device and its segment turned to face +Z, while walking."""
    times, seg, raw_acc, raw_ori = scenario
    walking = times >= WALK_FROM + 0.5
    truth = rotations.axis_rotation("Y", -FACING) @ seg[walking]
    errors = {}
    for j, site in enumerate(SITES):
        b = buffers[site]
        calibrated = b.heading @ raw_ori[walking, j] @ b.mount
        relative = np.einsum("nji,njk->nik", calibrated, truth[:, j])
        errors[site] = float(np.degrees(np.linalg.norm(rotations.matrix_to_axis_angle(relative), axis=-1)).mean())
    return errors


def test_still_then_walk_calibrates_every_device_to_one_heading(scenario):
    calibration, buffers, lines = run(scenario, CalibrationConfig(still_s=3.0, walk=True, walk_s=3.0))
    text = "\n".join(lines)
    assert lines[0] == "calibration: stand still in the T-pose for 3 s (left_wrist, right_pocket, head)"
    assert "calibration: moving (left_wrist): hold still, 3 s again" in lines
    assert lines.index("calibration: 2...") < lines.index("calibration: 1...")
    assert "calibration: done: left_wrist, right_pocket, head calibrated (still 3.0 s, gravity 9.81 m/s^2)" in lines
    assert "now walk" in text and "heading from 3 s of walking" in text
    assert calibration.finished and calibration.result.ok and calibration.result.heading == "walk"
    # every device's world turned to the walk: all of them agree with their segment
    errors = heading_errors(scenario, buffers)
    assert max(errors.values()) < 12.0, errors
    # the T-pose alone shares one heading: the watch keeps its 70 deg of disagreement
    tpose = {s: ImuSampleBuffer() for s in SITES}
    times, _, raw_acc, raw_ori = scenario
    for j, site in enumerate(SITES):
        tpose[site].push(0.0, *[x[0] for x in standard_from_body(raw_acc[300:301, j], raw_ori[300:301, j])])
    calibrate_tpose(tpose)
    baseline = heading_errors(scenario, tpose)
    assert baseline["left_wrist"] > 30.0 and baseline["left_wrist"] > 3 * errors["left_wrist"]
    level, message, values = calibration.status()
    assert level == "ok" and values["heading"] == "walk"
    assert float(values["gravity_head"]) == pytest.approx(imu.GRAVITY, abs=0.02)


def test_t_pose_only_and_the_status_while_it_runs(scenario):
    calibration, buffers, lines = run(scenario, CalibrationConfig(still_s=2.0), until=1.0)
    assert not calibration.finished and calibration.status()[0] == "warn"
    calibration, buffers, lines = run(scenario, CalibrationConfig(still_s=2.0), until=WALK_FROM)
    assert calibration.finished and calibration.result.heading == "t-pose"
    assert lines[-1].startswith("calibration: done:")
    np.testing.assert_allclose(buffers["head"].heading, buffers["left_wrist"].heading)  # shared


def test_never_still_fails_and_changes_nothing(scenario):
    times, seg, raw_acc, raw_ori = scenario
    shaky = (times, seg, raw_acc + np.sin(40 * times)[:, None, None] * 2.0, raw_ori)
    calibration, buffers, lines = run(shaky, CalibrationConfig(timeout_s=3.0), until=5.0)
    assert calibration.finished and not calibration.result.ok
    assert lines[-1].startswith("calibration: failed: not still for 3 s within 3 s (moving: ")
    assert all(np.array_equal(b.mount, np.eye(3)) for b in buffers.values())


def test_a_sensor_without_gravity_is_named(scenario):
    times, seg, raw_acc, raw_ori = scenario
    no_gravity = raw_acc.copy()
    no_gravity[:, 2] -= imu.GRAVITY * np.array([0, 1, 0])  # head set as gravity-included, but it is not
    calibration, _, lines = run((times, seg, no_gravity, raw_ori), CalibrationConfig(), until=WALK_FROM)
    assert any(line.startswith("calibration: head reads gravity 0.0") for line in lines)
    assert not calibration.result.ok and calibration.status()[0] == "warn"


def test_mean_rotation():
    base = rotations.axis_angle_to_matrix(np.array([0.3, -1.0, 2.0]))
    wobble = rotations.axis_angle_to_matrix(np.array([[0.02, 0, 0], [-0.02, 0, 0]]))
    np.testing.assert_allclose(mean_rotation(base @ wobble), base, atol=1e-6)
