"""Dataset builder: windows, split, manifest, re-runs, archive and folder sources."""

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from ego4o_ros.core import body, features
from ego4o_ros.core.dataset import DatasetConfig, MotionCache, split_of, window_starts
from ego4o_ros.paths import SAMPLE_CLIP as SAMPLE
from ego4o_ros.training.cache_builder import build, load_config

CONFIG = DatasetConfig(window=32, stride=16, validation_percent=0.0)


def write_amass(path: Path, frames_count=90, fps=60.0):
    """A small AMASS-style file: an upright body walking forward along its +Y (Z-up)."""
    poses = np.zeros((frames_count, 156))
    poses[:, 0] = np.pi / 2  # stand up in a Z-up world
    t = np.arange(frames_count) / fps
    poses[:, 3 * 1 + 0] = 0.4 * np.sin(2 * np.pi * t)  # swing the left hip
    trans = np.stack([np.zeros_like(t), 1.0 * t, np.full_like(t, 0.9)], axis=1)
    np.savez(path, poses=poses, trans=trans, betas=np.zeros(16), mocap_framerate=fps)


@pytest.fixture()
def source_folder(tmp_path):
    folder = tmp_path / "motion"
    folder.mkdir()
    shutil.copy(SAMPLE, folder)
    shutil.copy(SAMPLE.with_suffix(".json"), folder)
    write_amass(folder / "amass_walk.npz")
    (folder / "dataset-2_walk_normal_999.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")  # broken
    return folder


def test_window_starts_cover_the_clip():
    assert window_starts(100, 32, 16) == [0, 16, 32, 48, 64, 67]
    assert window_starts(33, 32, 16) == [0]
    assert window_starts(32, 32, 16) == []


def test_short_takes_get_one_padded_window_with_their_length():
    from ego4o_ros.core.clip import MotionClip
    from ego4o_ros.core.dataset import clip_windows

    joints = np.load(SAMPLE.parents[3].parent / "shared/data/humanml3d_sample/012314_new_joints.npy")[:20]
    windows = clip_windows(MotionClip("short", 30.0, joints), CONFIG)
    assert windows["features"].shape == (1, 32, 263) and windows["length"].tolist() == [19]
    recovered = features.joints_from_features(windows["features"][0, :19])
    assert np.linalg.norm(recovered - windows["joints"][0, :19], axis=-1).max() < 1e-3
    assert clip_windows(MotionClip("tiny", 30.0, joints[:10]), CONFIG) == {}


def test_split_is_stable_and_roughly_proportional():
    takes = [f"take_{i}" for i in range(2000)]
    share = np.mean([split_of(t, 10.0) == "validation" for t in takes])
    assert 0.07 < share < 0.13
    assert [split_of(t, 10.0) for t in takes[:50]] == [split_of(t, 10.0) for t in takes[:50]]


def test_build_from_folder_writes_consistent_windows_and_skips_on_rerun(source_folder, tmp_path):
    cache_dir = tmp_path / "cache"
    summary = build(source_folder, cache_dir, CONFIG, workers=2, progress=False)
    assert summary["built"] == 2 and summary["errors"] == 1
    cache = MotionCache(cache_dir)
    assert "line" in cache_dir.joinpath("manifest.json").read_text()  # the broken file's error names a line
    assert set(cache.names("train")) == {"dataset-2_walk_normal_001", "amass_walk"}

    windows = cache.load_clip("dataset-2_walk_normal_001")
    n = len(windows["start"])
    assert n == len(window_starts(273, 32, 16)) and windows["length"].tolist() == [32] * n
    assert windows["features"].shape == (n, 32, 263) and windows["joints"].shape == (n, 32, 22, 3)
    assert windows["imu_acc"].shape == (n, 32, 5, 3) and windows["imu_ori"].shape == (n, 32, 5, 3, 3)
    # Each window is canonical: root at the origin on frame 0, facing +Z by the features'
    # own (smoothed) facing rule, template bones.
    np.testing.assert_allclose(windows["joints"][:, 0, 0, [0, 2]], 0.0, atol=1e-5)
    # (The window frame was set from W + 1 poses, the cache keeps W: the smoothing sees one frame
    # less here, a few tenths of a degree.)
    facing0 = [features.smoothed_forward(w.astype(float), CONFIG.feature_config)[0] for w in windows["joints"]]
    np.testing.assert_allclose(facing0, np.broadcast_to([0, 0, 1], (n, 3)), atol=2e-2)
    # ... so row 0 carries no facing jump: its yaw velocity is like the next rows'.
    yaw_rate = np.abs(windows["features"][:, :, 0])
    assert yaw_rate[:, 0].max() < 3 * yaw_rate[:, 1:4].max() + 1e-3
    lengths = body.bone_lengths(windows["joints"].astype(float))[..., 1:]
    np.testing.assert_allclose(lengths, np.broadcast_to(body.TEMPLATE_BONE_LENGTHS[1:], lengths.shape), atol=1e-5)
    recovered = features.joints_from_features(windows["features"])
    assert np.linalg.norm(recovered - windows["joints"], axis=-1).max() < 1e-3
    # IMUs are in the window's frame: gravity still points up, magnitudes unchanged.
    assert np.median(windows["imu_acc"][..., 1]) > 8.0
    np.testing.assert_allclose(np.linalg.det(windows["imu_ori"]), 1.0, atol=1e-4)

    normalizer = cache.normalizer()
    assert normalizer.mean.shape == (263,) and (normalizer.std > 0).all()
    again = build(source_folder, cache_dir, CONFIG, workers=1, progress=False)
    assert again["built"] == 0 and again["train_windows"] == summary["train_windows"]

    (cache_dir / "clips" / "amass_walk.npz").unlink()  # lost file -> rebuilt, nothing else
    third = build(source_folder, cache_dir, CONFIG, workers=1, progress=False)
    assert third["built"] == 1


def test_build_from_archive_streams_takes_with_labels(tmp_path):
    archive = tmp_path / "takes.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(SAMPLE, arcname=f"data/{SAMPLE.name}")
        tar.add(SAMPLE.with_suffix(".json"), arcname=f"data/{SAMPLE.stem}.json")
    summary = build(archive, tmp_path / "cache", CONFIG, workers=1, progress=False)
    assert summary["built"] == 1 and summary["errors"] == 0
    entry = MotionCache(tmp_path / "cache").clips["dataset-2_walk_normal_001"]
    assert entry["descriptions"][0].startswith("a person walks")


def test_changed_config_starts_a_new_manifest(source_folder, tmp_path):
    cache_dir = tmp_path / "cache"
    build(source_folder, cache_dir, CONFIG, workers=1, progress=False)
    other = DatasetConfig(window=16, stride=16, validation_percent=0.0)
    summary = build(source_folder, cache_dir, other, workers=1, progress=False)
    assert summary["built"] == 2
    assert MotionCache(cache_dir).load_clip("amass_walk")["features"].shape[1] == 16


def test_config_file_is_read_and_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset:\n  window: 48\n")
    assert load_config(path).window == 48
    path.write_text("dataset:\n  windows: 48\n")
    with pytest.raises(ValueError, match="windows"):
        load_config(path)
