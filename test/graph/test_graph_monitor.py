"""The graph benchmark's monitor, in a process of its own: what it receives (here on
robot/joint_states and on SONIC's ZMQ stream) is in its record when Ctrl-C ends it."""

import json
import os
import subprocess
import sys
import time

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 45) % 100))

import numpy as np
import pytest
import zmq
from geometry_msgs.msg import PoseArray
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

from ego4o_ros import interface
from ego4o_ros.graph import monitor as graph_monitor
from ego4o_ros.graph.benchmark import free_port
from ego4o_ros.graph.harness import Harness, stop_processes
from ego4o_ros.nodes.common import pose_array, reliable_qos, to_stamp
from ego4o_ros.retarget.sonic import pack

pytestmark = pytest.mark.ros


def test_the_monitor_process_records_joint_states_and_sonic_messages(tmp_path):
    record_path = tmp_path / "record.npz"
    port = free_port()
    context = zmq.Context()
    socket = context.socket(zmq.PUB)
    socket.bind(f"tcp://127.0.0.1:{port}")
    try:
        with Harness() as graph:
            node = graph.create_node("graph_monitor_test_publisher")
            publisher = node.create_publisher(JointState, interface.ROBOT_JOINT_STATES, reliable_qos())
            fusion_joint_states = node.create_publisher(JointState, interface.JOINT_STATES, reliable_qos())
            poses = node.create_publisher(PoseArray, interface.JOINT_POSES, reliable_qos())
            monitor = graph.start_command(graph_monitor.command(record_path, True, f"tcp://127.0.0.1:{port}"))
            assert not graph.wait_ready({graph_monitor.NODE_NAME}, 30)
            graph.spin_until(lambda: min(p.get_subscription_count() for p in (publisher, poses)) > 0, 10)
            time.sleep(0.5)  # the SUB socket's connection (ZMQ joins asynchronously)
            sent = []
            for i in range(20):
                stamp = 1000.0 + i / 30
                header = Header(stamp=to_stamp(stamp), frame_id="world")
                publisher.publish(JointState(header=header, name=["a"], position=[0.1 * i]))
                fusion_joint_states.publish(JointState(header=header, name=["a"], position=[0.1 * i]))
                poses.publish(pose_array(header, np.full((22, 3), float(i))))
                fields = {"frame_index": np.array([2 * i, 2 * i + 1], np.int64)}
                fields["timestamp_realtime"] = np.array([stamp], np.float64)
                socket.send(pack(fields, 3, count=2))
                sent.append(stamp)
                graph.spin(0.02)
            graph.spin(0.5)
            stop_processes([monitor])
            assert monitor.returncode == 0
    finally:
        socket.close(0)
        context.term()
    record = graph_monitor.read_record(record_path)
    assert [s for s, _ in record.robot_joint_states] == pytest.approx(sent, abs=1e-6)
    assert [s for s, _ in record.joint_states] == pytest.approx(sent, abs=1e-6)
    assert sorted(record.predicted) == pytest.approx(sent, abs=1e-6)
    assert [float(p.mean()) for _, p in sorted(record.predicted.items())] == list(range(20))
    assert record.predicted[min(record.predicted)].shape == (22, 3) and record.truth == {}
    assert [s for s, *_ in record.zmq] == pytest.approx(sent)
    assert [i for *_, indices, _ in record.zmq for i in indices] == list(range(40))
    assert {v for *_, v in record.zmq} == {3}
    received = np.array([r for _, r in record.robot_joint_states])
    assert (np.diff(received) >= 0).all() and abs(received[-1] - time.time()) < 30  # wall times


def test_a_short_graph_benchmark_with_the_robot_counts_every_frame(tmp_path):
    """The benchmark end to end (its monitor in its own process): 8 s of the live graph with the
    G1 and SONIC's stream; every frame reaches the monitor and the robot side."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(100 + (os.getpid() + 49) % 100))
    command = [sys.executable, "-m", "ego4o_ros.tools.graph_benchmark", "--duration", "8", "--speeds", ""]
    command += ["--robot", "g1", "--sonic", "3", "--out", str(tmp_path), "--json", str(tmp_path / "result.json")]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    live = json.loads((tmp_path / "result.json").read_text())["live"]
    assert live["frames_received"] == live["frames_expected"] >= 200
    assert live["robot_received"] >= live["frames_received"] and live["robot_missing"] == 0
    assert live["zmq_consecutive"] and live["zmq_versions"] == [3]
    assert 0 < live["robot_latency_p50_ms"] <= live["robot_latency_p99_ms"] < 1000
    assert live["process_cpu"]["monitor (the benchmark's)"] > 0
    assert "IMU stamp -> robot/joint_states" in run.stdout
