"""End-to-end benchmark of the capture graph (``ego4o-graph-benchmark`` is the front end).

Live: the bundled walk (looped) as 3 IMUs at 100 Hz + a 30 Hz camera, for ``--duration``
seconds (default 5 min), pose output at 30 Hz. Replay, captioning and recorder run in
their own processes, as ``ros2 launch`` starts them; the fusion node runs in this
process so every frame's latency is read where it is published: newest IMU sample's
stamp -> ``joint_states`` publish. The look-ahead is not in it (the frame is made when
that sample arrives; it describes the pose ``lookahead`` frames earlier). Dropped
outputs are grid frames the fusion node skipped plus stamps missing at a subscriber.

Bag: the live run's bag is replayed (its first ``--bag-seconds``) at each of ``--speeds``
into a fresh fusion node that follows the bag's /clock; reports the speed-up reached
and whether any output was dropped: what offline analysis of recordings gets.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .harness import Harness, merge_overrides, sim_time_overrides


class GraphRun:
    """One run of the graph: child processes + the fusion node and a monitor in here."""

    def __init__(self, specs, params: Path, overrides: dict, domain_id: int | None = None):
        self.specs, self.params, self.overrides, self.domain_id = specs, params, overrides, domain_id

    def run(self, until, progress=None, poll_s: float = 0.05) -> dict:
        from .runner import CaptureMonitor

        spec = {s.name: s for s in self.specs}
        with Harness(self.params, self.overrides, self.domain_id) as graph:
            # Wall clock, even when the graph follows a bag's clock: it times the outputs.
            monitor = CaptureMonitor(graph.create_node("graph_benchmark_monitor"))
            fusion = graph.start_node(spec["fusion"])
            others = [s for s in self.specs if s.name not in ("fusion", "wearable_replay")]
            for s in others:
                graph.start_process(s)
            graph.wait_ready({s.name for s in others}, 60)  # the replay starts once everyone listens
            replay_child = graph.start_process(spec["wearable_replay"])
            replay = replay_child.process
            cpu_start, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            graph.spin_until(
                lambda: until(monitor, fusion, replay),
                poll_s=poll_s,
                every=(30.0, lambda elapsed: progress(monitor, fusion, elapsed)) if progress else None,
            )
            replay_ended = time.monotonic()
            graph.stop(replay_child)
            graph.drain(1.5)  # the last frames and descriptions
            wall = replay_ended - started
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            result = measure(monitor, fusion)
            result.update(
                wall_s=wall,
                fusion_process_cpu=(cpu.ru_utime + cpu.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime) / wall,
            )
        return result


def measure(monitor, fusion) -> dict:
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
    return result["missing_at_subscriber"] + result["skipped_by_fusion"]


def live_run(args, params) -> dict:
    from .description import capture_graph

    specs = capture_graph(replay=True, record=True)
    frames_wanted = int(args.duration * 30)
    overrides = {
        "wearable_replay": {"loop": True, "camera_rate": 30.0, "imu_rate": 100.0},
        "fusion": {"latency_history": frames_wanted + 1000},
        "recorder": {"output": str(args.out / "live_bag")},
    }

    def progress(monitor, fusion, elapsed):
        latency = np.array(fusion.capture.stats.latencies_s) * 1000
        print(
            f"  {elapsed:5.0f} s: {fusion.fusion.published} frames, skipped {fusion.capture.stats.dropped}, "
            f"latency p50 {np.percentile(latency, 50):.1f} ms p99 {np.percentile(latency, 99):.1f} ms",
            file=sys.stderr,
            flush=True,
        )

    def until(monitor, fusion, replay):
        return fusion.fusion.published >= frames_wanted or replay.poll() is not None

    print(f"live: {args.duration:g} s, 3 IMUs at 100 Hz + camera at 30 Hz ...", file=sys.stderr, flush=True)
    return GraphRun(specs, params, overrides, args.domain_id).run(until, progress)


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
            lambda monitor, fusion, replay: replay.poll() is not None
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
            ("descriptions fed back", str(live["descriptions"])),
            ("MPJPE / PA-MPJPE vs ground truth", f"{live['mpjpe_mm']:.1f} / {live['pa_mpjpe_mm']:.1f} mm"),
            ("fusion process CPU (fusion + monitor)", f"{100 * live['fusion_process_cpu']:.0f} %"),
        ]
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
