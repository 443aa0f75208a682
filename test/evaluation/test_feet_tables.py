"""The evaluation's feet: scores of hand-made streams (``scoring.score_online``), their sums
over clips (``tables.summarise``), the printed table, and an online stream through the live
output stage (``scoring.through_stage``). Plain arrays."""

import numpy as np
import pytest

from ego4o_ros.core import body, metrics, rotations
from ego4o_ros.evaluation.clips import EvalClip
from ego4o_ros.evaluation.scoring import score_online, through_stage
from ego4o_ros.evaluation.tables import format_feet, format_table, summarise
from ego4o_ros.live.feet import FootContactStage

FPS = 30.0


def standing(T: int) -> np.ndarray:
    rots = np.broadcast_to(np.eye(3), (body.NUM_JOINTS, 3, 3))
    pose, _ = body.forward_kinematics(rots, np.array([0.0, 0.93, 0.0]), body.SMPL_REST_OFFSETS)
    pose[:, 1] -= pose[list(metrics.FOOT_JOINTS), 1].min()
    return np.repeat(pose[None], T, 0)


def clip_of(joints: np.ndarray) -> EvalClip:
    T = len(joints)
    return EvalClip("still", joints, np.zeros((T, 5, 3)), np.zeros((T, 5, 3, 3)), T, "", ("all",))


def test_online_feet_are_scored_against_the_truths_contacts_and_summed_over_clips():
    # Clip A: the truth stands still, the stream slides 5 mm per frame and sinks 10 mm.
    truth = standing(31)
    sliding = truth.copy()
    sliding[..., 2] += 0.005 * np.arange(31)[:, None]
    sliding[..., 1] -= 0.01
    scores_a = score_online(truth[:30], sliding[:30], truth[:30], clip_of(truth), FPS)  # 30 frames kept
    feet = scores_a["feet"]
    assert feet["frames"] == 30 and feet["contact_frames"] == 30 and feet["contact_steps"] == 29 * 4
    assert feet["skate_mm_s"] == pytest.approx(150.0 * 29 * 4)  # a sum: 5 mm * 30 Hz per contact step
    assert feet["gt_skate_mm_s"] == 0.0
    assert feet["penetration_mm"] == pytest.approx(10.0 * 30) and feet["penetrating_frames"] == 30
    assert feet["floating_mm"] == 0.0
    # Clip B: the stream floats 20 mm over a truth that stands still, twice as long.
    truth_b = standing(60)
    scores_b = score_online(truth_b, truth_b + np.array([0.0, 0.02, 0.0]), truth_b, clip_of(truth_b), FPS)
    records = [(("all",), "ego4o_imu", "online", scores_a), (("all",), "ego4o_imu", "online", scores_b)]
    row = summarise(records, {}, {})["all"]["ego4o_imu/online"]
    assert row["feet_skate_mm_s"] == pytest.approx(150.0 * 116 / (116 + 59 * 4))  # over all contact steps
    assert row["feet_penetration_mm"] == pytest.approx(10.0 * 30 / 90)  # over all frames
    assert row["feet_penetration_frac"] == pytest.approx(30 / 90)
    assert row["feet_floating_mm"] == pytest.approx(20.0 * 60 / 90)  # over all contact frames
    assert row["feet_gt_skate_mm_s"] == row["feet_gt_penetration_mm"] == row["feet_gt_floating_mm"] == 0.0
    assert row["feet_contact_frac"] == 1.0
    table = {"all": {"ego4o_imu/online": row}}
    printed = format_feet(table)
    assert "**feet: all**" in printed and "ego4o_imu/online | 49 |  |" in printed  # no ratio to a truth without skate
    assert "skate" not in format_table(table)  # the feet have their own table


def test_a_stream_through_the_stage_is_scored_in_its_windows_frames():
    """The stream (integrated root, turned and moved against the windows' frames): the corrected
    poses go to the windows' frames by each frame's rigid map, so they are scored as they are."""
    T = 40
    truth = standing(T)
    stream = truth.copy()
    stream[..., 0] += 0.01 * np.arange(T)[:, None]  # sliding: the stage shifts the whole body back
    yaw = rotations.axis_rotation("Y", 0.7)
    window_joints = stream @ yaw.T + np.array([0.3, 0.0, -0.2])  # the same poses, turned and moved
    corrected, mapped = through_stage(FootContactStage(), stream, window_joints)
    assert np.abs(corrected - stream).max() > 0.05  # the stage did move the body
    np.testing.assert_allclose(mapped - mapped[:, :1], (corrected - corrected[:, :1]) @ yaw.T, atol=1e-9)
    assert metrics.mpjpe(mapped, truth @ yaw.T) == pytest.approx(metrics.mpjpe(corrected, truth))
