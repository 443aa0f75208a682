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

from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402

from ego4o_ros import interface  # noqa: E402
from ego4o_ros.core.bag import bag_topics  # noqa: E402
from ego4o_ros.graph.harness import Harness, start_child  # noqa: E402
from ego4o_ros.nodes.common import reliable_qos, sensor_qos, to_seconds  # noqa: E402
from ego4o_ros.nodes.fusion_node import FusionNode  # noqa: E402
from ego4o_ros.nodes.recorder_node import RecorderNode  # noqa: E402
from ego4o_ros.nodes.wearable_replay_node import WearableReplayNode  # noqa: E402

pytestmark = pytest.mark.ros

IMU_TOPICS = ["/" + interface.imu_topic(site) for site in interface.DEFAULT_SITES]


def parameters(**values):
    return [Parameter(name, value=value) for name, value in values.items()]


@pytest.fixture
def graph():
    # One harness (rclpy, executor) per test: an events executor may still hold events of
    # nodes an earlier test destroyed.
    with Harness() as harness:
        yield harness


def run_nodes(graph, nodes, seconds=None, until=None, timeout=30.0):
    """Spin ``nodes`` for ``seconds`` or until ``until()`` (failing after ``timeout``), then destroy them."""
    for node in nodes:
        graph.add(node)
    try:
        if seconds is not None:
            graph.spin(seconds, poll_s=0.02)
        else:
            assert graph.spin_until(until, timeout_s=timeout, poll_s=0.02), "timed out"
    finally:
        graph.remove(*nodes)


@pytest.fixture(scope="module")
def recorded_bag(tmp_path_factory):
    """The recorder starts first, the replay later (as in ego4o-capture)."""
    path = tmp_path_factory.mktemp("replay") / "bag"
    with Harness() as graph:
        recorder = graph.add(
            RecorderNode(
                parameter_overrides=parameters(
                    output=str(path), topics=IMU_TOPICS + ["/" + interface.GROUND_TRUTH_POSES], discovery_period=0.1
                )
            )
        )
        graph.spin(0.5, poll_s=0.02)
        replay = WearableReplayNode(parameter_overrides=parameters(max_duration=2.0, start_delay=0.3))
        run_nodes(graph, [replay], until=lambda: replay.finished)
        graph.spin(0.3, poll_s=0.02)
        graph.remove(recorder)  # closes the bag
    return path


def test_recorder_started_before_the_replay_records_every_topic(recorded_bag):
    topics = bag_topics(recorded_bag)
    for topic in IMU_TOPICS:
        assert topics[topic] == ("sensor_msgs/msg/Imu", pytest.approx(200, abs=3))
    assert topics["/" + interface.GROUND_TRUTH_POSES][1] == pytest.approx(60, abs=2)


def test_looped_clip_keeps_stamps_increasing_at_the_device_rate(graph):
    probe = graph.create_node("loop_probe")
    stamps = []
    probe.create_subscription(
        Imu, interface.imu_topic("head"), lambda m: stamps.append(to_seconds(m.header.stamp)), sensor_qos()
    )
    replay = WearableReplayNode(parameter_overrides=parameters(max_duration=0.5, loop=True, start_delay=0.3))
    run_nodes(graph, [replay], seconds=1.9)
    gaps = np.diff(stamps)
    assert len(stamps) > 120  # three loops of a 0.5 s clip
    np.testing.assert_allclose(gaps, 0.01, atol=1e-6)


def test_bag_replays_faster_than_real_time_into_fusion_on_the_bag_clock(graph, recorded_bag):
    probe = graph.create_node("bag_probe")
    states, clock, imu_count = [], [], []
    probe.create_subscription(JointState, interface.JOINT_STATES, states.append, reliable_qos(100))
    probe.create_subscription(Clock, "/clock", lambda m: clock.append(to_seconds(m.clock)), reliable_qos(100))
    probe.create_subscription(Imu, interface.imu_topic("head"), imu_count.append, sensor_qos())
    fusion = FusionNode(parameter_overrides=parameters(use_sim_time=True, use_text=False))
    # 2x: what this graph sustains on 2 cores without losing inputs (ego4o-graph-benchmark).
    replay = WearableReplayNode(
        parameter_overrides=parameters(bag=str(recorded_bag), speed=2.0, publish_clock=True, start_delay=0.3)
    )
    started = time.monotonic()
    run_nodes(graph, [fusion, replay], until=lambda: replay.finished)
    wall = time.monotonic() - started
    stamps = np.array([to_seconds(s.header.stamp) for s in states])
    assert wall < 0.3 + 2.0 / 2 + 0.6  # 2 s of data at 2x
    in_bag = bag_topics(recorded_bag)["/" + interface.imu_topic("head")][1]
    assert len(imu_count) >= 0.95 * in_bag  # the bag's head IMU, republished (best effort, at 2x)
    assert np.all(np.diff(clock) >= 0) and clock[-1] - clock[0] == pytest.approx(2.0, abs=0.1)
    assert len(stamps) >= 55  # ~60 frames of the 2 s, none skipped
    np.testing.assert_allclose(np.diff(stamps), 1 / 30, atol=1e-4)
    capture = fusion.fusion.capture
    assert capture.stats.dropped == 0
    assert sum(b.rejected["stamp_in_future"] for b in capture.buffers.values()) == 0


def test_foxglove_view_serves_graph_topics_as_ros2_cdr(graph):
    from rclpy.serialization import deserialize_message
    from websockets.sync.client import connect

    from ego4o_ros.core import joint_angles
    from ego4o_ros.nodes.foxglove_node import FoxgloveViewNode

    probe = graph.create_node("foxglove_probe")
    publisher = probe.create_publisher(JointState, interface.JOINT_STATES, reliable_qos())
    view = graph.add(FoxgloveViewNode(parameter_overrides=parameters(port=0, discovery_period=0.1)))
    try:
        assert graph.spin_until(lambda: "/joint_states" in view.channels, timeout_s=10, poll_s=0.02), "timed out"
        with connect(f"ws://127.0.0.1:{view.port}", subprotocols=["foxglove.sdk.v1"], open_timeout=5) as client:
            assert json.loads(client.recv(timeout=5))["op"] == "serverInfo"
            advertised = json.loads(client.recv(timeout=5))
            channel = next(c for c in advertised["channels"] if c["topic"] == "/joint_states")
            assert (channel["encoding"], channel["schemaEncoding"]) == ("cdr", "ros2msg")
            assert channel["schemaName"] == "sensor_msgs/JointState" and "float64[] position" in channel["schema"]
            client.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 7, "channelId": channel["id"]}]}))
            graph.spin(0.3, poll_s=0.02)
            msg = JointState(name=list(joint_angles.DOF_NAMES), position=[0.1] * len(joint_angles.DOF_NAMES))
            publisher.publish(msg)
            assert graph.spin_until(lambda: view.forwarded["/joint_states"] >= 1, timeout_s=5, poll_s=0.02)
            frame = client.recv(timeout=5)
            while isinstance(frame, str):  # status or other JSON before the data
                frame = client.recv(timeout=5)
        # opcode 1 (message data), subscription id, log time, then the CDR bytes unchanged
        assert frame[0] == 1 and struct.unpack_from("<I", frame, 1)[0] == 7
        assert deserialize_message(bytes(frame[13:]), JointState) == msg
    finally:
        graph.remove(view)
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
    process = start_child(
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
