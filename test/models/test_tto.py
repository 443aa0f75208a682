"""Test-time optimisation: its differentiable recovery and that it lowers its loss."""

import numpy as np
import torch

from ego4o_ros.core import features, imu, rotations
from ego4o_ros.core.features import FeatureNormalizer
from ego4o_ros.models.ego4o import Ego4oModel
from ego4o_ros.models.fusion_encoder import EncoderConfig
from ego4o_ros.models.part_vqvae import PartVQVAE, VqvaeConfig
from ego4o_ros.models.tto import TestTimeOptimizer, TtoConfig, cont6d_to_matrix, joints_relative_to_root


def test_differentiable_recovery_matches_numpy(humanml3d_sample):
    _, feats = humanml3d_sample
    expected = features.joints_from_features(feats)
    expected = expected - expected[:, :1] * np.array([1.0, 0.0, 1.0])  # root xz at the origin
    got = joints_relative_to_root(torch.from_numpy(feats)[None])[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_torch_cont6d_matches_numpy():
    m = rotations.axis_angle_to_matrix(np.random.default_rng(0).normal(size=(10, 3)))
    got = cont6d_to_matrix(torch.from_numpy(rotations.matrix_to_cont6d(m))).numpy()
    np.testing.assert_allclose(got, m, atol=1e-12)


def test_more_iterations_lower_the_loss():
    torch.manual_seed(0)
    vqvae = PartVQVAE(VqvaeConfig(width=16, depth=1, code_dim=8, num_codes=16)).eval()
    model = Ego4oModel.from_vqvae(vqvae, EncoderConfig(d_model=16, layers=1, heads=2, ff=32, dropout=0.0)).eval()
    rng = np.random.default_rng(0)
    ori = rotations.axis_angle_to_matrix(rng.normal(0, 0.6, (2, 32, 5, 3)))
    acc = rng.normal(0, 1, (2, 32, 5, 3))
    present = np.zeros((2, 32, 5), bool)
    present[..., [0, 2, 4]] = True
    inputs = imu.network_inputs(acc, ori, present)
    normalizer = FeatureNormalizer(np.zeros(263), np.full(263, 0.1))
    short, short_loss = TestTimeOptimizer(model, normalizer, TtoConfig(iterations=1)).refine(inputs, present)
    long, long_loss = TestTimeOptimizer(model, normalizer, TtoConfig(iterations=30)).refine(inputs, present)
    assert long.shape == (2, 32, 263)
    assert long_loss < short_loss
