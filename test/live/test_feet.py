"""The contact-aware output stage (``live/feet.py``) on hand-made trajectories, and on the
live capture of the bundled walk through ``Fusion.feet``. Plain arrays, real weights."""

import numpy as np
import pytest

from ego4o_ros.core import body, frames, metrics
from ego4o_ros.live.feet import FootContactConfig, FootContactStage, two_bone_ik

FPS = 30.0
LEGS = ((0, 1), (1, 4), (4, 7), (7, 10), (0, 2), (2, 5), (5, 8), (8, 11))  # (parent, child) bones of the legs


def standing() -> np.ndarray:
    """The SMPL rest pose (22, 3), its lowest foot joint on the floor (y = 0)."""
    rots = np.broadcast_to(np.eye(3), (body.NUM_JOINTS, 3, 3))
    pose, _ = body.forward_kinematics(rots, np.array([0.0, 0.93, 0.0]), body.SMPL_REST_OFFSETS)
    pose[:, 1] -= pose[list(metrics.FOOT_JOINTS), 1].min()
    return pose


def run(stage: FootContactStage, trajectory: np.ndarray) -> np.ndarray:
    return np.stack([stage.step(joints, i) for i, joints in enumerate(trajectory)])


def bone_lengths(trajectory: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(trajectory[:, c] - trajectory[:, p], axis=-1) for p, c in LEGS], -1)


def test_two_bone_ik_reaches_the_target_and_keeps_the_bones():
    pose = standing()
    hip, knee, ankle = pose[1], pose[4] + np.array([0.0, 0.0, 0.05]), pose[7]  # a slightly bent knee
    target = ankle + np.array([0.03, 0.02, 0.04])
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, target)
    np.testing.assert_allclose(new_ankle, target, atol=1e-9)
    assert np.linalg.norm(new_knee - hip) == pytest.approx(np.linalg.norm(knee - hip))
    assert np.linalg.norm(new_ankle - new_knee) == pytest.approx(np.linalg.norm(ankle - knee))
    assert (new_knee - hip)[2] > 0  # bends the way the captured knee did
    far = hip + np.array([0.0, -2.0, 0.0])  # out of reach: the leg straight towards it
    _, reached = two_bone_ik(hip, knee, ankle, far)
    leg = np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee)
    assert np.linalg.norm(reached - hip) == pytest.approx(leg, abs=1e-5)
    np.testing.assert_allclose((reached - hip) / np.linalg.norm(reached - hip), [0.0, -1.0, 0.0], atol=1e-9)


def test_a_body_sliding_over_planted_feet_stops_sliding():
    T = 60
    raw = np.repeat(standing()[None], T, 0)
    raw[..., 2] += 0.01 * np.arange(T)[:, None]  # the whole body drifts 0.3 m/s: feet skate
    noise = np.random.default_rng(0).normal(0.0, 0.002, (T, len(metrics.FOOT_JOINTS), 3))
    raw[:, list(metrics.FOOT_JOINTS)] += noise  # and the feet tremble a little
    contact = metrics.foot_contact(np.repeat(standing()[None], T, 0), FPS)  # the truth stands still
    out = run(FootContactStage(), raw)
    raw_skate, skate = metrics.foot_skate(raw, contact, FPS), metrics.foot_skate(out, contact, FPS)
    assert raw_skate > 250 and skate < 0.2 * raw_skate, (raw_skate, skate)
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(raw), atol=1e-9)  # IK keeps the legs
    assert metrics.floor_penetration(out)["depth_mm"] == 0.0


def test_floating_is_lowered_and_sinking_lifted_within_bounds():
    config = FootContactConfig()
    T = 40
    floating = np.repeat(standing()[None], T, 0) + np.array([0.0, 0.05, 0.0])
    out = run(FootContactStage(config), floating)
    lowest = metrics.lowest_foot_height(out)
    assert lowest[0] > 0.03 and abs(lowest[-1]) < 1e-3  # brought down to the floor, gradually
    assert np.abs(np.diff(out[:, 0, 1])).max() <= config.max_lift_step + 1e-12
    sunk = np.repeat(standing()[None], T, 0) - np.array([0.0, 0.015, 0.0])
    out = run(FootContactStage(config), sunk)
    assert metrics.lowest_foot_height(out).min() == pytest.approx(0.0, abs=1e-9)  # out of the floor at once


