"""Wearable replay node: a motion clip or a recorded bag -> live wearable topics.

From a clip (BVH / HumanML3D / AMASS; default: the bundled Bandai walk) it publishes
``imu/<site>`` (``sensor_msgs/Imu``) for the chosen sites at the device rate, with
optional noise, drops and outages, optional camera frames (``camera/image_raw``: the
head-worn camera's view rendered from the motion, ``core/egocentric.py``), and the ground truth on
``ground_truth/joint_poses``. From a bag it republishes every recorded topic
unchanged (raw CDR). ``speed`` > 1 replays faster than real time. This is the demo
source and the test fixture; real wearable bridges publish the same topics.
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, Imu
from std_msgs.msg import Header

from .. import interface
from ..live.replay import ReplayConfig, WearableReplay
from ..paths import SAMPLE_CLIP as SAMPLE
from .common import (
    declare,
    message_class,
    pose_array,
    reliable_qos,
    run_node,
    sensor_qos,
    to_stamp,
    warn_unknown_parameters,
)


def parse_outages(entries: list[str]) -> tuple[tuple[str, float, float], ...]:
    """["head:3.0:5.0", ...] -> ((site, start s, end s), ...)."""
    out = []
    for entry in entries:
        try:
            site, start, end = entry.split(":")
            out.append((site, float(start), float(end)))
        except ValueError:
            raise ValueError(f"outages: expected 'site:start_s:end_s', got {entry!r}") from None
    return tuple(out)


class WearableReplayNode(Node):
    def __init__(self, **kwargs):
        super().__init__("wearable_replay", **kwargs)
        clip = declare(self, "clip", "", "motion file to replay (BVH, HumanML3D .npy, AMASS .npz; '' = bundled walk)")
        clip = clip or str(SAMPLE)
        self.bag = declare(self, "bag", "", "rosbag2 directory to republish instead of a clip ('' = use clip)")
        # A capture bag also holds the outputs; republishing those would clash with the live fusion node.
        bag_topics = declare(
            self,
            "bag_topics",
            ["imu/*", "camera/*", "ground_truth/*"],
            "topics of the bag to republish (fnmatch patterns, relative names resolve)",
        )
        max_duration = declare(self, "max_duration", 0.0, "s of the clip or bag to replay (0 = all)")
        # Faster than real time, data stamps run ahead of the wall clock: other nodes then
        # follow the data's time with use_sim_time (as with `ros2 bag play --clock`).
        publish_clock = declare(self, "publish_clock", False, "publish the replayed data's time on /clock")
        self.speed = declare(self, "speed", 1.0, "replay speed (1 = real time)", min=0.01, max=100.0)
        self.loop = declare(self, "loop", False, "start again at the end")
        self.start_delay = declare(self, "start_delay", 0.5, "s to wait before the first sample (let subscribers join)")
        self.camera_rate = declare(
            self, "camera_rate", 0.0, "Hz of rendered egocentric camera frames (0 = no camera)", min=0.0, max=240.0
        )
        config = ReplayConfig(
            sites=tuple(declare(self, "sites", list(interface.DEFAULT_SITES), "IMU sites to publish")),
            imu_rate_hz=declare(self, "imu_rate", 100.0, "Hz of every IMU", min=1.0, max=2000.0),
            acc_noise=declare(self, "acc_noise", 0.0, "m/s^2 Gaussian noise on accelerations"),
            drop_probability=declare(self, "drop_probability", 0.0, "chance that any one sample is lost"),
            # A typed string-array default needs one entry: the empty string means none.
            outages=parse_outages(
                [e for e in declare(self, "outages", [""], "'site:start_s:end_s' windows without samples") if e]
            ),
        )
        self.finished = False
        self.published = 0
        self._elapsed = 0.0  # replay time (s) already published
        self._offset = 0.0  # added to replay time when looping
        self._start = None  # wall time the current loop started
        self._origin = None  # wall time the first loop started: the stamps' origin
        self._next_image = 0.0  # clip time of the next camera frame
        if self.bag:
            self._setup_bag(
                Path(self.bag),
                [t if t.startswith("/") else f"{self.get_namespace().rstrip('/')}/{t}" for t in bag_topics],
                max_duration,
            )
            self.loop_period = self.duration + 1e-3
        else:
            self.replay = WearableReplay.from_file(clip, config)
            self.duration = min(self.replay.duration, max_duration or np.inf)
            # One sample period between loops, so stamps keep increasing across the seam.
            self.loop_period = self.duration + 1.0 / config.imu_rate_hz
            self.pub_imu = {
                site: self.create_publisher(Imu, interface.imu_topic(site), sensor_qos()) for site in config.sites
            }
            self.pub_truth = self.create_publisher(PoseArray, interface.GROUND_TRUTH_POSES, reliable_qos())
            self.pub_image = self.create_publisher(Image, interface.CAMERA_IMAGE, sensor_qos(5))
            # Rendered once up front (a few seconds per minute of motion), then only published.
            self.views = self.replay.camera_views() if self.camera_rate > 0 else None
            self.get_logger().info(
                f"replaying {self.replay.name} ({self.duration:.1f} s) on {', '.join(config.sites)}"
                f" at {config.imu_rate_hz:g} Hz, speed {self.speed:g}"
            )
        self.pub_clock = self.create_publisher(Clock, "/clock", reliable_qos()) if publish_clock else None
        # Ticks at twice the IMU rate: a sample leaves at most half a period after its stamp.
        self.tick = min(0.01, 0.5 / config.imu_rate_hz)
        warn_unknown_parameters(self)
        self.timer = self.create_timer(self.tick, self._on_timer)

    def _setup_bag(self, path: Path, patterns: list[str], max_duration: float) -> None:
        from ..core.bag import read_bag

        self.messages = [m for m in read_bag(path) if any(fnmatch.fnmatchcase(m.topic, p) for p in patterns)]
        if not self.messages:
            raise ValueError(f"{path}: no messages on {patterns}")
        self.bag_start = self.messages[0].timestamp_ns
        if max_duration > 0:
            end = self.bag_start + int(max_duration * 1e9)
            self.messages = [m for m in self.messages if m.timestamp_ns <= end]
        self.duration = (self.messages[-1].timestamp_ns - self.bag_start) * 1e-9
        self.bag_publishers, self._bag_index = {}, 0
        for message in self.messages:
            if message.topic in self.bag_publishers:
                continue
            try:
                kind = message_class(message.msgtype)
            except (ImportError, AttributeError):
                self.get_logger().warn(f"{message.topic}: type {message.msgtype} not installed here, not replayed")
                self.bag_publishers[message.topic] = None
                continue
            self.bag_publishers[message.topic] = self.create_publisher(kind, message.topic, sensor_qos())
        self.get_logger().info(f"replaying bag {path} ({self.duration:.1f} s, {len(self.messages)} messages)")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_timer(self) -> None:
        if self.finished:
            return
        now = self._now()
        if self._start is None:
            # Stamps fall midway between ticks, so a sample leaves half a tick after its
            # stamp (not a whole one whenever timer jitter fires a tick just before it).
            next_tick = now + (self.timer.time_until_next_call() or 0) * 1e-9
            self._start = self._origin = next_tick + np.ceil(self.start_delay / self.tick) * self.tick - self.tick / 2
        if now < self._start:
            return
        target = (now - self._start) * self.speed
        if self.pub_clock is not None:  # first, so no sample is ahead of the clock
            data_time = (self.bag_start * 1e-9 if self.bag else self._origin + self._offset) + min(
                target, self.duration
            )
            self.pub_clock.publish(Clock(clock=to_stamp(data_time)))
        if self.bag:
            self._publish_bag(target)
        else:
            self._publish_clip(self._elapsed, min(target, self.duration + 1e-9))
        self._elapsed = target
        if target >= self.duration:
            if not self.loop:
                self.finished = True
                self.get_logger().info(f"replay finished: {self.published} messages")
                return
            self._start, self._elapsed = self._start + self.loop_period / self.speed, 0.0
            self._offset += self.loop_period
            self._next_image -= self.loop_period
            self._bag_index = 0

    def _publish_clip(self, start: float, end: float) -> None:
        # Stamps are the data's own time (start + clip time), so relative timing is exact
        # whatever the replay speed.
        base = self._origin + self._offset
        for sample in self.replay.imu_samples(start, end):
            msg = Imu(header=Header(stamp=to_stamp(base + sample.stamp), frame_id=f"{sample.site}_imu"))
            msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = map(float, sample.acc)
            q = sample.quat_xyzw
            msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = map(float, q)
            msg.angular_velocity_covariance[0] = -1.0  # no gyro in the synthesis
            self.pub_imu[sample.site].publish(msg)
            self.published += 1
        for stamp, joints in self.replay.truth_frames(start, end):
            self.pub_truth.publish(pose_array(Header(stamp=to_stamp(base + stamp), frame_id="world"), joints))
        while self.camera_rate > 0 and self._next_image < end:
            self.pub_image.publish(self._camera_frame(base, self._next_image))
            self._next_image += 1.0 / self.camera_rate

    def _camera_frame(self, base: float, clip_time: float) -> Image:
        """The rendered view of the ground-truth frame at ``clip_time``, stamped like the IMUs."""
        view = self.views[min(int(round(clip_time * self.replay.fps)), len(self.views) - 1)]
        height, width = view.shape[:2]
        return Image(
            header=Header(stamp=to_stamp(base + clip_time), frame_id="head_camera"),
            height=height,
            width=width,
            encoding="rgb8",
            step=width * 3,
            data=view.tobytes(),
        )

    def _publish_bag(self, target: float) -> None:
        limit = self.bag_start + int(target * 1e9)
        while self._bag_index < len(self.messages) and self.messages[self._bag_index].timestamp_ns <= limit:
            message = self.messages[self._bag_index]
            publisher = self.bag_publishers.get(message.topic)
            if publisher is not None:
                publisher.publish(bytes(message.cdr))
                self.published += 1
            self._bag_index += 1


def main(args=None) -> int:
    return run_node(WearableReplayNode, args, until=lambda node: node.finished)


if __name__ == "__main__":
    sys.exit(main())
