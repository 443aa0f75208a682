"""The run of the fault benchmark (``graph/fault_benchmark.py``): the real graph with one node of
the benchmark's own beside the fusion node that is relay, injector and monitor at once, and the
supervision of the child processes (killed on schedule, restarted, died-unasked counted as
crashes). What it records goes into a ``FaultRecord`` (``analysis/faults.py`` measures it).

- **Relay.** The replay publishes on ``raw/...``; each message goes on to the fusion node's topic
  unless its sensor is dropped at that message's stamp; the stamps forwarded are the ground
  truth of when a sensor was present. Descriptions go round the same way (``raw/text_input``).
- **Injection.** Malformed messages round-robin over ``KINDS`` on the very topics the real data
  uses, spread over the run; a burst of valid descriptions (the flood) within about a second.
- **Supervision.** The captioning and recorder processes get SIGKILL at their fraction of the run
  and are restarted (the recorder into a second bag); a child that exits unasked is a crash.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import interface
from ..analysis.faults import CAMERA, KINDS, FaultRecord, dropout_schedule, dropped, junk_text, stamp_of
from .harness import GraphStartError, Harness, NodeProcess

FLOOD_TEXTS = (
    "a person walks forward.",
    "someone walks slowly in a straight line.",
    "a person strolls ahead, swinging the arms.",
    "the person walks forward at a steady pace.",
    "a man walks a few steps forward.",
    "a woman walks forward calmly.",
    "a person takes steps forward.",
    "someone is walking.",
)
RAW = "raw/"  # the replay's (and the captioner's) topics are remapped under it; the relay forwards


@dataclass(frozen=True)
class FaultConfig:
    duration_s: float = 120.0  # of data, from the first sample the relay forwards
    malformed: int = 12_000
    flood: int = 3_000  # valid descriptions in one burst
    seed: int = 0
    sites: tuple[str, ...] = interface.DEFAULT_SITES
    imu_rate: float = 100.0
    camera_rate: float = 10.0
    warmup_s: float = 3.0  # no faults before (s after the first sample)
    kill_captioner_at: float | None = 0.3  # fraction of the run (None: never)
    kill_recorder_at: float | None = 0.6
    flood_at: float = 0.45
    out: Path = Path("out/fault_benchmark")
    domain_id: int | None = None
    startup_timeout_s: float = 120.0


def _rss_bytes() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fusion_counters(node) -> dict:
    """The fusion node's own counters (plain values), as ``analysis.faults.measure_run`` reads them."""
    fusion = node.fusion  # the node's capture, camera and text inputs
    capture = fusion.capture
    stats = capture.stats
    return {
        "fps": capture.fps,
        "lookahead_frames": round(node.lookahead_s * capture.fps),
        "window_frames": capture.streaming.window,
        "max_sensor_age_s": capture.config.max_sensor_age_s,
        "imu": {
            site: {"accepted": b.accepted, "rejected": dict(b.rejected), "clock_resets": b.clock_resets}
            for site, b in capture.buffers.items()
        },
        "images_received": fusion.camera.received,
        "image_rejected": dict(fusion.camera.rejected),
        "camera_clock_resets": fusion.camera.gate.clock_resets,
        "text_accepted": fusion.text.gate.accepted,
        "text_rejected": dict(fusion.text.gate.rejected),
        "text_superseded": fusion.text.superseded,
        "text_errors": fusion.text.errors,
        "publish_errors": fusion.publish_errors,
        "stats": {
            "texts": stats.texts,
            "dropped": stats.dropped,
            "gap_frames": stats.gap_frames,
            "restarts": stats.restarts,
            "non_finite": stats.non_finite,
        },
    }


