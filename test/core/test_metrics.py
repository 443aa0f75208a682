"""Motion-capture metrics against hand-computed values."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ego4o_ros.core import body, metrics

J = body.NUM_JOINTS


def rest_pose() -> np.ndarray:
    """The SMPL T-pose (22, 3), pelvis 0.93 m up: a real, non-planar skeleton."""
    rots = np.broadcast_to(np.eye(3), (J, 3, 3))
    pos, _ = body.forward_kinematics(rots, np.array([0.0, 0.93, 0.0]), body.SMPL_REST_OFFSETS)
    return pos


def moving_sequence(T=40, seed=0) -> np.ndarray:
    """(T, 22, 3): the rest pose wiggled per joint and walked along +Z."""
    rng = np.random.default_rng(seed)
    seq = rest_pose()[None] + 0.03 * rng.standard_normal((T, J, 3))
    seq[:, :, 2] += np.linspace(0.0, 1.5, T)[:, None]
    return seq


def test_identical_inputs_give_zero():
    gt = moving_sequence()
    res = metrics.evaluate_sequence(gt, gt, fps=30.0)
    for key, value in res.items():
        if key.startswith("jitter"):
            continue
        assert value == pytest.approx(0.0, abs=1e-6), key
    assert res["jitter_pred_kms3"] == res["jitter_gt_kms3"] > 0
    np.testing.assert_allclose(metrics.mpjpe(gt, gt, per_frame=True), np.zeros(len(gt)))


def test_pure_translation_is_no_mpjpe_but_root_drift():
    gt = moving_sequence(T=21)
    c = np.array([0.3, 1.0, 0.4])  # |c| = sqrt(1.25); horizontal (x, z) = 0.5
    frac = np.linspace(0.0, 1.0, len(gt))  # translation grows 0 -> c
    pred = gt + frac[:, None, None] * c
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    drift = metrics.root_drift(pred, gt)
    assert drift["final_m"] == pytest.approx(np.sqrt(1.25))
    assert drift["mean_m"] == pytest.approx(np.sqrt(1.25) / 2)  # mean of frac = 1/2
    drift_h = metrics.root_drift(pred, gt, horizontal=True)
    assert drift_h["final_m"] == pytest.approx(0.5)
    assert drift_h["mean_m"] == pytest.approx(0.25)
    # per-part "root" reports the global root error: mean |frac c| in mm
    parts = metrics.per_part_mpjpe(pred, gt)
    assert parts["root"] == pytest.approx(1000 * np.sqrt(1.25) / 2)
    assert all(parts[k] == pytest.approx(0.0, abs=1e-9) for k in parts if k != "root")


def test_constant_offset_is_no_drift_but_root_error():
    gt = moving_sequence()
    pred = gt + np.array([0.0, 0.0, 0.05])
    assert metrics.root_drift(pred, gt) == pytest.approx({"final_m": 0.0, "mean_m": 0.0})
    assert metrics.per_part_mpjpe(pred, gt)["root"] == pytest.approx(50.0)


def test_similarity_transform_two_joint_config_hand_computed():
    """gt: every joint at the pelvis (origin) except joint 1 = (d, 0, 0) and joint 2 =
    (0, d, 0), d = 0.11 m. pred = 2 * Rz(90 deg) gt + t_frame. Joint 1 goes to (0, 2d, 0)
    (error |(-d, 2d, 0)| = sqrt(5) d), joint 2 to (-2d, 0, 0) (error sqrt(5) d), the
    other 20 stay at the pelvis (error 0): MPJPE = 2 sqrt(5) d / 22 = 10 sqrt(5) mm."""
    d, T = 0.11, 3
    gt = np.zeros((T, J, 3))
    gt[:, 1] = [d, 0, 0]
    gt[:, 2] = [0, d, 0]
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    shifts = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [-3.0, 0.2, 4.0]])
    pred = 2.0 * gt @ rz90.T + shifts[:, None, :]
    assert metrics.mpjpe(pred, gt) == pytest.approx(10 * np.sqrt(5))
    np.testing.assert_allclose(metrics.mpjpe(pred, gt, per_frame=True), [10 * np.sqrt(5)] * T)
    assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)


def test_similarity_transform_recovered_on_real_skeleton():
    gt = moving_sequence(T=10)
    rots = Rotation.random(len(gt), random_state=1).as_matrix()  # one per frame
    scales = np.linspace(0.5, 1.8, len(gt))
    shifts = np.random.default_rng(2).standard_normal((len(gt), 3))
    pred = scales[:, None, None] * np.einsum("tik,tjk->tji", rots, gt) + shifts[:, None]
    assert metrics.mpjpe(pred, gt) > 50.0
    assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    # pred -> gt is the inverse transform: 1/s, R^T
    _, s, r, _ = metrics.procrustes_align(pred, gt, return_transform=True)
    np.testing.assert_allclose(s, 1 / scales, rtol=1e-9)
    np.testing.assert_allclose(r, rots.transpose(0, 2, 1), atol=1e-9)


def test_one_joint_offset_22mm_gives_1mm():
    gt = moving_sequence()
    pred = gt.copy()
    pred[:, 15] += [0.0, 0.022, 0.0]  # head up 22 mm
    assert metrics.mpjpe(pred, gt) == pytest.approx(1.0)
    # moving the pelvis instead moves the other 21 joints in the pelvis frame
    pred = gt.copy()
    pred[:, 0] += [0.022, 0.0, 0.0]
    assert metrics.mpjpe(pred, gt) == pytest.approx(21.0)


def test_jitter_of_cubic_is_6a():
    """x(t) = a t^3: the third difference at step h is exactly 6 a h^3, so
    |diff3| * fps^3 = 6a m/s^3 = 6a / 1000 km/s^3 for every moving joint."""
    a, fps, T = 2.0, 30.0, 25
    t = np.arange(T) / fps
    joints = np.broadcast_to(rest_pose(), (T, J, 3)).copy()
    joints[:, :, 0] += a * t[:, None] ** 3
    assert metrics.jitter(joints, fps) == pytest.approx(6 * a / 1000)
    # only the 4 left-arm joints move: mean over 22 joints = 6a * 4/22
    joints = np.broadcast_to(rest_pose(), (T, J, 3)).copy()
    arm = list(body.BODY_PARTS["left_arm"])
    joints[:, arm, 1] += a * t[:, None] ** 3
    assert metrics.jitter(joints, fps) == pytest.approx(6 * a * 4 / 22 / 1000)
    assert metrics.jitter(np.broadcast_to(rest_pose(), (T, J, 3)), fps) == 0.0


def test_jitter_scales_with_fps_cubed():
    a, b = 1.5, -0.7  # x = a t^3 + b t^2: x''' = 6a
    for fps in (30.0, 120.0):
        t = np.arange(int(fps)) / fps
        joints = np.broadcast_to(rest_pose(), (len(t), J, 3)).copy()
        joints[:, :, 2] += (a * t**3 + b * t**2)[:, None]
        assert metrics.jitter(joints, fps) == pytest.approx(6 * a / 1000)
        # the same frames claimed to be at twice the rate: 8x the jerk
        assert metrics.jitter(joints, 2 * fps) == pytest.approx(8 * 6 * a / 1000)
    # a sine over whole periods: mean |x'''| = A w^3 * 2/pi, at either rate
    amp, w = 0.1, 2 * np.pi
    for fps in (120.0, 240.0):
        t = np.arange(int(2 * fps) + 3) / fps
        joints = np.broadcast_to(rest_pose(), (len(t), J, 3)).copy()
        joints[:, :, 0] += amp * np.sin(w * t)[:, None]
        assert metrics.jitter(joints, fps) == pytest.approx(amp * w**3 * 2 / np.pi / 1000, rel=5e-3)


def _handedness(x):
    """Sign of the signed volume of joints 0, 1, 3, 15 (flips under a mirror)."""
    return np.sign(np.linalg.det(np.stack([x[1] - x[0], x[3] - x[0], x[15] - x[0]])))


def test_procrustes_mirror_is_not_returned():
    gt = rest_pose()[None]
    mirror = np.diag([-1.0, 1.0, 1.0])
    pred = gt @ mirror.T  # mirrored skeleton (non-planar)
    aligned, s, r, _ = metrics.procrustes_align(pred, gt, return_transform=True)
    assert np.linalg.det(r[0]) == pytest.approx(1.0)
    assert s[0] > 0
    assert _handedness(aligned[0]) == _handedness(pred[0]) == -_handedness(gt[0])
    err = metrics.pa_mpjpe(pred, gt)
    assert err > 5.0  # a reflection would give 0
    # optimal among proper rotations: no random rotation (with its best scale and
    # translation) does better
    p = pred[0] - pred[0].mean(0)
    g = gt[0] - gt[0].mean(0)
    for rot in Rotation.random(300, random_state=3).as_matrix():
        q = p @ rot.T
        sc = max((q * g).sum() / (q * q).sum(), 0.0)
        assert np.linalg.norm(sc * q - g, axis=-1).mean() * 1000 >= err - 1e-9


def test_procrustes_planar_mirror_is_a_proper_rotation():
    """Coplanar joints (z = 0): mirroring x is the same as rotating 180 deg about y,
    so the proper solution is exact even though the SVD's determinant is negative."""
    gt = rest_pose()[None].copy()
    gt[..., 2] = 0.0
    pred = gt * np.array([-1.0, 1.0, 1.0])
    _, _, r, _ = metrics.procrustes_align(pred, gt, return_transform=True)
    assert np.linalg.det(r[0]) == pytest.approx(1.0)
    assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)


