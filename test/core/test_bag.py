"""Bags (ego4o_ros.core.bag): byte-equal round trip, what plain rosbags sees, and a recorder
killed with SIGKILL. Real files, real rosbags. Run as a script, this file is that recorder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from ego4o_ros.core.bag import (
    LOCK_NAME,
    BagError,
    BagWriter,
    TopicSpec,
    bag_topics,
    deserialize,
    needs_repair,
    read_bag,
)

MOTION_DESCRIPTION = """\
# A description of the wearer's recent motion, produced by the captioning node.
std_msgs/Header header
builtin_interfaces/Time window_start
builtin_interfaces/Time window_end
string text
string source
"""
IMU, STRING, MOTION = "sensor_msgs/msg/Imu", "std_msgs/msg/String", "ego4o_ros/msg/MotionDescription"
CUSTOM = {MOTION: MOTION_DESCRIPTION}
IMU_TOPIC = TopicSpec("/imu/left_wrist", IMU)  # sensor QoS
STATUS_TOPIC = TopicSpec("/status", STRING, "latched")
MOTION_TOPIC = TopicSpec("/description", MOTION, "reliable")  # added while recording
MOTION_FROM_TICK = 100
ROOT = Path(__file__).resolve().parents[2]

STORE = get_typestore(Stores.ROS2_KILTED)
STORE.register(get_types_from_msg(MOTION_DESCRIPTION, MOTION))


def cdr(msgtype: str, i: int) -> bytes:
    """Message number ``i`` of a type, serialised by rosbags (the same bytes in every process)."""
    t = STORE.types
    stamp = t["builtin_interfaces/msg/Time"](sec=1_700_000_000 + i // 100, nanosec=(i % 100) * 10_000_000)
    header = t["std_msgs/msg/Header"](stamp=stamp, frame_id="left_wrist")
    if msgtype == IMU:
        vector = t["geometry_msgs/msg/Vector3"]
        msg = t[IMU](
            header=header,
            orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=np.sin(i / 50), w=np.cos(i / 50)),
            orientation_covariance=np.full(9, 1e-3),
            angular_velocity=vector(x=0.1 * i, y=0.0, z=-1.0),
            angular_velocity_covariance=np.zeros(9),
            linear_acceleration=vector(x=0.0, y=9.81, z=i / 7),
            linear_acceleration_covariance=np.zeros(9),
        )
    elif msgtype == STRING:
        msg = t[STRING](data=f"status {i}: tracking" + "!" * (i % 5))
    else:
        msg = t[MOTION](
            header=header, window_start=stamp, window_end=stamp, text=f"the wearer walks, step {i}", source="captioner"
        )
    return STORE.serialize_cdr(msg, msgtype)


def events(tick: int):
    """What is written at a tick: Imu every tick, String every 20th, MotionDescription every 50th from tick 100."""
    yield IMU_TOPIC, tick
    if tick % 20 == 0:
        yield STATUS_TOPIC, tick // 20
    if tick >= MOTION_FROM_TICK and tick % 50 == 0:
        yield MOTION_TOPIC, (tick - MOTION_FROM_TICK) // 50


def write_tick(bag: BagWriter, tick: int, timestamp_ns: int) -> list[tuple[str, bytes]]:
    written = []
    for spec, i in events(tick):
        bag.add_topic(spec)  # a no-op once added; the first MotionDescription adds its topic mid-recording
        data = cdr(spec.msgtype, i)
        bag.write(spec.name, timestamp_ns, data)
        written.append((spec.name, data))
    return written


@pytest.fixture(scope="module")
def closed_bag(tmp_path_factory):
    """300 ticks at 100 Hz of bag time; the status messages are stamped 15 ms early (out of order)."""
    path = tmp_path_factory.mktemp("bags") / "closed"
    expected: dict[str, list[tuple[int, bytes]]] = {}
    with BagWriter(path, [IMU_TOPIC, STATUS_TOPIC], CUSTOM) as bag:
        for tick in range(300):
            for spec, i in events(tick):
                bag.add_topic(spec)  # a no-op once added: MotionDescription is added mid-recording
                stamp = 1_700_000_000_000_000_000 + tick * 10_000_000 - (15_000_000 if spec is STATUS_TOPIC else 0)
                data = cdr(spec.msgtype, i)
                bag.write(spec.name, stamp, data)
                expected.setdefault(spec.name, []).append((stamp, data))
        assert bag.messages_written == {topic: len(sent) for topic, sent in expected.items()}
    return path, expected


def test_round_trip_is_byte_equal_and_in_timestamp_order(closed_bag):
    path, expected = closed_bag
    messages = list(read_bag(path))
    stamps = [m.timestamp_ns for m in messages]
    assert stamps == sorted(stamps)
    for topic, sent in expected.items():
        got = [(m.timestamp_ns, m.cdr) for m in messages if m.topic == topic]
        assert got == sent, topic
    assert bag_topics(path) == {
        IMU_TOPIC.name: (IMU, 300),
        STATUS_TOPIC.name: (STRING, 15),
        MOTION_TOPIC.name: (MOTION, 4),
    }
    assert not (path / LOCK_NAME).exists()


def test_definitions_are_stored_and_deserialize_uses_them(closed_bag):
    path, _ = closed_bag
    with Reader(path) as reader:
        definitions = {c.msgtype: c.msgdef.data for c in reader.connections}
    assert "string source" in definitions[MOTION] and "MSG: std_msgs/Header" in definitions[MOTION]
    assert "MSG: geometry_msgs/Quaternion" in definitions[IMU]
    motion = next(m for m in read_bag(path) if m.msgtype == MOTION)
    msg = deserialize(motion)  # works although nobody registered MotionDescription in this process's store
    assert (msg.text, msg.source, msg.header.frame_id) == ("the wearer walks, step 0", "captioner", "left_wrist")
    imu = deserialize(next(m for m in read_bag(path) if m.msgtype == IMU))
    assert imu.linear_acceleration.y == 9.81 and imu.orientation_covariance.shape == (9,)


def test_qos_profiles_are_in_metadata_and_channels(closed_bag):
    path, _ = closed_bag
    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"
    qos = {
        t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"]
        for t in info["topics_with_message_count"]
    }
    assert isinstance(qos[IMU_TOPIC.name][0], dict)  # v9: a list of mappings, not a YAML string (v8)
    assert [(q["reliability"], q["durability"], q["history"], q["depth"]) for q in qos[IMU_TOPIC.name]] == [
        ("best_effort", "volatile", "keep_last", 200)
    ]
    assert [(q["reliability"], q["durability"], q["depth"]) for q in qos[STATUS_TOPIC.name]] == [
        ("reliable", "transient_local", 1)
    ]
    assert [(q["reliability"], q["durability"], q["depth"]) for q in qos[MOTION_TOPIC.name]] == [
        ("reliable", "volatile", 10)
    ]
    assert all(
        t["topic_metadata"]["type_description_hash"].startswith("RIHS01_") for t in info["topics_with_message_count"]
    )


def test_plain_rosbags_reads_the_closed_bag(closed_bag):
    path, expected = closed_bag
    seen: dict[str, int] = {}
    with AnyReader([path]) as reader:  # its own typestore, built from the definitions in the bag
        durability = {c.topic: c.ext.offered_qos_profiles[0].durability.name for c in reader.connections}
        for connection, _, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            seen[connection.topic] = seen.get(connection.topic, 0) + 1
            if connection.msgtype == MOTION:
                assert msg.source == "captioner"
    assert seen == {topic: len(sent) for topic, sent in expected.items()}
    assert durability[STATUS_TOPIC.name] == "TRANSIENT_LOCAL" and durability[IMU_TOPIC.name] == "VOLATILE"


def test_sigkilled_recorder_loses_at_most_about_one_flush_period(tmp_path):
    path = tmp_path / "killed"
    # The repository on the path as `python -m pytest` has it (the child starts in test/).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    recorder = subprocess.Popen([sys.executable, __file__, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in recorder.stdout:
            if int(line) >= 390:  # 1.95 s at 200 Hz, just before the 2nd flush: about the worst case
                break
        killed_ns = time.time_ns()
        recorder.send_signal(signal.SIGKILL)
        last_tick = int(([line] + recorder.stdout.read().split())[-1])  # written (printed after write())
    finally:
        recorder.kill()
        recorder.wait()
    assert recorder.returncode == -signal.SIGKILL
    assert needs_repair(path)

    messages = list(read_bag(path))  # repairs the bag first
    imu = [m for m in messages if m.topic == IMU_TOPIC.name]
    # A prefix of what was written, byte for byte, on every topic (also the one added mid-recording).
    sent = {
        spec.name: [cdr(spec.msgtype, i) for t in range(len(imu)) for s, i in events(t) if s is spec]
        for spec in (IMU_TOPIC, STATUS_TOPIC, MOTION_TOPIC)
    }
    for topic, cdrs in sent.items():
        assert [m.cdr for m in messages if m.topic == topic] == cdrs, topic
    lost, lost_s = last_tick + 1 - len(imu), (killed_ns - imu[-1].timestamp_ns) * 1e-9
    print(
        f"SIGKILL at tick {last_tick} (200 Hz): recovered {len(imu)} Imu messages, lost {lost} "
        f"= {lost_s:.2f} s before the kill"
    )
    assert len(imu) >= 150 and lost_s < 1.5  # flush period 1 s, plus the flush and a busy 2-core machine

    # Complete again: plain rosbags reads it, with the QoS profiles kept from the MCAP channels.
    assert not needs_repair(path) and not (path / LOCK_NAME).exists()
    with Reader(path) as reader:
        qos = {c.topic: c.ext.offered_qos_profiles[0].reliability.name for c in reader.connections}
        assert reader.message_count == len(messages)
    assert qos[IMU_TOPIC.name] == "BEST_EFFORT" and qos[STATUS_TOPIC.name] == "RELIABLE"


def test_repair_keeps_every_complete_chunk_wherever_the_file_is_cut(tmp_path):
    """A kill can stop the file at any byte: cut copies of a flushed, unclosed bag everywhere."""
    path = tmp_path / "live"
    written: list[tuple[str, bytes]] = []
    with BagWriter(path, [IMU_TOPIC, STATUS_TOPIC], CUSTOM, flush_period_s=60) as bag:
        for tick in range(200):
            written += write_tick(bag, tick, 1_000 + tick)
            if tick % 25 == 24:
                bag.flush()  # 8 chunks
        image = (path / "live.mcap").read_bytes()  # what is on disk at a kill now
        bag.write(IMU_TOPIC.name, 5_000, b"never flushed")
    recovered_before = -1
    for cut in [*range(0, len(image), len(image) // 23), len(image) - 1, len(image)]:
        torn = tmp_path / f"cut{cut}"
        torn.mkdir()
        (torn / "live.mcap").write_bytes(image[:cut])
        got = [(m.topic, m.cdr) for m in read_bag(torn)]
        assert got == written[: len(got)]  # a prefix, whole
        assert len(got) >= recovered_before
        recovered_before = len(got)
    assert recovered_before == len(written)  # the uncut image holds every flushed message


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path, [IMU_TOPIC]) as bag:
        bag.write(IMU_TOPIC.name, 1, cdr(IMU, 0))
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(FileExistsError, match="exists already"):
        BagWriter(path, [IMU_TOPIC])
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_missing_or_foreign_bag_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rosbag2 directory"):
        read_bag(tmp_path / "nowhere")  # raised at the call, not at the first next()
    with pytest.raises(FileNotFoundError, match="no rosbag2 directory"):
        bag_topics(tmp_path / "nowhere")
    with pytest.raises(BagError, match="no .mcap file"):
        read_bag(tmp_path)


def test_a_bag_being_recorded_is_not_repaired_under_its_writer(tmp_path):
    path = tmp_path / "recording"
    with BagWriter(path, [IMU_TOPIC]) as bag:
        bag.write(IMU_TOPIC.name, 1, cdr(IMU, 0))
        bag.flush()
        with pytest.raises(BagError, match="still being recorded"):
            read_bag(path)
    assert [m.cdr for m in read_bag(path)] == [cdr(IMU, 0)]


def test_bad_topics_are_refused(tmp_path):
    with BagWriter(tmp_path / "bag", [IMU_TOPIC]) as bag:
        with pytest.raises(ValueError, match="unknown QoS"):
            bag.add_topic(TopicSpec("/x", IMU, "fast"))
        with pytest.raises(ValueError, match="unknown message type"):
            bag.add_topic(TopicSpec("/y", MOTION))  # no custom definitions given
        with pytest.raises(ValueError, match="recorded as"):
            bag.add_topic(TopicSpec(IMU_TOPIC.name, STRING))
        with pytest.raises(KeyError, match="add_topic first"):
            bag.write("/z", 1, b"")


def record_until_killed(path: Path, rate_hz: float = 200.0) -> None:
    """The recorder the SIGKILL test runs: the default 1 s flush period, wall-clock stamps."""
    with BagWriter(path, [IMU_TOPIC, STATUS_TOPIC], CUSTOM) as bag:
        start = time.monotonic()
        for tick in range(100_000):
            time.sleep(max(0.0, start + tick / rate_hz - time.monotonic()))
            write_tick(bag, tick, time.time_ns())
            print(tick, flush=True)


if __name__ == "__main__":
    record_until_killed(Path(sys.argv[1]))