class FaultRun:
    """One run; ``run()`` returns its ``FaultRecord``."""

    def __init__(self, config: FaultConfig):
        self.config = config
        self.schedule = dropout_schedule(config.duration_s, config.sites, config.seed, config.warmup_s)
        self.record = FaultRecord(
            config={k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()},
            sites=config.sites,
            duration_s=config.duration_s,
            schedule=self.schedule,
            bags=(config.out / "bag_1", config.out / "bag_2"),
            repair_dir=config.out / "repaired",
        )
        self.rng = np.random.default_rng(config.seed + 1)
        self.last_forwarded: dict[str, float] = {}

    def _record_received(self, node) -> None:
        """Keep the stamps of the IMU samples the fusion node took: what reached it through the
        transport (``analysis.faults.transport_loss`` compares them with what was sent)."""
        fusion, received = node.fusion, self.record.received
        push = fusion.push_imu

        def push_and_record(site, stamp, *args, **kwargs):
            buffer = fusion.capture.buffers[site]
            before = buffer.accepted
            warnings = push(site, stamp, *args, **kwargs)
            if buffer.accepted > before:
                received[site].append(stamp)
            return warnings

        fusion.push_imu = push_and_record

    # -- the benchmark's node: relay and monitor -------------------------------------------
    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _elapsed(self) -> float | None:
        origin = self.record.origin
        return None if origin is None else self._now() - origin

    def _setup_node(self, node) -> None:
        from geometry_msgs.msg import PoseArray
        from sensor_msgs.msg import CompressedImage, Image, Imu, JointState
        from std_msgs.msg import String

        from ..nodes.common import positions_of, reliable_qos, sensor_qos, to_seconds

        self.node = node
        self._positions_of, self._to_seconds = positions_of, to_seconds
        sites = self.config.sites
        self.pub_imu = {s: node.create_publisher(Imu, interface.imu_topic(s), sensor_qos()) for s in sites}
        self.pub_image = node.create_publisher(Image, interface.CAMERA_IMAGE, sensor_qos(5))
        self.pub_compressed = node.create_publisher(CompressedImage, interface.CAMERA_COMPRESSED, sensor_qos(5))
        self.pub_text = node.create_publisher(String, interface.TEXT_INPUT, reliable_qos(100))
        for site in sites:
            node.create_subscription(
                Imu, RAW + interface.imu_topic(site), lambda data, s=site: self._relay(s, data), sensor_qos(), raw=True
            )
        node.create_subscription(
            Image, RAW + interface.CAMERA_IMAGE, lambda data: self._relay(CAMERA, data), sensor_qos(5), raw=True
        )
        node.create_subscription(String, RAW + interface.TEXT_INPUT, self._on_caption, reliable_qos(10))
        node.create_subscription(JointState, interface.JOINT_STATES, self._on_joint_states, reliable_qos(100))
        node.create_subscription(PoseArray, interface.JOINT_POSES, self._on_poses, reliable_qos(100))
        node.create_subscription(PoseArray, interface.GROUND_TRUTH_POSES, self._on_truth, sensor_qos(100))
        self._classes = {"Imu": Imu, "Image": Image, "CompressedImage": CompressedImage, "String": String}
        self._kind_names = list(KINDS)
        self._injected = 0
        node.create_timer(0.05, self._inject)

    def _relay(self, name: str, data: bytes) -> None:
        record, stamp = self.record, stamp_of(data)
        if record.origin is None:
            if name == CAMERA:
                return  # the IMUs start the clock
            record.origin = stamp
            record.events.append((0.0, "first sample forwarded"))
        if dropped(self.schedule, name, stamp - record.origin):
            record.dropped_by_relay[name] += 1
            return
        (self.pub_image if name == CAMERA else self.pub_imu[name]).publish(data)
        record.forwarded[name].append(stamp)
        self.last_forwarded[name] = stamp

    def _on_caption(self, msg) -> None:
        self.pub_text.publish(msg)  # the loop closes through the relay
        if self.record.origin is not None:
            self.record.captions.append(self._now() - self.record.origin)

    def _on_joint_states(self, msg) -> None:
        self.record.joint_states.append((self._to_seconds(msg.header.stamp), self._now()))

    def _on_poses(self, msg) -> None:
        self.record.predicted[self._to_seconds(msg.header.stamp)] = self._positions_of(msg).astype(np.float32)

    def _on_truth(self, msg) -> None:
        self.record.truth[self._to_seconds(msg.header.stamp)] = self._positions_of(msg).astype(np.float32)

    # -- injection -------------------------------------------------------------------------
    def _inject(self) -> None:
        elapsed = self._elapsed()
        config, record = self.config, self.record
        start, stop = config.warmup_s, config.duration_s - 2.0
        if elapsed is None or elapsed < start or len(self.last_forwarded) < len(config.sites):
            return
        flood_start = config.flood_at * config.duration_s
        if config.flood and flood_start <= elapsed and record.flood_sent < config.flood:
            if not record.flood_window:
                record.flood_window = [elapsed, elapsed]
                record.events.append((elapsed, f"description flood: {config.flood} in about 1 s"))
            String = self._classes["String"]
            for _ in range(min(config.flood - record.flood_sent, math.ceil(config.flood / 20))):
                self.pub_text.publish(String(data=FLOOD_TEXTS[record.flood_sent % len(FLOOD_TEXTS)]))
                record.flood_sent += 1
            record.flood_window[1] = elapsed
        if elapsed >= stop + 0.5:
            return
        rate = config.malformed / max(stop - start, 1e-3)
        due = config.malformed if elapsed >= stop - 0.1 else min(config.malformed, int(rate * (elapsed - start)) + 1)
        while self._injected < due:
            kind = self._kind_names[self._injected % len(self._kind_names)]
            self._publish_malformed(kind)
            record.sent[kind] += 1
            self._injected += 1

    def _publish_malformed(self, kind: str) -> None:
        from std_msgs.msg import Header

        from ..nodes.common import to_stamp

        now, rng, group = self._now(), self.rng, KINDS[kind][0]
        if group == "text":
            self.pub_text.publish(self._classes["String"](data=junk_text(kind, rng)))
            return
        if group == "image":
            self._publish_bad_image(kind, now)
            return
        site = self.config.sites[int(rng.integers(len(self.config.sites)))]
        msg = self._classes["Imu"](header=Header(stamp=to_stamp(now), frame_id=f"{site}_imu"))
        msg.linear_acceleration.z, msg.orientation.w = 9.81, 1.0
        if kind == "imu_acc_nan":
            msg.linear_acceleration.x = float("nan")
        elif kind == "imu_acc_inf":
            msg.linear_acceleration.y = float("-inf")
        elif kind == "imu_orientation_nan":
            msg.orientation.x = float("nan")
        elif kind == "imu_orientation_inf":
            msg.orientation.w = float("inf")
        elif kind == "imu_angular_velocity_nan":
            msg.angular_velocity.x = float("nan")
            msg.angular_velocity.z = float("inf")
            msg.header.stamp = to_stamp(self.last_forwarded[site] - 0.5)
        elif kind == "imu_zero_quaternion":
            msg.orientation.w = 0.0
        elif kind == "imu_non_unit_quaternion":
            msg.orientation.w, msg.orientation.x = 2.0, 0.5
        elif kind == "imu_orientation_not_provided":
            msg.orientation_covariance[0] = -1.0
        elif kind == "imu_acceleration_not_provided":
            msg.linear_acceleration_covariance[0] = -1.0
        elif kind == "imu_huge_acceleration":
            msg.linear_acceleration.x = float(rng.choice([1e5, -3e4, 1e12]))
        elif kind == "imu_wrong_frame_id":
            msg.header.frame_id = "not_a_sensor_frame"
        elif kind == "imu_stamp_future":
            msg.header.stamp = to_stamp(now + float(rng.uniform(10.0, 1e6)))
        elif kind == "imu_stamp_backwards":
            msg.header.stamp = to_stamp(self.last_forwarded[site] - float(rng.uniform(0.2, 5.0)))
        elif kind == "imu_stamp_zero":
            msg.header.stamp = to_stamp(0.0)
        self.pub_imu[site].publish(msg)

    def _publish_bad_image(self, kind: str, now: float) -> None:
        from std_msgs.msg import Header

        from ..nodes.common import to_stamp

        Image, Compressed = self._classes["Image"], self._classes["CompressedImage"]
        header = Header(stamp=to_stamp(now), frame_id="head_camera")
        valid = dict(height=8, width=8, encoding="rgb8", step=24, data=bytes(192))
        if kind.startswith("compressed"):
            fmt = "jpeg" if kind == "compressed_corrupt" else "webp"
            self.pub_compressed.publish(Compressed(header=header, format=fmt, data=bytes(64)))
            return
        if kind == "image_wrong_encoding":
            valid.update(encoding="yuv422", step=16, data=bytes(128))
        elif kind == "image_wrong_data_size":
            valid.update(data=bytes(100))
        elif kind == "image_zero_size":
            valid.update(height=0, width=0, step=0, data=b"")
        elif kind == "image_stamp_future":
            header.stamp = to_stamp(now + float(self.rng.uniform(10.0, 1e6)))
        elif kind == "image_stamp_backwards":
            header.stamp = to_stamp(self.last_forwarded.get(CAMERA, now) - float(self.rng.uniform(5.0, 60.0)))
        self.pub_image.publish(Image(header=header, **valid))

    # -- supervision -----------------------------------------------------------------------
    def _kill(self, child: NodeProcess, restart_overrides: dict | None = None) -> None:
        record, when = self.record, self._now()
        self.graph.kill(child)
        record.kills[child.name] = when
        record.events.append((when - record.origin, f"{child.name} killed (SIGKILL)"))
        self.graph.restart(child, restart_overrides)
        record.events.append((self._now() - record.origin, f"{child.name} restarted"))

    def _check_children(self, children: list[NodeProcess]) -> None:
        record = self.record
        for child in children:
            code = child.exit_code()
            if code is None:
                continue
            record.crash_count += 1
            record.crashes.append(f"{child.name} process exited with {code} (log: {child.log})")
            record.events.append((self._elapsed() or 0.0, f"{child.name} died ({code})"))
            if child.name == "wearable_replay":
                child.expected_exit = True  # nothing to restart it into: counted once
            else:
                self.graph.restart(child)

    def _on_callback_error(self, error: Exception) -> None:
        """A callback raised (the node would have died): a crash."""
        record = self.record
        record.crash_count += 1
        if len(record.crashes) >= 100:
            return
        where = traceback.extract_tb(error.__traceback__)[-1]
        record.crashes.append(
            f"{type(error).__name__} in a callback ({Path(where.filename).name}:{where.lineno}): {str(error)[:160]}"
        )

    def run(self, progress=None) -> FaultRecord:
        from .description import capture_graph

        config, record = self.config, self.record
        for previous in ("bag_1", "bag_2", "repaired", "logs"):  # this tool's own output of an earlier run
            shutil.rmtree(config.out / previous, ignore_errors=True)
        config.out.mkdir(parents=True, exist_ok=True)
        logs = config.out / "logs"
        specs = {s.name: s for s in capture_graph(replay=True, record=True)}
        replay_remaps = tuple((interface.imu_topic(s), RAW + interface.imu_topic(s)) for s in config.sites)
        replay_remaps += ((interface.CAMERA_IMAGE, RAW + interface.CAMERA_IMAGE),)
        replay_overrides = {
            "wearable_replay": {
                "loop": True,
                "sites": list(config.sites),
                "imu_rate": config.imu_rate,
                "camera_rate": config.camera_rate,
            }
        }
        captioning_remaps = ((interface.TEXT_INPUT, RAW + interface.TEXT_INPUT),)
        fusion_overrides = {"fusion": {f"imu.{site}.frame_id": f"{site}_imu" for site in config.sites}}
        with Harness(domain_id=config.domain_id, on_callback_error=self._on_callback_error) as graph:
            self.graph = graph
            # They load while the fusion node loads here.
            captioning = graph.start_process(
                dataclasses.replace(specs["captioning"], remappings=captioning_remaps), {}, logs
            )
            recorder = graph.start_process(specs["recorder"], {"recorder": {"output": str(record.bags[0])}}, logs)
            children = [captioning, recorder]
            self.fusion = fusion = graph.start_node(specs["fusion"], fusion_overrides)
            self._record_received(fusion)
            self._setup_node(graph.create_node("fault_benchmark"))
            names = {c.name for c in children}
            try:
                missing = graph.wait_ready(names, config.startup_timeout_s, observer=self.node)
            except GraphStartError as error:
                raise RuntimeError(f"{', '.join(error.dead)} exited at start (see {logs})") from None
            if missing:
                raise RuntimeError(f"{', '.join(sorted(names))} not ready after {config.startup_timeout_s:g} s")
            replay = graph.start_process(
                dataclasses.replace(specs["wearable_replay"], remappings=replay_remaps), replay_overrides, logs
            )
            children.append(replay)
            started = time.monotonic()
            last_check = last_report = started
            graph.spin_until(lambda: record.origin is not None or replay.process.poll() is not None, timeout_s=60)
            if record.origin is None:
                raise RuntimeError(f"the replay published nothing (see {logs})")
            pending = sorted(
                (at * config.duration_s, name)
                for at, name in ((config.kill_captioner_at, "captioning"), (config.kill_recorder_at, "recorder"))
                if at is not None
            )
            while (elapsed := self._elapsed()) < config.duration_s:
                graph.spin_once(0.02)
                if pending and elapsed >= pending[0][0]:
                    _, name = pending.pop(0)
                    if name == "recorder":
                        self._kill(recorder, {"recorder": {"output": str(record.bags[1])}})
                    else:
                        self._kill(captioning)
                if time.monotonic() - last_check >= 1.0:
                    last_check = time.monotonic()
                    record.rss.append((elapsed, _rss_bytes()))
                    self._check_children(children)
                if progress and time.monotonic() - last_report >= 15:
                    last_report = time.monotonic()
                    progress(record, elapsed)
            record.events.append((self._elapsed(), "end: replay stopped"))
            graph.stop(replay)
            graph.drain(1.5)  # the last frames
            self._check_children(children)
            graph.stop(*children)
            record.fusion = fusion_counters(fusion)
        return record