def test_per_part_left_arm_offset():
    gt = moving_sequence()
    pred = gt.copy()
    pred[:, list(body.BODY_PARTS["left_arm"])] += [0.0, -0.03, 0.04]  # 50 mm
    parts = metrics.per_part_mpjpe(pred, gt)
    assert set(parts) == set(body.BODY_PARTS)
    assert parts["left_arm"] == pytest.approx(50.0)
    for name, value in parts.items():
        if name != "left_arm":
            assert value == pytest.approx(0.0, abs=1e-9), name
    assert metrics.mpjpe(pred, gt) == pytest.approx(50.0 * 4 / 22)


def test_batch_and_per_frame():
    gt = np.stack([moving_sequence(seed=s) for s in range(3)])  # (3, T, 22, 3)
    pred = np.stack([moving_sequence(seed=s + 10) for s in range(3)])
    per_seq = [metrics.mpjpe(p, g) for p, g in zip(pred, gt)]
    assert metrics.mpjpe(pred, gt) == pytest.approx(np.mean(per_seq))
    assert metrics.mpjpe(pred, gt, per_frame=True).shape == gt.shape[:2]
    pa_frames = metrics.pa_mpjpe(pred, gt, per_frame=True)
    assert pa_frames.shape == gt.shape[:2]
    # vectorised alignment equals aligning each frame alone
    assert pa_frames[1, 7] == pytest.approx(metrics.pa_mpjpe(pred[1, 7:8], gt[1, 7:8]))
    assert np.all(pa_frames <= metrics.mpjpe(pred, gt, per_frame=True) + 1e-9)


