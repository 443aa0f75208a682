"""End-to-end benchmark of the capture graph (``ego4o-graph-benchmark`` is the front end).

Live: the bundled walk (looped) as 3 IMUs at 100 Hz + a 30 Hz camera, for ``--duration``
seconds (default 5 min), pose output at 30 Hz. Replay, captioning and recorder run in
their own processes, as ``ros2 launch`` starts them; the fusion node runs in this
process so every frame's latency is read where it is published: newest IMU sample's
stamp -> ``joint_states`` publish. The look-ahead is not in it (the frame is made when
that sample arrives; it describes the pose ``lookahead`` frames earlier). What the graph
delivers is received by ``monitor`` in a process of its own (a monitor beside the fusion
node took its CPU and doubled its p99 latency). Dropped outputs are grid frames the fusion
node skipped plus stamps missing at that subscriber.

With ``--robot g1`` the retarget node runs too (its own process): newest IMU sample's
stamp (of the frame, noted as the fusion node publishes it) -> ``robot/joint_states``
received, and with ``--sonic 2|3`` -> SONIC's ZMQ message received by a SUB socket in the
monitor process (its ``timestamp_realtime`` is the pose's stamp); both also from the fusion
node's publish (the retarget stage alone); robot frames missing against the fusion node's.
CPU per stage: each process's CPU time (/proc) over the run, as a share of one core.

Bag: the live run's bag is replayed (its first ``--bag-seconds``) at each of ``--speeds``
into a fresh fusion node that follows the bag's /clock; reports the speed-up reached
and whether any output was dropped: what offline analysis of recordings gets.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .harness import Harness, merge_overrides, sim_time_overrides, stop_processes


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stamp_key(stamp: float) -> int:
    """A stamp as a dictionary key: 0.1 ms steps (a message's stamp is rounded to the ns)."""
    return int(round(stamp * 1e4))


def note_frames(live_fusion) -> dict[int, tuple[float, float]]:
    """Per frame the fusion node publishes (``live.fusion``'s ``frame_published``), noted in
    its process: stamp key -> (its newest IMU sample's stamp, wall time published)."""
    frames: dict[int, tuple[float, float]] = {}
    report = live_fusion.frame_published

    def frame_published(now, frame):
        frames[stamp_key(frame.stamp)] = (frame.newest_sample, time.time())
        report(now, frame)

    live_fusion.frame_published = frame_published
    return frames


class GraphRun:
    """One run of the graph: child processes + the fusion node and a monitor in here."""

    def __init__(
        self, specs, params: Path, overrides: dict, domain_id: int | None = None, sonic_endpoint: str | None = None
    ):
        self.specs, self.params, self.overrides, self.domain_id = specs, params, overrides, domain_id
        self.sonic_endpoint = sonic_endpoint

    def run(self, until, progress=None, poll_s: float = 0.05) -> dict:
        """``until(fusion, replay)``: the run's end; ``progress(fusion, elapsed)``: every 30 s."""
        from . import monitor as graph_monitor

        spec = {s.name: s for s in self.specs}
        with Harness(self.params, self.overrides, self.domain_id) as graph, contextlib.ExitStack() as cleanup:
            # What the graph delivers, received in a process of its own (on the wall clock,
            # even when the graph follows a bag's clock: it times the outputs).
            record_path = Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "monitor.npz"
            monitor = graph.start_command(graph_monitor.command(record_path, "retarget" in spec, self.sonic_endpoint))
            cleanup.callback(stop_processes, [monitor])  # whatever happens, before its folder goes
            fusion = graph.start_node(spec["fusion"])
            frames_made = note_frames(fusion.fusion)
            others = [s for s in self.specs if s.name not in ("fusion", "wearable_replay")]
            for s in others:
                graph.start_process(s)
            missing = graph.wait_ready({s.name for s in others} | {graph_monitor.NODE_NAME}, 60)
            if missing:  # the replay starts once everyone listens
                raise RuntimeError(f"graph benchmark: {', '.join(sorted(missing))} not up after 60 s")
            replay_child = graph.start_process(spec["wearable_replay"])
            replay = replay_child.process
            cpu_start, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            children = {c.name: c.process.pid for c in graph.processes} | {"monitor (the benchmark's)": monitor.pid}
            children_start = {name: process_cpu_s(pid) for name, pid in children.items()}
            graph.spin_until(
                lambda: until(fusion, replay),
                poll_s=poll_s,
                every=(30.0, lambda elapsed: progress(fusion, elapsed)) if progress else None,
            )
            replay_ended = time.monotonic()
            wall = replay_ended - started
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            process_cpu = {name: (process_cpu_s(pid) - children_start[name]) / wall for name, pid in children.items()}
            process_cpu["fusion"] = (cpu.ru_utime + cpu.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime) / wall
            graph.stop(replay_child)
            graph.drain(1.5)  # the last frames and descriptions
            stop_processes([monitor])  # SIGINT: it writes its record
            record = graph_monitor.read_record(record_path)
            robot_result = measure_robot(record, frames_made) if "retarget" in spec else None
            result = measure(record, fusion, robot_result)
            result.update(wall_s=wall, fusion_process_cpu=process_cpu["fusion"], process_cpu=process_cpu)
        return result


def measure_robot(robot, made: dict[int, tuple[float, float]]) -> dict:
    """robot/joint_states and SONIC's stream against the fusion node's frames: latency from
    the newest IMU sample the frame was made with (so without the look-ahead), and the
    retarget stage alone (fusion publish -> received)."""

    def pct(values, q):
        return float(np.percentile(values, q)) if len(values) else float("nan")

    def latencies(pairs) -> tuple[np.ndarray, np.ndarray]:
        known = [(made[stamp_key(s)], r) for s, r in pairs if stamp_key(s) in made]
        return (
            np.array([(r - sample) * 1000 for (sample, _), r in known]),
            np.array([(r - published) * 1000 for (_, published), r in known]),
        )

    stamps = np.array([s for s, _ in robot.robot_joint_states])
    latency, stage = latencies(robot.robot_joint_states)
    out = {
        "robot_received": len(stamps),
        "robot_missing": len(set(made) - {stamp_key(s) for s in stamps}),
        "robot_latency_p50_ms": pct(latency, 50),
        "robot_latency_p99_ms": pct(latency, 99),
        "robot_latency_max_ms": float(latency.max()) if len(latency) else float("nan"),
        "robot_stage_p50_ms": pct(stage, 50),
        "robot_stage_p99_ms": pct(stage, 99),
    }
    if robot.zmq:
        zmq_latency, zmq_stage = latencies([(s, r) for s, r, _, _ in robot.zmq])
        indices = np.concatenate([i for _, _, i, _ in robot.zmq])
        out.update(
            zmq_messages=len(robot.zmq),
            zmq_frames=len(indices),
            zmq_versions=sorted({v for *_, v in robot.zmq}),
            zmq_consecutive=bool((np.diff(indices) == 1).all()),
            zmq_latency_p50_ms=pct(zmq_latency, 50),
            zmq_latency_p99_ms=pct(zmq_latency, 99),
            zmq_latency_max_ms=float(zmq_latency.max()),
            zmq_stage_p50_ms=pct(zmq_stage, 50),
            zmq_stage_p99_ms=pct(zmq_stage, 99),
        )
    return out


def measure(monitor, fusion, robot_result: dict | None = None) -> dict:
    """What a run delivered: frames, drops, latency, accuracy, inputs."""
    from ..live.scoring import match_by_stamp, score

    live = fusion.fusion  # the node's capture, camera and text inputs
    fps = live.capture.fps
    stamps = np.unique(np.round(np.array([s for s, _ in monitor.joint_states]) * fps))
    expected = int(stamps[-1] - stamps[0]) + 1 if len(stamps) else 0
    latency_ms = np.array(live.capture.stats.latencies_s) * 1000
    received_ms = np.array([(r - s - fusion.lookahead_s) * 1000 for s, r in monitor.joint_states])
    span_s = (stamps[-1] - stamps[0]) / fps if len(stamps) > 1 else 0.0
    received = [r for _, r in monitor.joint_states]
    output_wall_s = received[-1] - received[0] if len(received) > 1 else 0.0
    accuracy = score(*match_by_stamp(monitor.predicted, monitor.truth, 0.5 / fps))

    def pct(values, q):
        return float(np.percentile(values, q)) if len(values) else float("nan")

    return {
        **(robot_result or {}),
        "data_s": span_s,
        "output_wall_s": output_wall_s,
        "frames_published": live.published,
        "frames_received": len(stamps),
        "frames_expected": expected,
        "missing_at_subscriber": expected - len(stamps),
        "skipped_by_fusion": live.capture.stats.dropped,
        "restarts": live.capture.stats.restarts,
        "rate_hz": (len(stamps) - 1) / span_s if span_s > 0 else 0.0,
        "latency_p50_ms": pct(latency_ms, 50),
        "latency_p99_ms": pct(latency_ms, 99),
        "latency_max_ms": float(latency_ms.max()) if len(latency_ms) else float("nan"),
        "received_p50_ms": pct(received_ms, 50),
        "received_p99_ms": pct(received_ms, 99),
        "imu_accepted": {site: b.accepted for site, b in live.capture.buffers.items() if b.accepted},
        "imu_rejected": sum(sum(b.rejected.values()) for b in live.capture.buffers.values()),
        "images_received": live.camera.received,
        "descriptions": len(monitor.descriptions),
        **accuracy,
    }


def dropped(result: dict) -> int:
    """Outputs lost anywhere: fusion frames skipped or missing, robot frames missing."""
    return result["missing_at_subscriber"] + result["skipped_by_fusion"] + result.get("robot_missing", 0)


def live_run(args, params) -> dict:
    from .description import capture_graph, retarget_overrides

    robot, sonic = getattr(args, "robot", None), getattr(args, "sonic", None)
    specs = capture_graph(replay=True, record=True, robot=robot, sonic=sonic)
    frames_wanted = int(args.duration * 30)
    overrides = {
        "wearable_replay": {"loop": True, "camera_rate": 30.0, "imu_rate": 100.0},
        "fusion": {"latency_history": frames_wanted + 1000},
        "recorder": {"output": str(args.out / "live_bag")},
        **retarget_overrides(robot, sonic),
    }
    endpoint = None
    if sonic:
        port = free_port()
        overrides["retarget"]["sonic_port"] = port
        endpoint = f"tcp://127.0.0.1:{port}"

    def progress(fusion, elapsed):
        latency = np.array(fusion.capture.stats.latencies_s) * 1000
        print(
            f"  {elapsed:5.0f} s: {fusion.fusion.published} frames, skipped {fusion.capture.stats.dropped}, "
            f"latency p50 {np.percentile(latency, 50):.1f} ms p99 {np.percentile(latency, 99):.1f} ms",
            file=sys.stderr,
            flush=True,
        )

    def until(fusion, replay):
        return fusion.fusion.published >= frames_wanted or replay.poll() is not None

    extra = f", robot {robot or 'g1'}" if robot or sonic else ""
    extra += f", SONIC v{sonic} on {endpoint}" if sonic else ""
    print(f"live: {args.duration:g} s, 3 IMUs at 100 Hz + camera at 30 Hz{extra} ...", file=sys.stderr, flush=True)
    result = GraphRun(specs, params, overrides, args.domain_id, endpoint).run(until, progress)
    result["load_average"] = os.getloadavg()
    return result


def bag_runs(args, params) -> list[dict]:
    from .description import capture_graph

    specs = capture_graph(replay=True, record=False)
    results = []
    for speed in args.speeds:
        print(f"bag: {args.bag_seconds:g} s at speed {speed:g} ...", file=sys.stderr, flush=True)
        overrides = merge_overrides(
            sim_time_overrides(specs),
            {
                "wearable_replay": {
                    "bag": str(args.out / "live_bag"),
                    "speed": speed,
                    "max_duration": args.bag_seconds,
                },
                "fusion": {"latency_history": int(args.bag_seconds * 30) + 1000},
            },
        )
        result = GraphRun(specs, params, overrides, args.domain_id).run(
            lambda fusion, replay: replay.poll() is not None
        )
        result["speed"] = speed
        # Data time over the wall time between the first and the last output.
        result["speed_up"] = result["data_s"] / result["output_wall_s"] if result["output_wall_s"] > 0 else float("nan")
        results.append(result)
    return results


def print_tables(live: dict | None, bags: list[dict]) -> None:
    if live:
        print(
            f"\nlive graph, 3 IMUs @100 Hz + camera @30 Hz, {live['data_s']:.0f} s of data "
            f"(this machine: {os.cpu_count()} CPUs)"
        )
        print("metric | value")
        print("--- | ---")
        rows = [
            ("joint_states received / expected", f"{live['frames_received']} / {live['frames_expected']}"),
            ("output rate", f"{live['rate_hz']:.2f} Hz"),
            (
                "dropped outputs (skipped + missing)",
                f"{dropped(live)} ({live['skipped_by_fusion']} + {live['missing_at_subscriber']})",
            ),
            ("stream restarts", str(live["restarts"])),
            ("latency newest IMU stamp -> publish p50", f"{live['latency_p50_ms']:.1f} ms"),
            ("latency newest IMU stamp -> publish p99", f"{live['latency_p99_ms']:.1f} ms"),
            ("latency newest IMU stamp -> publish max", f"{live['latency_max_ms']:.1f} ms"),
            (
                "latency at a subscriber p50 / p99 (from grid time)",
                f"{live['received_p50_ms']:.1f} / {live['received_p99_ms']:.1f} ms",
            ),
            ("IMU samples accepted", ", ".join(f"{k} {v}" for k, v in live["imu_accepted"].items())),
            ("IMU samples rejected", str(live["imu_rejected"])),
            ("camera frames received", str(live["images_received"])),
            ("descriptions published", str(live["descriptions"])),
            ("MPJPE / PA-MPJPE vs ground truth", f"{live['mpjpe_mm']:.1f} / {live['pa_mpjpe_mm']:.1f} mm"),
        ]
        if "robot_received" in live:
            rows += [
                ("robot/joint_states received / missing", f"{live['robot_received']} / {live['robot_missing']}"),
                (
                    "latency newest IMU stamp -> robot/joint_states received p50 / p99 / max",
                    f"{live['robot_latency_p50_ms']:.1f} / {live['robot_latency_p99_ms']:.1f} / "
                    f"{live['robot_latency_max_ms']:.1f} ms",
                ),
                (
                    "of which the retarget stage (fusion publish -> received) p50 / p99",
                    f"{live['robot_stage_p50_ms']:.1f} / {live['robot_stage_p99_ms']:.1f} ms",
                ),
            ]
        if "zmq_messages" in live:
            rows += [
                (
                    "SONIC ZMQ messages / frames (protocol, frame_index consecutive)",
                    f"{live['zmq_messages']} / {live['zmq_frames']} (v{live['zmq_versions']}, "
                    f"{live['zmq_consecutive']})",
                ),
                (
                    "latency newest IMU stamp -> SONIC ZMQ message received p50 / p99 / max",
                    f"{live['zmq_latency_p50_ms']:.1f} / {live['zmq_latency_p99_ms']:.1f} / "
                    f"{live['zmq_latency_max_ms']:.1f} ms",
                ),
                (
                    "of which the retarget stage (fusion publish -> received) p50 / p99",
                    f"{live['zmq_stage_p50_ms']:.1f} / {live['zmq_stage_p99_ms']:.1f} ms",
                ),
            ]
        rows += [
            (f"CPU {name} (share of one core)", f"{100 * value:.0f} %")
            for name, value in live.get("process_cpu", {"fusion": live["fusion_process_cpu"]}).items()
        ]
        load = live.get("load_average")
        if load:
            rows.append(("load average at the end (1 / 5 / 15 min)", " / ".join(f"{v:.2f}" for v in load)))
        for name, value in rows:
            print(f"{name} | {value}")
    if bags:
        print("\nbag replay into the fusion node (sim time from the bag's /clock)")
        print(
            "speed asked | data s | output wall s | speed-up | frames received / expected | dropped | "
            "fusion CPU | MPJPE mm"
        )
        print("--- | --- | --- | --- | --- | --- | --- | ---")
        for r in bags:
            print(
                f"{r['speed']:g} | {r['data_s']:.1f} | {r['output_wall_s']:.1f} | {r['speed_up']:.2f} | "
                f"{r['frames_received']} / {r['frames_expected']} | {dropped(r)} | "
                f"{100 * r['fusion_process_cpu']:.0f} % | {r['mpjpe_mm']:.1f}"
            )


def run_benchmark(args) -> tuple[dict, list[dict]]:
    """The live run and the bag replays; ``args`` as ``ego4o-graph-benchmark`` parses them."""
    from ..paths import share_file
    from .harness import ros_environment

    env = ros_environment(args.domain_id)
    params = share_file("config", "capture.yaml")
    shutil.rmtree(args.out / "live_bag", ignore_errors=True)  # this tool's own output of a previous run
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"ego4o-graph-benchmark: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, localhost only", file=sys.stderr)
    live = live_run(args, params)
    bags = bag_runs(args, params) if args.speeds else []
    return live, bags
