"""Run the capture graph in one command, without ``launch`` (``ego4o-capture`` is the front end).

Starts the nodes of ``graph/description.py`` with ``config/capture.yaml`` (through
``graph/harness.py``): wearable replay of the bundled walk -> fusion -> captioning (its own
process) -> back into fusion, recording a bag, and prints a summary: output rate, latency,
MPJPE against the replayed ground truth, descriptions produced, the bag's topics.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import interface
from .harness import GraphStartError, Harness, merge_overrides, sim_time_overrides


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
        node.create_subscription(JointState, interface.JOINT_STATES, self._on_joint_states, reliable_qos(100))
        node.create_subscription(
            PoseArray, interface.JOINT_POSES, lambda m: self._on_poses(self.predicted, m), reliable_qos(100)
        )
        # Best effort matches both the clip replay (reliable) and a bag replay (best effort).
        node.create_subscription(
            PoseArray, interface.GROUND_TRUTH_POSES, lambda m: self._on_poses(self.truth, m), sensor_qos(100)
        )
        node.create_subscription(
            String, interface.DESCRIPTION, lambda m: self.descriptions.append(m.data), reliable_qos()
        )
        node.create_subscription(DiagnosticArray, interface.DIAGNOSTICS, self._on_diagnostics, reliable_qos())

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
    bridge: str | None = None,
    duration: float | None = None,
    sonic: int | None = None,
    mqtt_broker: str | None = None,
) -> dict:
    """Start the graph on the replayed clip, wait for it to finish, return the summary. With
    ``bridge`` (a profile of config/devices.yaml) real devices stream in through the
    wearable bridge instead, for ``duration`` s or until Ctrl-C (Sensor Logger: from
    ``mqtt_broker`` where given, else its HTTP push)."""
    from ..paths import share_file
    from .description import capture_graph, retarget_overrides

    if bridge:
        return run_bridged(params, bridge, duration, bag, record, foxglove, robot, domain_id, sonic, mqtt_broker)
    if mqtt_broker:
        raise SystemExit("ego4o-capture: --mqtt-broker is where Sensor Logger publishes: add --bridge sensor_logger")
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
        **retarget_overrides(robot, sonic),
    }
    specs = capture_graph(replay=True, record=record, foxglove=foxglove, robot=robot, sonic=sonic)
    sim_time = speed != 1.0
    if sim_time:  # data stamps run ahead of the wall clock: follow the replay's /clock
        overrides = merge_overrides(overrides, sim_time_overrides(specs))
    graph = Harness(params, overrides, domain_id)
    print(f"ego4o-capture: ROS_DOMAIN_ID={graph.env['ROS_DOMAIN_ID']}, localhost only, parameters {params}", flush=True)

    own = [spec for spec in specs if spec.own_process]
    print(f"ego4o-capture: starting {', '.join(s.name for s in own)} in their own processes", flush=True)
    with graph:
        for spec in own:
            graph.start_process(spec)
        monitor = CaptureMonitor(graph.create_node("capture_monitor", use_sim_time=sim_time))
        nodes = {}
        for spec in specs:
            if spec.own_process or spec.name == "wearable_replay":
                continue
            print(f"ego4o-capture: loading {spec.name} ({LOADING.get(spec.name, 'starting')})...", flush=True)
            nodes[spec.name] = graph.start_node(spec)
        # Start the replay once the separate processes are ready, so nothing is missed.
        names = {s.name for s in own}
        waiting = f"ego4o-capture: waiting for {', '.join(sorted(names))} to be ready..."
        try:
            graph.wait_ready(names, 120, on_wait=lambda _: print(waiting, flush=True))
        except GraphStartError as error:
            dead = ", ".join(error.dead)
            raise SystemExit(f"ego4o-capture: {dead} exited at start (see its message above)") from None
        replay = nodes["wearable_replay"] = graph.start_node(next(s for s in specs if s.name == "wearable_replay"))
        print(f"ego4o-capture: replaying {replay.duration:.1f} s at speed {speed:g}...", flush=True)
        started = time.monotonic()
        graph.spin_until(lambda: replay.finished)
        fusion_node = nodes["fusion"]
        fusion, capture = fusion_node.fusion, fusion_node.fusion.capture

        def arrived():  # IMU messages still queued, the last frames and descriptions
            return (
                sum(b.accepted + sum(b.rejected.values()) for b in capture.buffers.values()),
                fusion.published,
                len(monitor.joint_states),
                len(monitor.descriptions),
            )

        graph.drain(1.5, progress=arrived, limit_s=10.0)
        wall = time.monotonic() - started
        summary = monitor.summary(fusion_node.lookahead_s, capture.fps)
        summary.update(
            replayed_s=replay.duration,
            wall_s=wall,
            imu_messages=replay.published,
            frames_expected=int(replay.duration * capture.fps) + 1,
            **fusion_counts(fusion, monitor),
        )
    if record:
        from ..core.bag import bag_topics

        summary["bag"] = str(bag)
        summary["bag_topics"] = {t: n for t, (_, n) in bag_topics(bag).items()}
        summary["imu_recorded"] = sum(
            n for t, n in summary["bag_topics"].items() if t.startswith("/" + interface.IMU_PREFIX)
        )
    return summary


def fusion_counts(fusion, monitor: CaptureMonitor) -> dict:
    """What the fusion node (``live.fusion.Fusion``) took in and put out during a run."""
    buffers, stats = fusion.capture.buffers.values(), fusion.capture.stats
    return {
        "imu_received": sum(b.accepted + sum(b.rejected.values()) for b in buffers),
        "imu_rejected": sum(sum(b.rejected.values()) for b in buffers),
        "fusion_frames": fusion.published,
        "restarts": stats.restarts,
        "dropped": stats.dropped,
        "gap_frames": stats.gap_frames,
        "non_finite": stats.non_finite,
        "modalities_seen": sorted(monitor.modalities_seen),
    }


def run_bridged(
    params, bridge, duration, bag, record, foxglove, robot, domain_id, sonic=None, mqtt_broker=None
) -> dict:
    """``run_capture`` with the wearable bridge in the replay's place (no ground truth)."""
    from ..paths import share_file
    from .description import bridge_overrides, capture_graph, retarget_overrides

    params = params or share_file("config", "capture.yaml")
    check_params_file(params)
    if duration is not None and duration <= 0:
        raise SystemExit(f"ego4o-capture: --duration {duration:g} must be > 0")
    bag = Path(bag or time.strftime("out/capture/ego4o_%Y%m%d_%H%M%S"))
    overrides = merge_overrides(
        {"recorder": {"output": str(bag)}, **retarget_overrides(robot, sonic)}, bridge_overrides(bridge, mqtt_broker)
    )
    specs = capture_graph(replay=False, record=record, foxglove=foxglove, robot=robot, bridge=bridge, sonic=sonic)
    graph = Harness(params, overrides, domain_id)
    print(f"ego4o-capture: ROS_DOMAIN_ID={graph.env['ROS_DOMAIN_ID']}, localhost only, parameters {params}", flush=True)
    with graph:
        for spec in (s for s in specs if s.own_process):
            graph.start_process(spec)
        monitor = CaptureMonitor(graph.create_node("capture_monitor"))
        nodes = {}
        for spec in (s for s in specs if not s.own_process):
            print(f"ego4o-capture: loading {spec.name} ({LOADING.get(spec.name, 'starting')})...", flush=True)
            nodes[spec.name] = graph.start_node(spec)
        until = f"for {duration:g} s" if duration else "until Ctrl-C"
        print(f"ego4o-capture: streaming from the devices ({bridge}) {until}", flush=True)
        started = time.monotonic()
        from rclpy.executors import ExternalShutdownException

        try:
            graph.spin_until(lambda: duration is not None and time.monotonic() - started >= duration)
        except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C: in Python, or in rclpy's wait
            pass
        fusion = nodes["fusion"].fusion
        summary = monitor.summary(nodes["fusion"].lookahead_s, fusion.capture.fps)
        summary.update(
            wall_s=time.monotonic() - started,
            bridge=bridge,
            devices={
                name: {"published": d.published, "refused": sum(d.refused.values()), "gaps": d.gaps}
                for name, d in nodes["wearable_bridge"].bridge.devices.items()
            },
            packets_refused=dict(nodes["wearable_bridge"].bridge.refused),  # not of a known device
            **fusion_counts(fusion, monitor),
        )
    return summary


def print_summary(s: dict) -> None:
    if "bridge" in s:
        print(f"streamed from the devices ({s['bridge']}) for {s['wall_s']:.1f} s")
        for name, counts in s["devices"].items():
            print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        print("  packets of no known device refused: " + ", ".join(f"{k} {v}" for k, v in s["packets_refused"].items()))
        print(
            f"joint_states: {s['joint_states']} at {s['rate_hz']:.1f} Hz; IMU received {s['imu_received']} "
            f"({s['imu_rejected']} rejected); frames in data holes {s['gap_frames']}, restarts {s['restarts']}"
        )
        print(f"descriptions ({len(s['descriptions'])}):")
        for text in s["descriptions"]:
            print(f"  - {text}")
        return
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
