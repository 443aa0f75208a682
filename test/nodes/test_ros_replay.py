"""Wearable replay, recorder and Foxglove view with real rclpy (localhost discovery, this
run's own domain): a recorder started before its publishers records them; a looped clip
keeps its stamps increasing; a recorded bag replays faster than real time with /clock, and
a fusion node following that clock captures it at the model rate; a Foxglove client gets
the graph's messages as ROS 2 CDR."""

import json
import os
import socket
import struct
import time

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 50) % 100))

import rclpy  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402

from ego4o_ros.core.bag import bag_topics  # noqa: E402
from ego4o_ros.nodes.common import make_executor, reliable_qos, sensor_qos, to_seconds  # noqa: E402
from ego4o_ros.nodes.fusion_node import FusionNode  # noqa: E402
from ego4o_ros.nodes.recorder_node import RecorderNode  # noqa: E402
from ego4o_ros.nodes.wearable_replay_node import WearableReplayNode  # noqa: E402

pytestmark = pytest.mark.ros

IMU_TOPICS = ["/imu/left_wrist", "/imu/right_pocket", "/imu/head"]


def parameters(**values):
    return [Parameter(name, value=value) for name, value in values.items()]


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def fresh_executor():
    # One per test: the events executor may still hold events of nodes an earlier test destroyed.
    return make_executor()


@pytest.fixture
def executor(ros):
    executor = fresh_executor()
    yield executor
    executor.shutdown()


def spin(executor, seconds=None, until=None, timeout=30.0):
    started = time.monotonic()
    while time.monotonic() - started < (seconds if seconds is not None else timeout):
        executor.spin_once(timeout_sec=0.02)
        if until is not None and until():
            return
    assert seconds is not None, "timed out"


def run_nodes(executor, nodes, **spin_args):
    for node in nodes:
        executor.add_node(node)
    try:
        spin(executor, **spin_args)
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()


@pytest.fixture(scope="module")
def recorded_bag(ros, tmp_path_factory):
    """The recorder starts first, the replay later (as in ego4o-capture)."""
    executor = fresh_executor()
    path = tmp_path_factory.mktemp("replay") / "bag"
    recorder = RecorderNode(
        parameter_overrides=parameters(
            output=str(path), topics=IMU_TOPICS + ["/ground_truth/joint_poses"], discovery_period=0.1
        )
    )
    executor.add_node(recorder)
    spin(executor, seconds=0.5)
    replay = WearableReplayNode(parameter_overrides=parameters(max_duration=2.0, start_delay=0.3))
    run_nodes(executor, [replay], until=lambda: replay.finished)
    spin(executor, seconds=0.3)
    executor.remove_node(recorder)
    recorder.destroy_node()
    executor.shutdown()
    return path


def test_recorder_started_before_the_replay_records_every_topic(recorded_bag):
    topics = bag_topics(recorded_bag)
    for topic in IMU_TOPICS:
        assert topics[topic] == ("sensor_msgs/msg/Imu", pytest.approx(200, abs=3))
    assert topics["/ground_truth/joint_poses"][1] == pytest.approx(60, abs=2)


def test_looped_clip_keeps_stamps_increasing_at_the_device_rate(executor):
    probe = rclpy.create_node("loop_probe")
    stamps = []
    probe.create_subscription(Imu, "imu/head", lambda m: stamps.append(to_seconds(m.header.stamp)), sensor_qos())
    replay = WearableReplayNode(parameter_overrides=parameters(max_duration=0.5, loop=True, start_delay=0.3))
    run_nodes(executor, [probe, replay], seconds=1.9)
    gaps = np.diff(stamps)
    assert len(stamps) > 120  # three loops of a 0.5 s clip
    np.testing.assert_allclose(gaps, 0.01, atol=1e-6)


