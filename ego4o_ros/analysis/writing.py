"""The analysis' files: a rosbag2 (MCAP) to open in Foxglove / RViz / ``ros2 bag play``,
``motion.npz`` for scientists and ``joints.csv`` for spreadsheets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .. import interface
from ..core import body, imu, joint_angles
from ..core.bag import QOS_PROFILES, standard_typestore
from . import messages

BAG_NAME = "analysed_bag"


def custom_store():
    """Kilted types + the package's own messages (``msg/``), for smpl_pose and description_stamped."""
    from ..paths import share_file

    try:
        folder = share_file("msg")
    except FileNotFoundError:
        return standard_typestore(), False
    definitions = {f"ego4o_ros/msg/{p.stem}": p.read_text() for p in sorted(folder.glob("*.msg"))}
    return standard_typestore(definitions), "ego4o_ros/msg/MotionDescription" in definitions


def write_bag(analysis, path: Path, config) -> dict:
    """Outputs + copied inputs, in timestamp order. Outputs are stamped (header and bag
    time) with the time of the pose they describe, like the live graph's."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    motion, recording = analysis.motion, analysis.recording
    store, has_custom = custom_store()
    shutil.rmtree(path, ignore_errors=True)
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    streams = []  # (connection, stamps (N,), rows: (N, L) uint8 array or list of bytes)
    counts = {}
    try:
        valid = np.flatnonzero(motion.valid)
        stamps = motion.grid.stamps_ns[valid]
        templates = messages.output_templates(config.frame_id)
        values = {
            interface.JOINT_STATES: motion.dofs[valid],
            interface.JOINT_POSES: messages.pose_values(motion.positions_ros[valid], motion.orientations_xyzw[valid]),
            interface.SKELETON_MARKERS: messages.marker_values(motion.positions_ros[valid]),
        }
        for topic, template in templates.items():
            connection = writer.add_connection(
                f"/{topic}", template.msgtype, typestore=store, offered_qos_profiles=[QOS_PROFILES["reliable"]]
            )
            streams.append((connection, stamps, template.encode(stamps, values[topic])))
            counts[f"/{topic}"] = len(stamps)
        if "ego4o_ros/msg/SmplPose" in store.types:  # the package's msg/ definitions were found
            connection = writer.add_connection(
                f"/{interface.SMPL_POSE}",
                "ego4o_ros/msg/SmplPose",
                typestore=store,
                offered_qos_profiles=[QOS_PROFILES["reliable"]],
            )
            sites = np.array(imu.IMU_SITES)
            rows = messages.smpl_pose_rows(
                store,
                stamps,
                motion.local_rotations[valid],
                motion.positions_ros[valid],
                [tuple(sites[present]) for present in motion.grid.present[valid]],
                valid,  # the frame's index on the analysis grid
                config.frame_id,
            )
            streams.append((connection, stamps, rows))
            counts[f"/{interface.SMPL_POSE}"] = len(stamps)
        if analysis.captions:
            caption_stamps = np.array([c.end_ns for c in analysis.captions], np.int64)
            connection = writer.add_connection(
                "/description", "std_msgs/msg/String", typestore=store, offered_qos_profiles=[QOS_PROFILES["reliable"]]
            )
            streams.append((connection, caption_stamps, [messages.string_cdr(c.text) for c in analysis.captions]))
            counts["/description"] = len(caption_stamps)
            if has_custom:
                connection = writer.add_connection(
                    "/description_stamped",
                    "ego4o_ros/msg/MotionDescription",
                    typestore=store,
                    offered_qos_profiles=[QOS_PROFILES["reliable"]],
                )
                streams.append(
                    (
                        connection,
                        caption_stamps,
                        [
                            messages.description_stamped_cdr(
                                store, c.text, c.start_ns, c.end_ns, c.source, config.frame_id, c.fed_back
                            )
                            for c in analysis.captions
                        ],
                    )
                )
                counts["/description_stamped"] = len(caption_stamps)
        for copy in recording.copies:
            qos = copy.qos or [
                QOS_PROFILES[
                    "sensor" if copy.msgtype in ("sensor_msgs/msg/Imu", "sensor_msgs/msg/Image") else "reliable"
                ]
            ]
            connection = writer.add_connection(
                copy.topic, copy.msgtype, msgdef=copy.msgdef, rihs01=copy.rihs01, offered_qos_profiles=qos
            )
            streams.append((connection, np.asarray(copy.stamps_ns, np.int64), copy.data))
            counts[copy.topic] = len(copy.data)
        all_stamps = np.concatenate([s for _, s, _ in streams]) if streams else np.zeros(0, np.int64)
        which = np.concatenate([np.full(len(s), i, np.int32) for i, (_, s, _) in enumerate(streams)])
        within = np.concatenate([np.arange(len(s)) for _, s, _ in streams])
        order = np.argsort(all_stamps, kind="stable")
        rows = [data if isinstance(data, list) else [r.tobytes() for r in data] for _, _, data in streams]
        connections = [c for c, _, _ in streams]
        write = writer.write
        for k, t, i in zip(order.tolist(), all_stamps[order].tolist(), which[order].tolist()):
            write(connections[i], t, rows[i][within[k]])
    except BaseException:
        writer.close()
        raise
    writer.close()
    return counts


def write_arrays(analysis, out_dir: Path) -> dict:
    motion, recording = analysis.motion, analysis.recording
    grid = motion.grid
    arrays = {
        "stamps_ns": grid.stamps_ns,
        "times_s": grid.times_s,
        "fps": np.float64(grid.fps),
        "valid": motion.valid,
        "present": grid.present,
        "sites": np.array(imu.IMU_SITES),
        "joints_body": motion.joints,
        "joints_ros": motion.positions_ros,
        "orientations_ros_xyzw": motion.orientations_xyzw,
        "features": motion.features.astype(np.float32),
        "joint_state_names": np.array(joint_angles.DOF_NAMES),
        "joint_state_positions": motion.dofs,
        "joint_names": np.array(body.JOINT_NAMES),
        "caption_texts": np.array([c.text for c in analysis.captions], dtype=str),
        "caption_start_ns": np.array([c.start_ns for c in analysis.captions], np.int64),
        "caption_end_ns": np.array([c.end_ns for c in analysis.captions], np.int64),
        "caption_fed_back": np.array([c.fed_back for c in analysis.captions], bool),
    }
    if recording.truth is not None:
        arrays["truth_stamps_ns"], arrays["truth_joints_ros"] = recording.truth
    if recording.live is not None:
        arrays["live_stamps_ns"], arrays["live_joints_ros"] = recording.live
    path = out_dir / "motion.npz"
    np.savez(path, **arrays)  # uncompressed: float data hardly compresses, and zlib would take seconds
    return {"npz": path.name}


def write_csv(analysis, out_dir: Path) -> dict:
    """One row per captured frame: time, stamp, the sensors present, then every joint's
    x, y, z in metres (REP-103: x forward, y left, z up)."""
    motion = analysis.motion
    valid = np.flatnonzero(motion.valid)
    path = out_dir / "joints.csv"
    header = ["time_s", "stamp_ns", "sensors"] + [f"{name}_{axis}" for name in body.JOINT_NAMES for axis in "xyz"]
    sites = np.array(imu.IMU_SITES)
    present = ["+".join(sites[row]) for row in motion.grid.present[valid]]
    times = motion.grid.times_s[valid]
    positions = motion.positions_ros[valid].reshape(len(valid), -1)
    row_format = "%.4f,%d,%s," + ",".join(["%.5f"] * positions.shape[1])
    rows = (
        row_format % (t, s, p, *xyz)
        for t, s, p, xyz in zip(times.tolist(), motion.grid.stamps_ns[valid].tolist(), present, positions.tolist())
    )
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    return {"csv": path.name}


def write_outputs(analysis, out_dir: Path, config) -> dict:
    outputs = {"bag": BAG_NAME, "bag_topics": write_bag(analysis, out_dir / BAG_NAME, config)}
    outputs.update(write_arrays(analysis, out_dir))
    outputs.update(write_csv(analysis, out_dir))
    return outputs
