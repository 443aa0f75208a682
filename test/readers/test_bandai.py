"""Bandai-Namco adapter on the bundled real take: mapping, calibration, labels."""

from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from ego4o_ros.core import body, frames, imu, rotations
from ego4o_ros.readers import bandai
from ego4o_ros.readers.bvh import read_bvh

SAMPLE = Path(bandai.__file__).parent.parent / "data" / "sample" / "dataset-2_walk_normal_001.bvh"


@pytest.fixture(scope="module")
def sample_clip():
    return bandai.read_bandai(SAMPLE)


def test_label_lists_match_the_datasets_cfg_files():
    for dataset in (1, 2):
        folder = SHARED / "data" / "bandai" / f"cfg{dataset}"
        for key in ("content", "style"):
            names = (folder / f"{key}_label.txt").read_text().split()
            assert tuple(n.removeprefix(f"dataset-{dataset}_") for n in names) == bandai.LABELS[dataset][key]


def test_every_label_pair_has_several_phrasings():
    for labels in bandai.LABELS.values():
        for action in labels["content"]:
            for style in labels["style"]:
                phrases = bandai.describe(action, style)
                assert len(phrases) >= 6 and len(set(phrases)) == len(phrases)
    assert "a person walks and turns left in an elderly way." in bandai.describe("walk-turn-left", "elderly")


def test_labels_from_name_and_json_agree_or_fail():
    assert bandai.labels_from_name("dataset-2_walk-turn-left_elderly_003.bvh") == (
        2,
        "walk-turn-left",
        "elderly",
        "003",
    )
    assert bandai.labels_from_json(2, '{"content": 1, "style": 1}', "x") == ("walk-turn-left", "elderly")
    with pytest.raises(ValueError, match="x.bvh"):
        bandai.labels_from_json(2, '{"content": 99, "style": 1}', "x.bvh")
    with pytest.raises(ValueError):
        bandai.labels_from_name("walk_003.bvh")


def test_mapped_walk_is_upright_walks_forward_and_keeps_sides(sample_clip):
    assert sample_clip.fps == pytest.approx(30.0)
    joints = frames.canonical_frame(sample_clip.joints).points(sample_clip.joints)
    assert 1.3 < joints[:, 15, 1].mean() < 1.8  # head height of an adult, metres
    assert joints[:, [10, 11], 1].min() < 0.05  # feet reach the floor
    displacement = joints[-1, 0] - joints[0, 0]
    assert displacement[2] > 5.0 and abs(displacement[0]) < 1.0  # ~10 m along +Z, < 6 deg off
    assert (joints[:, 1, 0] > joints[:, 2, 0]).mean() > 0.95  # left hip on +X
    assert "walks" in sample_clip.descriptions[0]


def test_calibrated_segment_rotations_point_the_t_pose_bones_along_the_real_bones(sample_clip):
    """G_smpl[j] @ (T-pose direction of the segment) = the segment's direction, every frame."""
    rest = rotations.normalize(body.SMPL_REST_OFFSETS)
    for joint, child in body.SEGMENT_END.items():
        tpose_direction = rest[child]
        predicted = np.einsum("tij,j->ti", sample_clip.global_rotations[:, joint], tpose_direction)
        actual = rotations.normalize(sample_clip.joints[:, child] - sample_clip.joints[:, joint])
        angle = np.degrees(np.arccos(np.clip((predicted * actual).sum(-1), -1, 1)))
        assert angle.max() < 1.0, (body.JOINT_NAMES[joint], angle.max())


def test_stored_calibration_is_what_the_standing_frame_gives():
    motion = read_bvh(SAMPLE)
    joints, raw = bandai.smpl_joints_and_rotations(motion)
    facing = frames.facing_directions(joints[0])
    estimate = bandai.estimate_tpose_calibration(raw[0], np.arctan2(facing[0], facing[2]))
    np.testing.assert_array_equal(estimate, bandai.TPOSE_FROM_BANDAI)
    assert np.allclose(np.linalg.det(bandai.TPOSE_FROM_BANDAI), 1.0)


def test_synthesised_thigh_imus_point_down_when_standing(sample_clip):
    readings = imu.synthesize_from_clip(sample_clip)
    for site in ("left_pocket", "right_pocket"):
        k = imu.IMU_SITES.index(site)
        down = readings.ori[0, k] @ np.array([0.0, -1.0, 0.0])  # the thigh's T-pose direction
        assert down[1] < -0.9