def test_a_jump_is_not_pulled_down():
    T = 30
    jump = np.repeat(standing()[None], T, 0)
    jump[10:, :, 1] += np.minimum(0.1 * np.arange(1, T - 9), 0.5)[:, None]  # up at 3 m/s, held 0.5 m up
    stage = FootContactStage()
    out = run(stage, jump)
    assert metrics.lowest_foot_height(out)[14:20].min() > 0.35  # in the air while rising
    assert stage.contact.max() == 0  # feet hovering still at 0.5 m are not in contact ...
    assert metrics.lowest_foot_height(out)[-1] > 0.45  # ... and stay in the air
    assert np.abs(np.diff(out[:, 0, 1] - jump[:, 0, 1])).max() <= FootContactConfig().max_lift_step + 1e-12


def test_corrections_are_bounded_per_frame_and_a_new_stream_starts_afresh():
    config = FootContactConfig()
    rng = np.random.default_rng(1)
    T = 90
    raw = np.repeat(standing()[None], T, 0) + rng.normal(0.0, 0.01, (T, body.NUM_JOINTS, 3))
    raw[..., 2] += 0.02 * np.arange(T)[:, None]  # 0.6 m/s forward with noisy limbs
    stage = FootContactStage(config)
    out = run(stage, raw)
    shift = out[:, 0] - raw[:, 0]  # the root is only ever moved with the whole body
    step = np.diff(shift, axis=0)
    assert np.linalg.norm(step[:, [0, 2]], axis=-1).max() <= config.max_shift_step + 1e-12
    assert np.abs(step[:, 1]).max() <= config.max_lift_step + 1e-12
    assert np.all(np.isfinite(out))
    # Frame indices that do not follow on: a new stream, as if the stage were new.
    again = np.stack([stage.step(joints, 100 + i) for i, joints in enumerate(raw[:20])])
    np.testing.assert_allclose(again, run(FootContactStage(config), raw[:20]))
    broken = raw[0].copy()
    broken[3, 1] = np.nan
    assert np.isnan(stage.step(broken, 20)[3, 1])  # passed through, never spread into the state
    np.testing.assert_allclose(stage.step(raw[0], 21), FootContactStage(config).step(raw[0]))


def test_settings_are_checked():
    with pytest.raises(ValueError):
        FootContactConfig(lock_on=0.2, lock_off=0.5)
    with pytest.raises(ValueError):
        FootContactConfig(contact_height=((0.1, 0.2),))
    with pytest.raises(ValueError):
        FootContactStage().step(np.zeros((21, 3)))


def test_fusion_grounds_the_feet_of_the_live_walk():
    """The bundled walk replayed into the fusion loop twice: as captured (``Fusion.feet`` set to
    None), and through ``Fusion.feet`` (the default); every grounded frame, whichever loop made
    it, is the stage's output of the captured ones, and they skate less against the replayed
    ground truth's contacts."""
    from ego4o_ros.live.capture import load_live_capture
    from ego4o_ros.live.fusion import CameraInput, Fusion
    from ego4o_ros.live.replay import WearableReplay
    from ego4o_ros.live.scoring import match_by_stamp
    from ego4o_ros.paths import SAMPLE_CLIP
    from ego4o_ros.readers.bandai import read_bandai

    replay = WearableReplay(read_bandai(SAMPLE_CLIP, target_fps=30))
    outputs = []
    for grounded in (False, True):
        capture, card = load_live_capture(lookahead=2)
        fusion = Fusion(capture, CameraInput(None), None)
        assert fusion.feet is not None and fusion.feet.config.fps == card.fps  # on by default
        if not grounded:
            fusion.feet = None
        frames_out, t, tick = [], 0.0, 0
        while t < replay.duration:
            for s in replay.imu_samples(t, t + 0.02):
                fusion.push_imu(s.site, s.stamp, s.acc, s.quat_xyzw)
            # As the node asks: the capture loop on IMU messages, the fusion loop on its timer.
            frames_out += fusion.capture.advance() if tick % 3 else fusion.advance(t + 0.02)[0]
            t, tick = t + 0.02, tick + 1
        outputs.append(frames_out)
    captured, grounded = outputs
    assert len(captured) == len(grounded) > 200
    assert [f.stamp for f in captured] == [f.stamp for f in grounded]
    raw = np.stack([f.joints for f in captured])
    np.testing.assert_allclose(np.stack([f.joints for f in grounded]), run(FootContactStage(), raw))
    truth = dict(zip(replay.truth_times, replay.truth_joints @ frames.ROS_FROM_BODY))  # ROS -> body frame
    pairs = [match_by_stamp({f.stamp: f.joints for f in out}, truth, 0.5 / 30) for out in outputs]
    assert len(pairs[0][0]) == len(pairs[1][0]) > 200
    contact = metrics.foot_contact(pairs[0][1], FPS, floor=pairs[0][1][..., 1].min())
    skate = [metrics.foot_skate(predicted, contact, FPS) for predicted, _ in pairs]
    assert skate[1] < 0.7 * skate[0], skate