def test_evaluate_sequence_keys():
    gt = moving_sequence()
    res = metrics.evaluate_sequence(gt + 0.01, gt, fps=30.0)
    expected = {
        "mpjpe_mm",
        "pa_mpjpe_mm",
        "jitter_pred_kms3",
        "jitter_gt_kms3",
        "root_drift_final_m",
        "root_drift_mean_m",
        "root_drift_h_final_m",
        "root_drift_h_mean_m",
    } | {f"part_mpjpe_mm/{k}" for k in body.BODY_PARTS}
    assert set(res) == expected
    assert all(isinstance(v, float) for v in res.values())
    assert res["part_mpjpe_mm/root"] == pytest.approx(1000 * 0.01 * np.sqrt(3))


def test_validation_errors():
    gt = moving_sequence(T=5)
    with pytest.raises(ValueError, match="differ"):
        metrics.mpjpe(gt, gt[:4])
    with pytest.raises(ValueError, match="22"):
        metrics.mpjpe(gt[:, :21], gt[:, :21])
    with pytest.raises(ValueError, match="22"):
        metrics.mpjpe(gt[0], gt[0])  # no time axis
    bad = gt.copy()
    bad[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.pa_mpjpe(bad, gt)
    with pytest.raises(ValueError, match="4 frames"):
        metrics.jitter(gt[:3], 30.0)
    with pytest.raises(ValueError, match="fps"):
        metrics.jitter(gt, 0.0)


# ---------------------------------------------------------------- feet
def standing(T=30) -> np.ndarray:
    """(T, 22, 3) the rest pose standing still, its lowest foot joint on the floor (y = 0)."""
    pose = rest_pose()
    pose[:, 1] -= pose[list(metrics.FOOT_JOINTS), 1].min()
    return np.repeat(pose[None], T, 0)


def test_standing_still_is_all_contact_and_no_skate_penetration_or_floating():
    gt = standing()
    contact = metrics.foot_contact(gt, fps=30.0)
    assert contact.shape == (len(gt), 4) and contact.all()
    res = metrics.foot_metrics(gt, gt, fps=30.0)
    assert res["skate_mm_s"] == res["gt_skate_mm_s"] == 0.0
    assert res["penetration_mm"] == res["penetration_frac"] == 0.0
    assert res["floating_mm"] == pytest.approx(0.0, abs=1e-9)


def test_sliding_over_planted_feet_is_skate_at_its_speed():
    gt = standing()
    pred = gt.copy()
    pred[..., 0] += 0.01 * np.arange(len(gt))[:, None]  # 10 mm per frame along x ...
    pred[..., 1] += 0.002 * np.sin(np.arange(len(gt)))[:, None]  # ... and a vertical wobble
    pred[..., 1] -= pred[..., 1].min() - gt[..., 1].min()  # never under the floor
    res = metrics.foot_metrics(pred, gt, fps=30.0)
    assert res["skate_mm_s"] == pytest.approx(300.0)  # horizontal only: 10 mm * 30 Hz
    assert res["gt_skate_mm_s"] == 0.0
    per_frame = metrics.foot_skate(pred, metrics.foot_contact(gt, 30.0), 30.0, per_frame=True)
    assert per_frame.shape == (len(gt) - 1, 4)
    np.testing.assert_allclose(per_frame, 300.0)


def test_contact_needs_slow_and_low_feet():
    gt = standing(T=20)
    left = list(body.FOOT_JOINTS_LEFT)
    gt[:, left, 1] += 0.2  # the left foot held up
    gt[10:, body.FOOT_JOINTS_RIGHT[1], 2] += 0.05 * np.arange(10)  # right toe: 1.5 m/s from frame 10 on
    contact = metrics.foot_contact(gt, fps=30.0)
    assert not contact[:, [0, 1]].any()  # FOOT_JOINTS order: L ankle, L toe, R ankle, R toe
    assert contact[:, 2].all()
    assert contact[:9, 3].all() and not contact[10:, 3].any()
    slow = standing(T=20)
    slow[:, list(metrics.FOOT_JOINTS), 2] += 0.02 * np.arange(20)[:, None]  # 0.6 m/s: below 0.894
    assert metrics.foot_contact(slow, fps=30.0).all()
    assert not metrics.foot_contact(slow, fps=60.0).any()  # the same steps at 60 Hz: 1.2 m/s


def test_penetration_and_floating_against_the_floor():
    gt = standing(T=20)
    sunk = gt.copy()
    sunk[10:, :, 1] -= 0.01  # half the frames 10 mm under the floor
    pen = metrics.floor_penetration(sunk)
    assert pen["depth_mm"] == pytest.approx(5.0)
    assert pen["frac"] == pytest.approx(0.5)
    shallow = gt.copy()
    shallow[..., 1] -= 0.004  # within the tolerance: depth counts, the frame does not
    assert metrics.floor_penetration(shallow) == pytest.approx({"depth_mm": 4.0, "frac": 0.0})
    floating = gt + np.array([0.0, 0.03, 0.0])
    contact = metrics.foot_contact(gt, fps=30.0)
    assert metrics.floating(floating, contact) == pytest.approx(30.0)
    assert metrics.floating(sunk, contact) == pytest.approx(0.0)  # below the floor is no floating
    # A raised floor: the same feet are now 10 mm under it.
    assert metrics.floor_penetration(gt, floor=0.01)["depth_mm"] == pytest.approx(10.0)
    # Floating only counts where the ground truth is in contact.
    lifted = gt.copy()
    lifted[:, :, 1] += np.where(np.arange(20) < 10, 0.0, 0.5)[:, None]  # the truth jumps half-way
    contact = metrics.foot_contact(lifted, fps=30.0)
    assert contact[:9].all() and not contact[10:].any()
    assert metrics.floating(floating, contact) == pytest.approx(30.0)
    assert np.isnan(metrics.floating(floating, np.zeros_like(contact)))


def test_foot_metrics_reject_bad_input():
    gt = standing(T=5)
    with pytest.raises(ValueError):
        metrics.foot_contact(gt[:1], fps=30.0)
    with pytest.raises(ValueError):
        metrics.foot_skate(gt, np.ones((5, 3), bool), fps=30.0)
    with pytest.raises(ValueError):
        metrics.foot_contact(gt, fps=0.0)
