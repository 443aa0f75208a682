"""Left/right mirroring (joints, features, IMUs) and the evaluation's stitching path."""

import numpy as np

from ego4o_ros.core import features, imu, metrics, mirror
from ego4o_ros.core.dataset import DatasetConfig
from ego4o_ros.evaluation.clips import EvalClip
from ego4o_ros.evaluation.scoring import clip_truth, score_offline
from ego4o_ros.models.online import blend_windows
from ego4o_ros.paths import SAMPLE_CLIP
from ego4o_ros.readers.bandai import read_bandai

CONFIG = features.FeatureConfig(fps=20.0)


def canonical(joints):
    return features.window_frame(joints, CONFIG).points(joints)


def test_mirrored_features_equal_features_of_mirrored_motion(humanml3d_sample):
    joints = canonical(humanml3d_sample[0])
    feats = features.features_from_joints(joints, CONFIG, canonicalize=False)
    from_mirrored = features.features_from_joints(mirror.mirror_joints(joints), CONFIG, canonicalize=False)
    np.testing.assert_allclose(mirror.mirror_features(feats), from_mirrored, atol=1e-9)
    assert not np.allclose(mirror.mirror_features(feats), feats)  # it does change something
    np.testing.assert_array_equal(mirror.mirror_features(mirror.mirror_features(feats)), feats)
    np.testing.assert_array_equal(mirror.mirror_joints(mirror.mirror_joints(joints)), joints)


def test_mirrored_imus_equal_imus_synthesised_from_mirrored_motion(humanml3d_sample):
    joints = canonical(humanml3d_sample[0])
    plain = imu.synthesize_imu(joints, None, 20.0)
    from_mirrored = imu.synthesize_imu(mirror.mirror_joints(joints), None, 20.0)
    acc, ori = mirror.mirror_imu(plain.acc, plain.ori)
    np.testing.assert_allclose(acc, from_mirrored.acc, atol=1e-9)
    np.testing.assert_allclose(ori, from_mirrored.ori, atol=1e-9)
    twice = mirror.mirror_imu(acc, ori)
    np.testing.assert_allclose(twice[0], plain.acc)
    np.testing.assert_allclose(twice[1], plain.ori)
    assert list(mirror.SITE_TWINS) == [1, 0, 3, 2, 4]  # watches and pockets swap, the head stays


def test_window_frame_removes_the_first_row_facing_jump(humanml3d_sample):
    joints = humanml3d_sample[0][:65]
    jumped = features.features_from_joints(joints, CONFIG)  # HumanML3D's own rule
    ours = features.features_from_joints(canonical(joints), CONFIG, canonicalize=False)
    assert abs(jumped[0, 0]) > 5 * np.abs(jumped[1:5, 0]).max()  # the published rule has the jump
    assert abs(ours[0, 0]) < 2 * np.abs(ours[1:5, 0]).max() + 1e-4  # ours does not
    np.testing.assert_allclose(features.joints_from_features(ours), canonical(joints)[:-1], atol=1e-6)


def test_stitched_ground_truth_has_the_world_ground_truths_jitter():
    """Ground-truth features through the offline path (half-overlapping windows blended,
    root integrated once): the motion is as smooth as the motion itself."""
    config = DatasetConfig()
    clip = read_bandai(SAMPLE_CLIP, target_fps=config.fps)
    joints = features.retarget_to_template(clip.joints)
    readings = imu.synthesize_imu(joints, None, config.fps)
    eval_clip = EvalClip("walk", joints, readings.acc, readings.ori, len(joints), "", ("all",))
    truth = clip_truth(eval_clip, config.window, config.feature_config, None)
    blended = blend_windows(truth.features, truth.starts, len(joints))
    scores = score_offline(truth.features, blended, truth, eval_clip, config.fps)
    world = metrics.jitter(joints, config.fps)
    assert abs(scores["jitter"] - world) / world < 0.05, (scores["jitter"], world)
    assert scores["mpjpe"].max() < 1e-3  # mm: every frame scored in its own window's frame
