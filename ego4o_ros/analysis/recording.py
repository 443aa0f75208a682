"""Recordings made without a ROS graph: what the wearable replay would publish, written
straight into a rosbag2 directory (for the benchmark and the tests).

``write_replay_bag`` synthesises the IMUs of a motion clip (``live/replay.WearableReplay``:
the same synthesis, rates, outages and message layout as the ``wearable_replay`` node),
loops the clip to any length and records ``imu/<site>`` (``sensor_msgs/Imu``, best
effort), ``ground_truth/joint_poses`` (``geometry_msgs/PoseArray``) and, with
``camera_rate_hz``, the head camera's rendered view (``camera/image_raw``, as the node's
``camera_rate``) through ``core/bag.BagWriter``, stamped from ``start_s``. The bag is what
``ego4o-capture`` records minus the live outputs.

``tile_bag`` makes a long recording of a short one that has them too (one recorded by
``ego4o-capture``: live outputs, descriptions, diagnostics), repeated as the replay loops.
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
    camera_rate_hz: float = 0.0,
) -> Path:
    """A bag of ``duration_s`` seconds of the clip (default: the bundled walk) replayed as
    wearables, looped; with the head camera's frames at ``camera_rate_hz`` (0: none; the
    views are rendered once, headless GL). Returns its path."""
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
    if camera_rate_hz > 0:
        stamps, frames = camera_frames(replay, duration_s, period, camera_rate_hz, start_ns)
        rows.append((stamps, "/camera/image_raw", frames))
        topics.append(TopicSpec("/camera/image_raw", "sensor_msgs/msg/Image", "sensor"))
    all_stamps = np.concatenate([s for s, _, _ in rows])
    which = np.concatenate([np.full(len(s), i) for i, (s, _, _) in enumerate(rows)])
    within = np.concatenate([np.arange(len(s)) for s, _, _ in rows])
    order = np.argsort(all_stamps, kind="stable")
    with BagWriter(path, topics, flush_period_s=flush_period_s) as writer:
        for k in order:
            stamps, topic, data = rows[which[k]]
            row = data[within[k]]
            writer.write(topic, int(all_stamps[k]), row if isinstance(row, bytes) else row.tobytes())
    return Path(path)


def camera_frames(
    replay: WearableReplay, duration_s: float, period_s: float, rate_hz: float, start_ns: int = 0
) -> tuple[np.ndarray, list[bytes]]:
    """The ``camera/image_raw`` messages the replay node publishes over ``duration_s`` of its
    looped clip (``sensor_msgs/Image`` rgb8, frame ``head_camera``, each the rendered view
    of the ground-truth frame nearest its clip time): stamps (N,) ns from ``start_ns``, CDR."""
    from ..core.bag import standard_typestore
    from .cdr import message

    views = replay.camera_views()
    height, width = views.shape[1:3]
    store = standard_typestore()
    stamps, frames = [], []
    clip_time, offset = 0.0, 0.0
    while offset + clip_time < duration_s:
        if clip_time >= replay.duration + 1e-9:  # the node's loop: the next frame in the next pass
            clip_time -= period_s
            offset += period_s
            continue
        stamp = start_ns + int(round((offset + clip_time) * 1e9))
        view = views[min(int(round(clip_time * replay.fps)), len(views) - 1)]
        msg = message(
            store,
            "sensor_msgs/msg/Image",
            header=message(
                store,
                "std_msgs/msg/Header",
                stamp=message(
                    store, "builtin_interfaces/msg/Time", sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000
                ),
                frame_id="head_camera",
            ),
            height=height,
            width=width,
            encoding="rgb8",
            step=width * 3,
            data=np.ascontiguousarray(view).reshape(-1),
        )
        stamps.append(stamp)
        frames.append(bytes(store.serialize_cdr(msg, "sensor_msgs/msg/Image")))
        clip_time += 1.0 / rate_hz
    return np.array(stamps, np.int64), frames


def replay_sites(config: ReplayConfig) -> list[int]:
    return [imu.IMU_SITES.index(s) for s in config.sites]


def _field_type(kind, details) -> str | None:
    """The message type a field (of ``typestore.fielddefs``) holds, alone or in an array."""
    if kind.name == "NAME":
        return details
    if kind.name in ("ARRAY", "SEQUENCE") and details[0][0].name == "NAME":
        return details[0][1]
    return None


def _has_time(store, msgtype: str, seen: frozenset = frozenset()) -> bool:
    """Whether a message type holds a ``builtin_interfaces/Time`` anywhere (nested included)."""
    if msgtype == "builtin_interfaces/msg/Time":
        return True
    if msgtype in seen or msgtype not in store.fielddefs:
        return False
    inner = (_field_type(*field) for _, field in store.fielddefs[msgtype][1])
    return any(t is not None and _has_time(store, t, seen | {msgtype}) for t in inner)


def _header_only(store, msgtype: str) -> bool:
    """Whether the type's only time is a leading ``std_msgs/Header``'s stamp (CDR bytes
    4..12, after the encapsulation header: sec int32, nanosec uint32)."""
    fields = store.fielddefs[msgtype][1]
    if not fields or fields[0][0] != "header" or _field_type(*fields[0][1]) != "std_msgs/msg/Header":
        return False
    rest = (_field_type(*field) for _, field in fields[1:])
    return not any(t is not None and _has_time(store, t) for t in rest)


def _shifted(msg, offset_ns: int):
    """A deserialised message with every ``builtin_interfaces/Time`` moved by ``offset_ns``."""
    import dataclasses

    if getattr(msg, "__msgtype__", None) == "builtin_interfaces/msg/Time":
        total = msg.sec * 1_000_000_000 + msg.nanosec + offset_ns
        return dataclasses.replace(msg, sec=total // 1_000_000_000, nanosec=total % 1_000_000_000)
    if not dataclasses.is_dataclass(msg):
        return msg
    changes = {}
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = _shifted(value, offset_ns)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            changes[f.name] = [_shifted(v, offset_ns) for v in value]
    return dataclasses.replace(msg, **changes) if changes else msg


def tile_bag(source: str | Path, path: str | Path, duration_s: float) -> Path:
    """A long recording made of a short one: ``source`` (a rosbag2 directory, e.g. a few
    seconds recorded by ``ego4o-capture``) from its first IMU message on, repeated until
    ``duration_s``. Each repeat moves the bag times and every stamp in the messages
    (headers, description windows) on by the span of the IMU stamps plus one sample
    period, as the replay node loops its clip; what arrived after the IMUs ended (the last
    outputs and descriptions) lands among the next repeat's data, as in a long live run.
    Topics, message types, definitions, QoS and message sizes stay as recorded."""
    import struct

    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from ..core.bag import _typestore_for
    from .cdr import decode_imu

    source, path = Path(source), Path(path)
    with Reader(source) as reader:
        connections = list(reader.connections)
        messages = [(c.id, t, bytes(d)) for c, t, d in reader.messages()]
    by_id = {c.id: c for c in connections}
    imu_messages = [(t, d) for cid, t, d in messages if by_id[cid].msgtype == "sensor_msgs/msg/Imu"]
    if not imu_messages:
        raise ValueError(f"{source} holds no sensor_msgs/Imu: nothing to loop on")
    stamps = np.unique(decode_imu([d for _, d in imu_messages])["stamp_ns"])
    period_ns = int(stamps[-1] - stamps[0] + np.median(np.diff(stamps)))
    start = min(t for t, _ in imu_messages)
    messages = [m for m in messages if m[1] >= start]  # not the start-up (diagnostics while models load)
    times = {}
    for c in connections:
        store = _typestore_for(c.msgtype, c.msgdef.data)
        times[c.id] = (store, _header_only(store, c.msgtype), _has_time(store, c.msgtype))
    limit = start + int(round(duration_s * 1e9))
    rows = []
    for k in range(int(np.ceil(duration_s * 1e9 / period_ns))):
        offset = k * period_ns
        for cid, timestamp, data in messages:
            if timestamp + offset >= limit:
                continue
            store, header_only, has_time = times[cid]
            if offset and header_only:
                sec, nanosec = struct.unpack_from("<iI", data, 4)
                total = sec * 1_000_000_000 + nanosec + offset
                data = data[:4] + struct.pack("<iI", total // 1_000_000_000, total % 1_000_000_000) + data[12:]
            elif offset and has_time:
                msgtype = by_id[cid].msgtype
                data = bytes(store.serialize_cdr(_shifted(store.deserialize_cdr(data, msgtype), offset), msgtype))
            rows.append((timestamp + offset, cid, data))
    rows.sort(key=lambda row: row[0])
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        out = {
            c.id: writer.add_connection(
                c.topic,
                c.msgtype,
                msgdef=c.msgdef.data,
                rihs01=c.digest,
                offered_qos_profiles=list(getattr(c.ext, "offered_qos_profiles", []) or []),
            )
            for c in connections
        }
        for timestamp, cid, data in rows:
            writer.write(out[cid], timestamp, data)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return path
