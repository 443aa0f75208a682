"""Shared fixtures: paths to the shared data (read in place, never copied)."""
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HUMANML3D_SAMPLE = SHARED / "data" / "humanml3d_sample"
BANDAI_ARCHIVE = SHARED / "data" / "bandai" / "bandai_train.tar.xz"


@pytest.fixture(scope="session")
def humanml3d_sample():
    """The shipped HumanML3D clip 012314: joints (170, 22, 3) and features (170, 263)."""
    joints = np.load(HUMANML3D_SAMPLE / "012314_new_joints.npy").astype(np.float64)
    features = np.load(HUMANML3D_SAMPLE / "012314_new_joint_vecs.npy").astype(np.float64)
    return joints, features
