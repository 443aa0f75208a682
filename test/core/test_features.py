"""HumanML3D features against the real shipped sample, and their inverse."""

import numpy as np
import pytest

from ego4o_ros.core import body, features, frames, rotations


def test_joints_recovered_from_shipped_features_match_shipped_joints(humanml3d_sample):
    joints, feats = humanml3d_sample
    recovered = features.joints_from_features(feats)
    assert recovered.shape == joints.shape
    assert np.linalg.norm(recovered - joints, axis=-1).max() < 1e-3  # < 1 mm


def test_features_from_joints_round_trip(humanml3d_sample):
    joints, _ = humanml3d_sample
    feats = features.features_from_joints(joints)
    assert feats.shape == (len(joints) - 1, 263)
    recovered = features.joints_from_features(feats)
    assert np.linalg.norm(recovered - joints[:-1], axis=-1).max() < 1e-3


def test_features_from_joints_equal_published_features(humanml3d_sample):
    """Away from the clip's end (the published features saw one more frame, which the
    1 s facing smoothing reaches back ~4 sigma = 80 frames), every dim matches."""
    joints, feats = humanml3d_sample
    mine = features.features_from_joints(joints)
    settled = len(mine) - 80
    assert settled > 60
    np.testing.assert_allclose(mine[:settled], feats[:settled], atol=1e-4)


def test_canonicalisation_makes_features_invariant_to_heading_and_position(humanml3d_sample):
    joints, _ = humanml3d_sample
    moved = frames.yaw_frame(1.1, (3.0, 0.5, -2.0)).points(joints)
    np.testing.assert_allclose(features.features_from_joints(moved), features.features_from_joints(joints), atol=1e-9)


def test_retarget_gives_template_bone_lengths_and_keeps_directions(humanml3d_sample):
    joints, _ = humanml3d_sample
    rng = np.random.default_rng(0)
    stretched = joints.copy()
    scale = rng.uniform(0.8, 1.2, 22)
    for j, p in enumerate(body.PARENTS):  # rebuild with other bone lengths
        if p >= 0:
            stretched[:, j] = stretched[:, p] + (joints[:, j] - joints[:, p]) * scale[j]
    out = features.retarget_to_template(stretched)
    lengths = body.bone_lengths(out)
    np.testing.assert_allclose(lengths, np.broadcast_to(body.TEMPLATE_BONE_LENGTHS, lengths.shape), atol=1e-9)
    directions = rotations.normalize(out[:, 1:] - out[:, list(body.PARENTS[1:])])
    original = rotations.normalize(joints[:, 1:] - joints[:, list(body.PARENTS[1:])])
    np.testing.assert_allclose(directions, original, atol=1e-9)


def test_chain_fk_inverts_chain_ik(humanml3d_sample):
    joints, _ = humanml3d_sample
    facing = features.facing_rotations(joints, features.FeatureConfig())
    quats = features.chain_ik(joints, facing)
    rebuilt = features.chain_fk(quats, joints[:, 0], body.template_offsets())
    assert np.abs(rebuilt - joints).max() < 1e-3


def test_foot_contacts_follow_speed_threshold():
    config = features.FeatureConfig(fps=30.0, foot_contact_speed=0.5)
    joints = np.zeros((4, 22, 3))
    joints[:, 7, 2] = [0.0, 0.01, 0.05, 0.06]  # 0.3, 1.2, 0.3 m/s for the left ankle
    contacts = features.foot_contacts(joints, config)
    assert contacts[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert contacts[:, 1:].min() == 1.0  # feet that do not move are in contact


def test_statistics_use_group_mean_std():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(500, 263)) * np.linspace(0.5, 2.0, 263)
    stats = features.FeatureStatistics()
    stats.update(rows[:200])
    stats.update(rows[200:])
    norm = stats.result()
    np.testing.assert_allclose(norm.mean, rows.mean(0), atol=1e-9)
    ric = features.FEATURE_GROUPS["ric"]
    assert np.ptp(norm.std[ric]) == 0.0
    np.testing.assert_allclose(norm.std[ric][0], rows[:, ric].std(0).mean(), rtol=1e-9)
    np.testing.assert_allclose(norm.denormalize(norm.normalize(rows)), rows, atol=1e-9)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        features.features_from_joints(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError):
        features.joints_from_features(np.zeros((10, 262)))
