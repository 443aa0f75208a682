"""Recordings made without a ROS graph: what the wearable replay would publish, written
straight into a rosbag2 directory (for the benchmark and the tests).

``write_replay_bag`` synthesises the IMUs of a motion clip (``live/replay.WearableReplay``:
the same synthesis, rates, outages and message layout as the ``wearable_replay`` node),
loops the clip to any length and records ``imu/<site>`` (``sensor_msgs/Imu``, best
effort) and ``ground_truth/joint_poses`` (``geometry_msgs/PoseArray``) through
``core/bag.BagWriter``, stamped from ``start_s``. The bag is what ``ego4o-capture``
records minus the live outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import imu
from ..core.bag import BagWriter, TopicSpec
from ..live.replay import ReplayConfig, WearableReplay
from .messages import imu_template, pose_array_template, pose_values


def write_replay_bag(
    path: str | Path,
    duration_s: float,
    clip: str | Path | None = None,
    config: ReplayConfig = ReplayConfig(),
    start_s: float = 1_700_000_000.0,
    ground_truth: bool = True,
    flush_period_s: float = 1.0,
) -> Path:
    """A bag of ``duration_s`` seconds of the clip (default: the bundled walk) replayed as
    wearables, looped. Returns its path."""
    from ..paths import SAMPLE_CLIP as SAMPLE

    replay = WearableReplay.from_file(clip or SAMPLE, config)
    period = replay.duration + 1.0 / config.imu_rate_hz  # the replay node's loop period
    loops = int(np.ceil(duration_s / period))
    start_ns = int(round(start_s * 1e9))
    rows: list[tuple[int, str, np.ndarray]] = []  # (stamp ns, topic, CDR rows)
    imu_rows, truth_rows = [], []
    for loop in range(loops):
        offset = loop * period
        for sample in replay.imu_samples(0.0, min(replay.duration + 1e-9, duration_s - offset)):
            imu_rows.append((offset + sample.stamp, sample.site, sample.quat_xyzw, sample.acc))
        if ground_truth:
            for stamp, joints in replay.truth_frames(0.0, min(replay.duration + 1e-9, duration_s - offset)):
                truth_rows.append((offset + stamp, joints))
    for site in config.sites:
        mine = [r for r in imu_rows if r[1] == site]
        if not mine:
            continue
        stamps = start_ns + np.round(np.array([r[0] for r in mine]) * 1e9).astype(np.int64)
        values = np.array([np.concatenate([r[2], r[3]]) for r in mine])
        rows.append((stamps, f"/imu/{site}", imu_template(f"{site}_imu").encode(stamps, values)))
    if truth_rows:
        stamps = start_ns + np.round(np.array([r[0] for r in truth_rows]) * 1e9).astype(np.int64)
        positions = np.stack([r[1] for r in truth_rows])
        identity = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0]), positions.shape[:-1] + (4,))
        rows.append(
            (
                stamps,
                "/ground_truth/joint_poses",
                pose_array_template("world").encode(stamps, pose_values(positions, identity)),
            )
        )
    topics = [TopicSpec(f"/imu/{site}", "sensor_msgs/msg/Imu", "sensor") for site in config.sites]
    if truth_rows:
        topics.append(TopicSpec("/ground_truth/joint_poses", "geometry_msgs/msg/PoseArray", "reliable"))
    all_stamps = np.concatenate([s for s, _, _ in rows])
    which = np.concatenate([np.full(len(s), i) for i, (s, _, _) in enumerate(rows)])
    within = np.concatenate([np.arange(len(s)) for s, _, _ in rows])
    order = np.argsort(all_stamps, kind="stable")
    with BagWriter(path, topics, flush_period_s=flush_period_s) as writer:
        for k in order:
            stamps, topic, data = rows[which[k]]
            writer.write(topic, int(all_stamps[k]), data[within[k]].tobytes())
    return Path(path)


def replay_sites(config: ReplayConfig) -> list[int]:
    return [imu.IMU_SITES.index(s) for s in config.sites]
