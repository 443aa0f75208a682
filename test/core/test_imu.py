"""Physics of the synthesised IMU readings (ego4o_ros.core.imu)."""

import numpy as np
import pytest

from ego4o_ros.core import body, rotations
from ego4o_ros.core.clip import MotionClip
from ego4o_ros.core.imu import (
    GRAVITY,
    IMU_SITES,
    ImuReadings,
    ImuSynthesisConfig,
    apply_world_rotation,
    model_inputs,
    resample_imu,
    site_positions,
    smoothing_span,
    synthesize_from_clip,
    synthesize_imu,
)

UP_G = np.array([0.0, GRAVITY, 0.0])
REMOVED = ImuSynthesisConfig(gravity="removed")


def rest_body(T=10):
    """SMPL T-pose, standing still: joints (T, 22, 3), identity global rotations."""
    local = np.broadcast_to(np.eye(3), (T, 22, 3, 3))
    joints, glob = body.forward_kinematics(local, np.tile([0.0, 0.93, 0.0], (T, 1)), body.SMPL_REST_OFFSETS)
    return joints, glob


def posed_body(T=40, seed=0):
    """A random, moving pose (smooth local rotations, a moving root)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None] / 60.0
    aa = 0.4 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6, (1, 22, 3)))
    root = np.stack([0.3 * np.sin(t[:, 0, 0]), 0.9 + 0.05 * t[:, 0, 0], 0.5 * t[:, 0, 0]], -1)
    return body.forward_kinematics(rotations.axis_angle_to_matrix(aa), root, body.SMPL_REST_OFFSETS)


def test_sites_order_and_positions():
    assert IMU_SITES == ("left_wrist", "right_wrist", "left_pocket", "right_pocket", "head")
    joints, _ = posed_body(5)
    pos = site_positions(joints)
    np.testing.assert_allclose(pos[:, 0], joints[:, 20])
    np.testing.assert_allclose(pos[:, 1], joints[:, 21])
    np.testing.assert_allclose(pos[:, 2], 0.6 * joints[:, 1] + 0.4 * joints[:, 4])
    np.testing.assert_allclose(pos[:, 3], 0.6 * joints[:, 2] + 0.4 * joints[:, 5])
    np.testing.assert_allclose(pos[:, 4], joints[:, 15])


@pytest.mark.parametrize("use_rotations", [True, False])
def test_rest_reads_gravity_up_and_identity(use_rotations):
    joints, glob = rest_body()
    if not use_rotations:  # position-only: segments exactly along their rest directions
        joints = joints.copy()
        for a, b, d in (
            (18, 20, [1, 0, 0]),
            (19, 21, [-1, 0, 0]),
            (1, 4, [0, -1, 0]),
            (2, 5, [0, -1, 0]),
            (12, 15, [0, 1, 0]),
        ):
            joints[:, b] = joints[:, a] + 0.3 * np.array(d, float)
    r = synthesize_imu(joints, glob if use_rotations else None, 60.0)
    assert r.acc.shape == (10, 5, 3) and r.ori.shape == (10, 5, 3, 3)
    assert r.mask.all() and r.sites == IMU_SITES and r.fps == 60.0
    np.testing.assert_array_equal(r.acc, np.broadcast_to(UP_G, r.acc.shape))
    np.testing.assert_allclose(r.ori, np.broadcast_to(np.eye(3), r.ori.shape), atol=1e-12)
    removed = synthesize_imu(joints, glob if use_rotations else None, 60.0, REMOVED)
    np.testing.assert_array_equal(removed.acc, 0.0)


def test_whole_body_rotation_about_up():
    R = rotations.axis_rotation("Y", np.pi / 2)
    joints, glob = rest_body()
    r = synthesize_imu(joints @ R.T, R @ glob, 60.0)
    np.testing.assert_allclose(r.ori, np.broadcast_to(R, r.ori.shape), atol=1e-12)
    # A moving, posed body: rotating the world rotates every reading.
    joints, glob = posed_body()
    base = synthesize_imu(joints, glob, 60.0, REMOVED)
    turned = synthesize_imu(joints @ R.T, R @ glob, 60.0, REMOVED)
    expect = apply_world_rotation(base, R)
    np.testing.assert_allclose(turned.ori, expect.ori, atol=1e-12)
    np.testing.assert_allclose(turned.acc, expect.acc, atol=1e-9)
    np.testing.assert_allclose(turned.ori, R @ glob[:, [18, 19, 1, 2, 15]], atol=1e-12)
    assert not np.allclose(turned.acc, base.acc)


def test_position_only_forearm_forward_is_swing_to_plus_z():
    joints, _ = rest_body(3)
    joints = joints.copy()
    joints[:, 20] = joints[:, 18] + np.array([0.0, 0.0, 0.26])  # left forearm points forward
    ori = synthesize_imu(joints, None, 60.0).ori[:, 0]
    np.testing.assert_allclose(ori @ [1.0, 0, 0], np.tile([0, 0, 1.0], (3, 1)), atol=1e-12)
    np.testing.assert_allclose(ori @ [0, 1.0, 0], np.tile([0, 1.0, 0], (3, 1)), atol=1e-12)  # no twist


@pytest.mark.parametrize("fps", [60.0, 30.0])
def test_constant_acceleration_recovered(fps):
    T = 50
    joints, glob = rest_body(T)
    p0, v, a = np.array([0.1, 0.0, -0.2]), np.array([0.5, 1.0, -0.3]), np.array([1.5, -2.0, 0.7])
    t = np.arange(T)[:, None] / fps
    moved = joints + (p0 + v * t + 0.5 * a * t**2)[:, None, :]
    n = smoothing_span(fps)
    inner = slice(n, T - n)
    removed = synthesize_imu(moved, glob, fps, REMOVED).acc
    np.testing.assert_allclose(removed[inner], np.broadcast_to(a, removed[inner].shape), atol=1e-6)
    np.testing.assert_allclose(removed, np.broadcast_to(a, removed.shape), atol=1e-6)  # edge padding
    included = synthesize_imu(moved, glob, fps).acc
    np.testing.assert_allclose(included[inner], np.broadcast_to(a + UP_G, removed[inner].shape), atol=1e-6)


def test_smoothing_span_scales_with_rate_and_tracks_sinusoid():
    assert (smoothing_span(60), smoothing_span(30), smoothing_span(120), smoothing_span(10)) == (4, 2, 8, 1)
    fps, T, w = 120.0, 400, 2 * np.pi * 0.5
    t = np.arange(T) / fps
    joints, glob = rest_body(T)
    moved = joints + (0.2 * np.sin(w * t))[:, None, None] * np.array([1.0, 0, 0])
    acc = synthesize_imu(moved, glob, fps, REMOVED).acc[20:-20, 0, 0]
    np.testing.assert_allclose(acc, -0.2 * w**2 * np.sin(w * t[20:-20]), atol=0.01 * 0.2 * w**2)


def test_acc_noise_and_bias_statistics():
    joints, glob = rest_body(20000)
    clean = synthesize_imu(joints, glob, 60.0)
    noisy = synthesize_imu(joints, glob, 60.0, ImuSynthesisConfig(acc_noise_std=0.5), rng=1)
    d = noisy.acc - clean.acc
    assert abs(d.std() - 0.5) < 0.01 and abs(d.mean()) < 0.01
    np.testing.assert_array_equal(noisy.ori, clean.ori)
    biases = []
    for seed in range(300):
        r = synthesize_imu(joints[:5], glob[:5], 60.0, ImuSynthesisConfig(acc_bias_std=0.2), rng=seed)
        b = r.acc - UP_G
        np.testing.assert_allclose(b, np.broadcast_to(b[0], b.shape), atol=1e-12)  # constant in time
        biases.append(b[0])
    biases = np.array(biases)
    assert abs(biases.std() - 0.2) < 0.02 and abs(biases.mean()) < 0.02
    # The bias lives in the sensor frame: a tilted body sees it rotated with the sensor.
    R = rotations.axis_rotation("X", 0.7)
    cfg = ImuSynthesisConfig(acc_bias_std=0.2)
    upright = synthesize_imu(joints[:5], glob[:5], 60.0, cfg, rng=4).acc - UP_G
    tilted = synthesize_imu(joints[:5] @ R.T, R @ glob[:5], 60.0, cfg, rng=4).acc - UP_G
    np.testing.assert_allclose(tilted, upright @ R.T, atol=1e-12)


def test_orientation_noise_statistics_and_consistency():
    joints, glob = posed_body(5000)
    clean = synthesize_imu(joints, glob, 60.0)
    r = synthesize_imu(joints, glob, 60.0, ImuSynthesisConfig(ori_noise_std_deg=2.0), rng=3)
    err = rotations.matrix_to_axis_angle(r.ori @ np.swapaxes(clean.ori, -1, -2))
    assert abs(np.rad2deg(err.std()) - 2.0) < 0.05 and abs(np.rad2deg(err.mean())) < 0.05
    # The device rotates its sensor-frame reading with its own estimate: R^T a is unchanged.
    local = lambda x: np.einsum("tsji,tsj->tsi", x.ori, x.acc)
    np.testing.assert_allclose(local(r), local(clean), atol=1e-9)


def test_yaw_drift_grows_linearly():
    joints, glob = rest_body(601)
    r = synthesize_imu(joints, glob, 60.0, ImuSynthesisConfig(yaw_drift_std_deg_per_s=1.0), rng=5)
    err = rotations.matrix_to_axis_angle(r.ori)  # clean orientation is identity
    np.testing.assert_allclose(err[..., [0, 2]], 0.0, atol=1e-12)
    rate = err[-1, :, 1] / 10.0
    np.testing.assert_allclose(err[..., 1], np.arange(601)[:, None] / 60.0 * rate, atol=1e-12)
    assert np.all(np.abs(rate) > 0)
    np.testing.assert_allclose(np.linalg.norm(r.acc, axis=-1), GRAVITY)  # gravity along the drifted up
    np.testing.assert_allclose(r.acc[..., 1], GRAVITY)  # yaw keeps up as up


def test_noise_reproducible_for_a_seed():
    joints, glob = posed_body(100)
    cfg = ImuSynthesisConfig(acc_noise_std=0.3, acc_bias_std=0.1, ori_noise_std_deg=1.0, yaw_drift_std_deg_per_s=0.5)
    a = synthesize_imu(joints, glob, 60.0, cfg, rng=np.random.default_rng(7))
    b = synthesize_imu(joints, glob, 60.0, cfg, rng=np.random.default_rng(7))
    c = synthesize_imu(joints, glob, 60.0, cfg, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a.acc, b.acc)
    np.testing.assert_array_equal(a.ori, b.ori)
    assert not np.allclose(a.acc, c.acc)
    clean = synthesize_imu(joints, glob, 60.0)
    np.testing.assert_array_equal(synthesize_imu(joints, glob, 60.0, rng=1).acc, clean.acc)


def test_resample_to_100hz():
    joints, glob = rest_body(61)  # one second at 60 fps
    r = resample_imu(synthesize_imu(joints, glob, 60.0), 100.0)
    assert r.num_frames == 101 and r.fps == 100.0
    np.testing.assert_allclose(r.acc, np.broadcast_to(UP_G, r.acc.shape), atol=1e-12)
    np.testing.assert_allclose(r.ori, np.broadcast_to(np.eye(3), r.ori.shape), atol=1e-12)
    via_cfg = synthesize_imu(joints, glob, 60.0, ImuSynthesisConfig(sensor_rate=100.0))
    np.testing.assert_allclose(via_cfg.acc, r.acc)
    # A steady turn about +Y: slerp halfway between two frames gives the half angle.
    R = rotations.axis_rotation("Y", np.linspace(0, 1.0, 61))[:, None]
    turning = ImuReadings(acc=np.zeros((61, 5, 3)), ori=np.broadcast_to(R, (61, 5, 3, 3)), fps=60.0)
    r = resample_imu(turning, 120.0)
    assert r.num_frames == 121
    np.testing.assert_allclose(
        r.ori[1], np.broadcast_to(rotations.axis_rotation("Y", 0.5 / 60.0), (5, 3, 3)), atol=1e-12
    )


def test_model_inputs_and_mask():
    joints, glob = posed_body(12)
    r = synthesize_from_clip(MotionClip("c", 60.0, joints, glob))
    x = model_inputs(r)
    assert x.shape == (12, 5, 9)
    np.testing.assert_allclose(x[..., :3], r.acc / 30.0)
    np.testing.assert_allclose(x[..., 3:], rotations.matrix_to_cont6d(r.ori))
    r.mask = np.array([True, False, True, True, False])
    x = model_inputs(r)
    assert np.all(x[:, [1, 4]] == 0) and np.all(np.abs(x[:, [0, 2, 3]]).sum(-1) > 0)


def test_bad_gravity_mode():
    with pytest.raises(ValueError):
        ImuSynthesisConfig(gravity="subtracted")
