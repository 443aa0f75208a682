"""Run the capture graph in one command, without ``launch`` (``ego4o-capture`` is the front end).

Starts the nodes of ``ego4o_ros/graph.py`` with ``config/capture.yaml``: wearable
replay of the bundled walk -> fusion -> captioning (its own process) -> back into
fusion, recording a bag, and prints a summary: output rate, latency, MPJPE against
the replayed ground truth, descriptions produced, the bag's topics.
"""

from __future__ import annotations

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
    # Never leave the machine (localhost discovery); a run gets its own domain unless told otherwise.
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    return dict(os.environ)


def parameter_value(value) -> str:
    """A value for ``-p name:=value``, which ROS reads as YAML: strings are quoted (JSON is
    YAML), so ``walk #1.bvh`` stays one string and "true" stays text."""
    return (
        json.dumps(list(value) if isinstance(value, tuple) else value)
        if isinstance(value, (str, list, tuple))
        else str(value)
    )


def node_arguments(params: Path, spec, overrides: dict) -> list[str]:
    args = ["--ros-args", "--params-file", str(params), "-r", f"__node:={spec.name}"]
    for old, new in spec.remappings:
        args += ["-r", f"{old}:={new}"]
    for name, value in overrides.get(spec.name, {}).items():
        args += ["-p", f"{name}:={parameter_value(value)}"]
    return args


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, even by kill -9 (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_child(command: list[str], env: dict | None = None) -> subprocess.Popen:
    """A child process that ends when this process ends, however it ends (no orphans
    reparented to PID 1 after a ``kill -9``)."""
    return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


def start_node_process(spec, params: Path, overrides: dict, env: dict) -> subprocess.Popen:
    """One node of the graph in its own Python process, as ``ros2 launch`` would run it."""
    return start_child([sys.executable, "-m", spec.module, *node_arguments(params, spec, overrides)], env)


def ready_nodes(observer, names: set[str]) -> set[str]:
    """Of ``names``, the nodes that have joined and created a topic of their own (not only
    the /rosout and /parameter_events every node has from the start)."""
    present = set(observer.get_node_names())
    ready = set()
    for name in names & present:
        try:
            topics = observer.get_publisher_names_and_types_by_node(name, "/")
            topics += observer.get_subscriber_names_and_types_by_node(name, "/")
        except Exception:  # the node left between the two calls
            continue
        if {t for t, _ in topics} - {"/rosout", "/parameter_events"}:
            ready.add(name)
    return ready


def check_params_file(path: Path) -> None:
    """A parameter file ROS can read, with sections of nodes it has: one line otherwise."""
    import yaml

    if not Path(path).is_file():
        raise SystemExit(f"ego4o-capture: parameter file {path} does not exist")
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SystemExit(f"ego4o-capture: {path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("ros__parameters"), dict) for v in data.values()
    ):
        raise SystemExit(f"ego4o-capture: {path}: expected 'node_name: {{ros__parameters: {{...}}}}' sections")


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


LOADING = {
    "fusion": "the capture model, ONNX export and text encoder, 5-30 s",
    "recorder": "opening the bag",
    "wearable_replay": "synthesising the wearables",
}


def check_clip(path: str) -> None:
    """The motion file to replay can be read: one line and exit otherwise."""
    from ..readers import read_clip

    if not Path(path).is_file():
        raise SystemExit(f"ego4o-capture: --clip {path}: no such file")
    try:
        read_clip(path, target_fps=30)
    except (ValueError, KeyError, OSError) as error:
        raise SystemExit(f"ego4o-capture: --clip {path}: {str(error).splitlines()[0]}") from None


def wait_for_stragglers(executor, fusion, monitor, quiet_s: float = 1.5, limit_s: float = 10.0) -> None:
    """After the replay: spin until nothing new has arrived for ``quiet_s`` (IMU messages
    still queued, the last frames and descriptions), at most ``limit_s``."""

    def progress():
        return (
            sum(b.accepted + sum(b.rejected.values()) for b in fusion.capture.buffers.values()),
            fusion.published,
            len(monitor.joint_states),
            len(monitor.descriptions),
        )

    start = last_change = time.monotonic()
    seen = progress()
    while time.monotonic() - last_change < quiet_s and time.monotonic() - start < limit_s:
        executor.spin_once(timeout_sec=0.05)
        now_seen = progress()
        if now_seen != seen:
            seen, last_change = now_seen, time.monotonic()


def sim_time_overrides(specs, replay_name: str = "wearable_replay") -> dict:
    """Every node follows the replay's /clock (replays faster than real time)."""
    return {
        spec.name: ({"publish_clock": True} if spec.name == replay_name else {"use_sim_time": True}) for spec in specs
    }


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
        self.joint_states: list[tuple[float, float]] = []  # (stamp, received)
        self.predicted, self.truth = {}, {}
        self.descriptions: list[str] = []
        self.fusion_status: dict[str, str] = {}
        self.modalities_seen: set[str] = set()  # during the run, not only at its end
        node.create_subscription(JointState, "joint_states", self._on_joint_states, reliable_qos(100))
        node.create_subscription(
            PoseArray, "joint_poses", lambda m: self._on_poses(self.predicted, m), reliable_qos(100)
        )
        # Best effort matches both the clip replay (reliable) and a bag replay (best effort).
        node.create_subscription(
            PoseArray, "ground_truth/joint_poses", lambda m: self._on_poses(self.truth, m), sensor_qos(100)
        )
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
                self.modalities_seen.update(self.fusion_status.get("active_modalities", "").split())

    def summary(self, lookahead_s: float, fps: float) -> dict:
        from ..live.scoring import match_by_stamp, score

        stamps = np.array([s for s, _ in self.joint_states])
        latency_ms = np.array([(r - s - lookahead_s) * 1000 for s, r in self.joint_states])
        span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
        accuracy = score(*match_by_stamp(self.predicted, self.truth, 0.5 / fps))
        return {
            "joint_states": len(stamps),
            "rate_hz": (len(stamps) - 1) / span if span > 0 else 0.0,
            "latency_p50_ms": float(np.percentile(latency_ms, 50)) if len(latency_ms) else float("nan"),
            "latency_p99_ms": float(np.percentile(latency_ms, 99)) if len(latency_ms) else float("nan"),
            **accuracy,
            "descriptions": self.descriptions,
            "fusion": self.fusion_status,
        }


def run_capture(
    params: Path | None = None,
    clip: str | None = None,
    speed: float = 1.0,
    bag: str | None = None,
    record: bool = True,
    foxglove: bool = False,
    robot: str | None = None,
    domain_id: int | None = None,
) -> dict:
    """Start the graph on the replayed clip, wait for it to finish, return the summary."""
    env = ros_environment(domain_id)
    import rclpy
    import rclpy.parameter

    from ..nodes.common import make_executor
    from ..paths import share_file
    from .description import capture_graph, retarget_overrides

    params = params or share_file("config", "capture.yaml")
    check_params_file(params)
    if not 0.01 <= speed <= 100:
        raise SystemExit(f"ego4o-capture: --speed {speed:g} must be within 0.01..100")
    if clip:  # now, not after the nodes have spent 20 s loading
        check_clip(clip)
    bag = Path(bag or time.strftime("out/capture/ego4o_%Y%m%d_%H%M%S"))
    # Deeper sensor queues when the data comes faster than real time.
    depth = int(200 * max(1.0, speed))
    overrides = {
        "fusion": {"sensor_qos_depth": depth},
        "recorder": {"qos_depth": depth, "output": str(bag)},
        "wearable_replay": {"speed": speed, **({"clip": clip} if clip else {})},
        **retarget_overrides(robot),
    }
    specs = capture_graph(replay=True, record=record, foxglove=foxglove, robot=robot)
    sim_time = speed != 1.0
    if sim_time:  # data stamps run ahead of the wall clock: follow the replay's /clock
        overrides = merge_overrides(overrides, sim_time_overrides(specs))
    print(f"ego4o-capture: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, localhost only, parameters {params}", flush=True)

    own = [spec.name for spec in specs if spec.own_process]
    print(f"ego4o-capture: starting {', '.join(own)} in their own processes", flush=True)
    children = [start_node_process(spec, params, overrides, env) for spec in specs if spec.own_process]
    rclpy.init()
    nodes, executor = {}, make_executor()
    try:
        monitor_node = rclpy.create_node(
            "capture_monitor", parameter_overrides=[rclpy.parameter.Parameter("use_sim_time", value=sim_time)]
        )
        monitor = CaptureMonitor(monitor_node)
        executor.add_node(monitor_node)
        for spec in specs:
            if spec.own_process or spec.name == "wearable_replay":
                continue
            print(f"ego4o-capture: loading {spec.name} ({LOADING.get(spec.name, 'starting')})...", flush=True)
            node_class = getattr(importlib.import_module(spec.module), spec.node_class)
            nodes[spec.name] = node_class(cli_args=node_arguments(params, spec, overrides))
            executor.add_node(nodes[spec.name])
        # Start the replay once the separate processes are ready (their topics exist: a node
        # appears before it has loaded its models), so nothing is missed.
        waited = time.monotonic()
        names = {s.name for s in specs if s.own_process}
        if names - ready_nodes(monitor_node, names):
            print(f"ego4o-capture: waiting for {', '.join(sorted(names))} to be ready...", flush=True)
        while names - ready_nodes(monitor_node, names) and time.monotonic() - waited < 120:
            executor.spin_once(timeout_sec=0.1)
            dead = [
                spec.name
                for spec, child in zip([s for s in specs if s.own_process], children)
                if child.poll() is not None
            ]
            if dead:
                raise SystemExit(f"ego4o-capture: {', '.join(dead)} exited at start (see its message above)")
        replay_spec = next(s for s in specs if s.name == "wearable_replay")
        replay_class = getattr(importlib.import_module(replay_spec.module), replay_spec.node_class)
        nodes["wearable_replay"] = replay = replay_class(cli_args=node_arguments(params, replay_spec, overrides))
        executor.add_node(replay)
        print(f"ego4o-capture: replaying {replay.duration:.1f} s at speed {speed:g}...", flush=True)
        started = time.monotonic()
        while not replay.finished:
            executor.spin_once(timeout_sec=0.05)
        fusion = nodes["fusion"]
        wait_for_stragglers(executor, fusion, monitor)
        wall = time.monotonic() - started
        summary = monitor.summary(fusion.lookahead_s, fusion.capture.fps)
        stats = fusion.capture.stats
        summary.update(
            replayed_s=replay.duration,
            wall_s=wall,
            imu_messages=replay.published,
            imu_received=sum(b.accepted + sum(b.rejected.values()) for b in fusion.capture.buffers.values()),
            imu_rejected=sum(sum(b.rejected.values()) for b in fusion.capture.buffers.values()),
            frames_expected=int(replay.duration * fusion.capture.fps) + 1,
            fusion_frames=fusion.published,
            restarts=stats.restarts,
            dropped=stats.dropped,
            gap_frames=stats.gap_frames,
            non_finite=stats.non_finite,
            modalities_seen=sorted(monitor.modalities_seen),
        )
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for node in nodes.values():
            executor.remove_node(node)
            node.destroy_node()  # the recorder closes its bag here
        executor.shutdown()
        rclpy.try_shutdown()
        stop_node_processes(children)
    if record:
        from ..core.bag import bag_topics

        summary["bag"] = str(bag)
        summary["bag_topics"] = {t: n for t, (_, n) in bag_topics(bag).items()}
        summary["imu_recorded"] = sum(n for t, n in summary["bag_topics"].items() if t.startswith("/imu/"))
    return summary


def print_summary(s: dict) -> None:
    print(
        f"replayed {s['replayed_s']:.1f} s of wearable data ({s['imu_messages']} IMU messages) in {s['wall_s']:.1f} s"
    )
    print(
        f"joint_states: {s['joint_states']} at {s['rate_hz']:.1f} Hz; latency newest IMU sample -> received "
        f"(look-ahead excluded) p50 {s['latency_p50_ms']:.1f} ms, p99 {s['latency_p99_ms']:.1f} ms"
    )
    print(
        f"accuracy vs replayed ground truth ({s['frames']} frames): MPJPE {s['mpjpe_mm']:.1f} mm, "
        f"PA-MPJPE {s['pa_mpjpe_mm']:.1f} mm"
    )
    fusion = s.get("fusion", {})
    recorded = f", recorded {s['imu_recorded']}" if "imu_recorded" in s else ""
    print(
        f"IMU messages: published {s['imu_messages']}, received by fusion {s['imu_received']} "
        f"({s['imu_rejected']} rejected){recorded}; lost {s['imu_messages'] - s['imu_received']} on the way in"
    )
    print(
        f"frames: expected {s['frames_expected']}, published {s['fusion_frames']}, received {s['joint_states']}; "
        f"skipped (behind) {s['dropped']}, in data holes {s['gap_frames']}, non-finite {s['non_finite']}, "
        f"stream restarts {s['restarts']}"
    )
    print(
        f"fusion: descriptions received {fusion.get('descriptions_received', '?')}, modalities seen during the "
        f"run: {' '.join(s.get('modalities_seen', [])) or '?'}"
    )
    print(f"descriptions ({len(s['descriptions'])}):")
    for text in s["descriptions"]:
        print(f"  - {text}")
    if "bag" in s:
        print(f"bag {s['bag']}: " + ", ".join(f"{t} {n}" for t, n in sorted(s["bag_topics"].items())))
