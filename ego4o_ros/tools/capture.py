"""Run the capture graph without ``launch``: ``ego4o-capture`` (the README's main job).

Starts the nodes of ``ego4o_ros/graph.py`` with ``config/capture.yaml``: wearable
replay of the bundled walk -> fusion -> captioning (its own process) -> back into
fusion, recording a bag, and prints a summary: output rate, latency, MPJPE against
the replayed ground truth, descriptions produced, the bag's topics.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def ros_environment(domain_id: int | None) -> dict:
    # Never leave the machine; a run gets its own domain unless told otherwise (REFERENCE.md 4).
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    return dict(os.environ)


def node_arguments(params: Path, spec, overrides: dict) -> list[str]:
    args = ["--ros-args", "--params-file", str(params), "-r", f"__node:={spec.name}"]
    for old, new in spec.remappings:
        args += ["-r", f"{old}:={new}"]
    for name, value in overrides.get(spec.name, {}).items():
        args += ["-p", f"{name}:={value}"]
    return args


def start_node_process(spec, params: Path, overrides: dict, env: dict) -> subprocess.Popen:
    """One node of the graph in its own Python process, as ``ros2 launch`` would run it."""
    return subprocess.Popen([sys.executable, "-m", spec.module, *node_arguments(params, spec, overrides)], env=env)


def stop_node_processes(children: list[subprocess.Popen], timeout: float = 10.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # a clean shutdown, as Ctrl-C would
    for child in children:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def sim_time_overrides(specs, replay_name: str = "wearable_replay") -> dict:
    """Every node follows the replay's /clock (replays faster than real time)."""
    return {spec.name: ({"publish_clock": True} if spec.name == replay_name else {"use_sim_time": True})
            for spec in specs}


def merge_overrides(*layers: dict) -> dict:
    merged: dict = {}
    for layer in layers:
        for name, values in layer.items():
            merged.setdefault(name, {}).update(values)
    return merged


