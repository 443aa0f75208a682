"""Shared fixtures: paths to the shared data (read in place, never copied).

Tests that need ``../shared`` carry ``needs_shared(path, ...)`` (marker ``shared_data``):
without the data they are skipped with the reason; with ``EGO4O_REQUIRE_SHARED=1`` (CI,
``.ci/run``) they are never skipped, so missing data fails the run instead of hiding."""

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HUMANML3D_SAMPLE = SHARED / "data" / "humanml3d_sample"
BANDAI_ARCHIVE = SHARED / "data" / "bandai" / "bandai_train.tar.xz"
REQUIRE_SHARED = os.environ.get("EGO4O_REQUIRE_SHARED", "") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ros: starts rclpy (real DDS on localhost, this run's ROS_DOMAIN_ID); deselect with -m 'not ros'",
    )
    config.addinivalue_line(
        "markers",
        "shared_data: needs ../shared/data beside the repository "
        "(skipped without it, except where EGO4O_REQUIRE_SHARED=1)",
    )


def shared_missing(*paths) -> str | None:
    missing = [Path(p) for p in paths if not Path(p).exists()]
    if not missing:
        return None
    return f"needs the shared data: {missing[0]} is missing (clone ../shared beside the repository)"


def needs_shared(*paths):
    """Marks for a test (or ``pytestmark``) that reads ``paths`` under ../shared."""
    reason = shared_missing(*paths)
    return [pytest.mark.shared_data, pytest.mark.skipif(reason is not None and not REQUIRE_SHARED, reason=reason or "")]


def skip_without_shared(*paths) -> None:
    """The same rule from inside a fixture or test: skip (with the reason) when ``paths``
    are missing, unless EGO4O_REQUIRE_SHARED says missing data must fail."""
    reason = shared_missing(*paths)
    if reason and not REQUIRE_SHARED:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def humanml3d_sample():
    """The shipped HumanML3D clip 012314: joints (170, 22, 3) and features (170, 263)."""
    skip_without_shared(HUMANML3D_SAMPLE)
    joints = np.load(HUMANML3D_SAMPLE / "012314_new_joints.npy").astype(np.float64)
    features = np.load(HUMANML3D_SAMPLE / "012314_new_joint_vecs.npy").astype(np.float64)
    return joints, features
