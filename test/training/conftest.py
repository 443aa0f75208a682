"""What the training tests share: a tiny source folder made of the bundled walk."""

import shutil

import pytest

from ego4o_ros import paths


@pytest.fixture(scope="session")
def two_walks(tmp_path_factory):
    """A folder with the bundled walk twice (takes ..._001 and ..._002, both training); read only."""
    source = tmp_path_factory.mktemp("two_walks")
    for suffix in (".bvh", ".json"):
        shutil.copy(paths.SAMPLE_CLIP.with_suffix(suffix), source)
        shutil.copy(paths.SAMPLE_CLIP.with_suffix(suffix), source / ("dataset-2_walk_normal_002" + suffix))
    return source