def test_bag_replays_faster_than_real_time_into_fusion_on_the_bag_clock(executor, recorded_bag):
    probe = rclpy.create_node("bag_probe")
    states, clock, imu_count = [], [], []
    probe.create_subscription(JointState, "joint_states", states.append, reliable_qos(100))
    probe.create_subscription(Clock, "/clock", lambda m: clock.append(to_seconds(m.clock)), reliable_qos(100))
    probe.create_subscription(Imu, "imu/head", imu_count.append, sensor_qos())
    fusion = FusionNode(parameter_overrides=parameters(use_sim_time=True, use_text=False))
    # 2x: what this graph sustains on 2 cores without losing inputs (ego4o-graph-benchmark).
    replay = WearableReplayNode(
        parameter_overrides=parameters(bag=str(recorded_bag), speed=2.0, publish_clock=True, start_delay=0.3)
    )
    started = time.monotonic()
    run_nodes(executor, [probe, fusion, replay], until=lambda: replay.finished)
    wall = time.monotonic() - started
    stamps = np.array([to_seconds(s.header.stamp) for s in states])
    assert wall < 0.3 + 2.0 / 2 + 0.6  # 2 s of data at 2x
    assert len(imu_count) >= 195  # the bag's head IMU, republished
    assert np.all(np.diff(clock) >= 0) and clock[-1] - clock[0] == pytest.approx(2.0, abs=0.1)
    assert len(stamps) >= 55  # ~60 frames of the 2 s, none skipped
    np.testing.assert_allclose(np.diff(stamps), 1 / 30, atol=1e-4)
    assert fusion.capture.stats.dropped == 0
    assert sum(b.rejected["stamp_in_future"] for b in fusion.capture.buffers.values()) == 0


def test_foxglove_view_serves_graph_topics_as_ros2_cdr(executor):
    from rclpy.serialization import deserialize_message
    from websockets.sync.client import connect

    from ego4o_ros.core import joint_angles
    from ego4o_ros.nodes.foxglove_node import FoxgloveViewNode

    probe = rclpy.create_node("foxglove_probe")
    publisher = probe.create_publisher(JointState, "joint_states", reliable_qos())
    view = FoxgloveViewNode(parameter_overrides=parameters(port=0, discovery_period=0.1))
    for node in (probe, view):
        executor.add_node(node)
    try:
        spin(executor, until=lambda: "/joint_states" in view.channels, timeout=10)
        with connect(f"ws://127.0.0.1:{view.port}", subprotocols=["foxglove.sdk.v1"], open_timeout=5) as client:
            assert json.loads(client.recv(timeout=5))["op"] == "serverInfo"
            advertised = json.loads(client.recv(timeout=5))
            channel = next(c for c in advertised["channels"] if c["topic"] == "/joint_states")
            assert (channel["encoding"], channel["schemaEncoding"]) == ("cdr", "ros2msg")
            assert channel["schemaName"] == "sensor_msgs/JointState" and "float64[] position" in channel["schema"]
            client.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 7, "channelId": channel["id"]}]}))
            spin(executor, seconds=0.3)
            msg = JointState(name=list(joint_angles.DOF_NAMES), position=[0.1] * len(joint_angles.DOF_NAMES))
            publisher.publish(msg)
            spin(executor, until=lambda: view.forwarded["/joint_states"] >= 1, timeout=5)
            frame = client.recv(timeout=5)
            while isinstance(frame, str):  # status or other JSON before the data
                frame = client.recv(timeout=5)
        # opcode 1 (message data), subscription id, log time, then the CDR bytes unchanged
        assert frame[0] == 1 and struct.unpack_from("<I", frame, 1)[0] == 7
        assert deserialize_message(bytes(frame[13:]), JointState) == msg
    finally:
        for node in (probe, view):
            executor.remove_node(node)
            node.destroy_node()
    deadline = time.monotonic() + 5  # the server stops with the node (asynchronously)
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", view.port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"port {view.port} still open after the node was destroyed")


def test_ctrl_c_stops_a_node_process_cleanly(tmp_path):
    """SIGINT (Ctrl-C, ros2 launch's shutdown) ends the spin loop: exit 0, the bag closed."""
    import signal
    import subprocess
    import sys

    bag = tmp_path / "bag"
    process = subprocess.Popen(
        [sys.executable, "-m", "ego4o_ros.nodes.recorder_node", "--ros-args", "-p", f"output:={bag}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (bag / "recording.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert (bag / "metadata.yaml").exists(), output