class CaptureMonitor:
    """Listens to what the graph publishes and scores it (a plain rclpy node inside)."""

    def __init__(self, node):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseArray
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from ..nodes.common import positions_of, reliable_qos, sensor_qos, to_seconds
        self._positions_of, self._to_seconds = positions_of, to_seconds
        self.node = node
        self.joint_states: list[tuple[float, float]] = []    # (stamp, received)
        self.predicted, self.truth = {}, {}
        self.descriptions: list[str] = []
        self.fusion_status: dict[str, str] = {}
        node.create_subscription(JointState, "joint_states", self._on_joint_states, reliable_qos(100))
        node.create_subscription(PoseArray, "joint_poses", lambda m: self._on_poses(self.predicted, m), reliable_qos(100))
        # Best effort matches both the clip replay (reliable) and a bag replay (best effort).
        node.create_subscription(PoseArray, "ground_truth/joint_poses", lambda m: self._on_poses(self.truth, m),
                                 sensor_qos(100))
        node.create_subscription(String, "description", lambda m: self.descriptions.append(m.data), reliable_qos())
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, reliable_qos())

    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _on_joint_states(self, msg) -> None:
        self.joint_states.append((self._to_seconds(msg.header.stamp), self._now()))

    def _on_poses(self, store: dict, msg) -> None:
        store[self._to_seconds(msg.header.stamp)] = self._positions_of(msg)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name == "ego4o fusion: capture":
                self.fusion_status = {kv.key: kv.value for kv in status.values}

    def summary(self, lookahead_s: float, fps: float) -> dict:
        from ..live.scoring import match_by_stamp, score
        stamps = np.array([s for s, _ in self.joint_states])
        latency_ms = np.array([(r - s - lookahead_s) * 1000 for s, r in self.joint_states])
        span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
        accuracy = score(*match_by_stamp(self.predicted, self.truth, 0.5 / fps))
        return {"joint_states": len(stamps), "rate_hz": (len(stamps) - 1) / span if span > 0 else 0.0,
                "latency_p50_ms": float(np.percentile(latency_ms, 50)) if len(latency_ms) else float("nan"),
                "latency_p99_ms": float(np.percentile(latency_ms, 99)) if len(latency_ms) else float("nan"),
                **accuracy, "descriptions": self.descriptions, "fusion": self.fusion_status}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, help="parameter file (default: config/capture.yaml)")
    parser.add_argument("--clip", help="motion file to replay (default: the bundled walk)")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time)")
    parser.add_argument("--bag", help="bag directory to record (default: out/capture/ego4o_<time>)")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--foxglove", action="store_true", help="serve a Foxglove WebSocket on 127.0.0.1 (port in the params)")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the environment's, else per run)")
    parser.add_argument("--json", type=Path, help="write the summary here too")
    args = parser.parse_args(argv)

    env = ros_environment(args.domain_id)
    import rclpy
    import rclpy.parameter

    from ..graph import capture_graph, share_file
    from ..nodes.common import make_executor
    params = args.params or share_file("config", "capture.yaml")
    bag = Path(args.bag or time.strftime("out/capture/ego4o_%Y%m%d_%H%M%S"))
    overrides = {"wearable_replay": {"speed": args.speed, **({"clip": args.clip} if args.clip else {})},
                 "recorder": {"output": str(bag)}}
    specs = capture_graph(replay=True, record=not args.no_record, foxglove=args.foxglove)
    sim_time = args.speed != 1.0
    if sim_time:  # data stamps run ahead of the wall clock: follow the replay's /clock
        overrides = merge_overrides(overrides, sim_time_overrides(specs))
    print(f"ego4o-capture: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, localhost only, parameters {params}", flush=True)

    children = [start_node_process(spec, params, overrides, env) for spec in specs if spec.own_process]
    rclpy.init()
    nodes, executor = {}, make_executor()
    try:
        monitor_node = rclpy.create_node("capture_monitor",
                                         parameter_overrides=[rclpy.parameter.Parameter("use_sim_time", value=sim_time)])
        monitor = CaptureMonitor(monitor_node)
        executor.add_node(monitor_node)
        for spec in specs:
            if spec.own_process or spec.name == "wearable_replay":
                continue
            node_class = getattr(importlib.import_module(spec.module), spec.node_class)
            nodes[spec.name] = node_class(cli_args=node_arguments(params, spec, overrides))
            executor.add_node(nodes[spec.name])
        # Start the replay once the separate processes have joined, so nothing is missed.
        waited = time.monotonic()
        names = {s.name for s in specs if s.own_process}
        while names - set(monitor_node.get_node_names()) and time.monotonic() - waited < 60:
            executor.spin_once(timeout_sec=0.1)
        replay_spec = next(s for s in specs if s.name == "wearable_replay")
        replay_class = getattr(importlib.import_module(replay_spec.module), replay_spec.node_class)
        nodes["wearable_replay"] = replay = replay_class(cli_args=node_arguments(params, replay_spec, overrides))
        executor.add_node(replay)
        started = time.monotonic()
        while not replay.finished:
            executor.spin_once(timeout_sec=0.05)
        tail = time.monotonic()
        while time.monotonic() - tail < 1.5:  # let the last frames and descriptions arrive
            executor.spin_once(timeout_sec=0.05)
        wall = time.monotonic() - started
        fusion = nodes["fusion"]
        summary = monitor.summary(fusion.lookahead_s, fusion.capture.fps)
        summary.update(replayed_s=replay.duration, wall_s=wall, imu_messages=replay.published,
                       fusion_frames=fusion.published, restarts=fusion.capture.stats.restarts)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for node in nodes.values():
            executor.remove_node(node)
            node.destroy_node()   # the recorder closes its bag here
        executor.shutdown()
        rclpy.try_shutdown()
        stop_node_processes(children)
    if not args.no_record:
        from ..core.bag import bag_topics
        summary["bag"] = str(bag)
        summary["bag_topics"] = {t: n for t, (_, n) in bag_topics(bag).items()}
    print_summary(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if summary["joint_states"] > 0 else 1


def print_summary(s: dict) -> None:
    print(f"replayed {s['replayed_s']:.1f} s of wearable data ({s['imu_messages']} IMU messages) in {s['wall_s']:.1f} s")
    print(f"joint_states: {s['joint_states']} at {s['rate_hz']:.1f} Hz; latency newest IMU sample -> received "
          f"(look-ahead excluded) p50 {s['latency_p50_ms']:.1f} ms, p99 {s['latency_p99_ms']:.1f} ms")
    print(f"accuracy vs replayed ground truth ({s['frames']} frames): MPJPE {s['mpjpe_mm']:.1f} mm, "
          f"PA-MPJPE {s['pa_mpjpe_mm']:.1f} mm")
    fusion = s.get("fusion", {})
    print(f"fusion: dropped frames {fusion.get('dropped_frames', '?')}, descriptions received "
          f"{fusion.get('descriptions_received', '?')}, modalities: {fusion.get('active_modalities', '?')}")
    print(f"descriptions ({len(s['descriptions'])}):")
    for text in s["descriptions"]:
        print(f"  - {text}")
    if "bag" in s:
        print(f"bag {s['bag']}: " + ", ".join(f"{t} {n}" for t, n in sorted(s["bag_topics"].items())))


if __name__ == "__main__":
    sys.exit(main())
