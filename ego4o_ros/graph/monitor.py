"""What the graph delivers, recorded by a process of its own for ``ego4o-graph-benchmark``:
``joint_states`` (stamp, wall time received), the captured and the replayed true poses,
the descriptions (``runner.CaptureMonitor``) and, for a run with the robot,
``robot/joint_states`` and SONIC's ZMQ messages (the pose's stamp from
``timestamp_realtime``, wall time received, frame indices, protocol version).

A process of its own, not the benchmark's, where the fusion node runs: there a monitor's
executor, socket thread and message decoding took 12 % of a core and the GIL from the fusion
node it was timing, and the fusion node's p99 latency doubled (39.9 -> 88.8 ms over 90 s
and 300 s runs, 2026-12-07). Users run the fusion node alone in its process.

    python -m ego4o_ros.graph.monitor --ros-args -p output:=record.npz [-p robot:=true] [-p sonic_endpoint:=tcp://...]

Ctrl-C (SIGINT) ends it; the record is written as it exits (``read_record`` loads it).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from .. import interface
from ..nodes.common import declare, reliable_qos, run_node, to_seconds
from .runner import CaptureMonitor

NODE_NAME = "graph_benchmark_monitor"


@dataclass
class MonitorRecord:
    joint_states: list[tuple[float, float]] = field(default_factory=list)  # (stamp, received)
    predicted: dict[float, np.ndarray] = field(default_factory=dict)  # stamp -> (22, 3)
    truth: dict[float, np.ndarray] = field(default_factory=dict)
    descriptions: list[str] = field(default_factory=list)
    robot_joint_states: list[tuple[float, float]] = field(default_factory=list)  # (stamp, received)
    zmq: list[tuple[float, float, list[int], int]] = field(default_factory=list)  # (stamp, received, indices, v)


class GraphMonitorNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.output = Path(declare(self, "output", "", "file the record is written to at exit (.npz)", nonempty=True))
        robot = declare(self, "robot", False, "also record robot/joint_states")
        endpoint = declare(self, "sonic_endpoint", "", "SONIC's ZMQ endpoint to subscribe to ('' = none)")
        self.capture = CaptureMonitor(self)
        self.robot_joint_states: list[tuple[float, float]] = []
        if robot:
            self.create_subscription(
                JointState, interface.ROBOT_JOINT_STATES, self._on_robot_joint_states, reliable_qos(100)
            )
        self._stop = threading.Event()
        self._raw: list[tuple[float, bytes]] = []
        self._listener = threading.Thread(target=self._listen, args=(endpoint,), daemon=True) if endpoint else None
        if self._listener is not None:
            self._listener.start()

    def _on_robot_joint_states(self, msg: JointState) -> None:
        self.robot_joint_states.append((to_seconds(msg.header.stamp), time.time()))

    def _listen(self, endpoint: str) -> None:
        import zmq

        from ..retarget.sonic import DEFAULT_TOPIC

        context = zmq.Context()
        socket = context.socket(zmq.SUB)
        socket.connect(endpoint)
        socket.setsockopt(zmq.SUBSCRIBE, DEFAULT_TOPIC.encode())
        while not self._stop.is_set():
            if socket.poll(100):
                self._raw.append((time.time(), socket.recv()))
        socket.close(0)
        context.term()

    def destroy_node(self):
        self._stop.set()
        if self._listener is not None:
            self._listener.join(10.0)
        capture = self.capture
        write_record(
            self.output,
            MonitorRecord(
                capture.joint_states,
                capture.predicted,
                capture.truth,
                capture.descriptions,
                self.robot_joint_states,
                decode_sonic(self._raw),
            ),
        )
        return super().destroy_node()


def decode_sonic(raw: list[tuple[float, bytes]]) -> list[tuple[float, float, list[int], int]]:
    """(received, message) -> (stamp, received, frame indices, version): after the run, which only receives."""
    from ..retarget.sonic import unpack

    out = []
    for received, message in raw:
        header, fields = unpack(message)
        out.append((float(fields["timestamp_realtime"][0]), received, fields["frame_index"].tolist(), header["v"]))
    return out


def _pairs(values) -> np.ndarray:
    return np.array(values, np.float64).reshape(-1, 2)


def _poses(poses: dict) -> tuple[np.ndarray, np.ndarray]:
    stamps = np.array(sorted(poses), np.float64)
    if not len(stamps):
        return stamps, np.zeros((0, 22, 3))
    return stamps, np.stack([poses[s] for s in stamps]).astype(np.float64)


def write_record(path: Path, record: MonitorRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    predicted_stamps, predicted = _poses(record.predicted)
    truth_stamps, truth = _poses(record.truth)
    with open(path, "wb") as out:  # a file object: savez would add .npz to the name
        np.savez(
            out,
            joint_states=_pairs(record.joint_states),
            predicted_stamps=predicted_stamps,
            predicted=predicted,
            truth_stamps=truth_stamps,
            truth=truth,
            descriptions=np.array(json.dumps(record.descriptions)),
            robot_joint_states=_pairs(record.robot_joint_states),
            zmq=_pairs([(stamp, received) for stamp, received, _, _ in record.zmq]),
            zmq_indices=np.array(json.dumps([(indices, version) for _, _, indices, version in record.zmq])),
        )


def read_record(path: Path) -> MonitorRecord:
    with np.load(path, allow_pickle=False) as data:
        indices = json.loads(str(data["zmq_indices"]))
        return MonitorRecord(
            [tuple(pair) for pair in data["joint_states"].tolist()],
            dict(zip(data["predicted_stamps"].tolist(), data["predicted"])),
            dict(zip(data["truth_stamps"].tolist(), data["truth"])),
            json.loads(str(data["descriptions"])),
            [tuple(pair) for pair in data["robot_joint_states"].tolist()],
            [(stamp, received, list(i), v) for (stamp, received), (i, v) in zip(data["zmq"].tolist(), indices)],
        )


def command(output: Path, robot: bool = False, sonic_endpoint: str | None = None) -> list[str]:
    """The command line that runs the monitor (values quoted: ROS reads them as YAML)."""
    arguments = ["--ros-args", "-p", f"output:={json.dumps(str(output))}", "-p", f"robot:={str(robot).lower()}"]
    if sonic_endpoint:
        arguments += ["-p", f"sonic_endpoint:={json.dumps(sonic_endpoint)}"]
    return [sys.executable, "-m", __name__, *arguments]


def main(args=None) -> int:
    return run_node(GraphMonitorNode, args)


if __name__ == "__main__":
    sys.exit(main())
