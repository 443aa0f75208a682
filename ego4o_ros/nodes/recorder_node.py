"""Recorder node: chosen topics -> a rosbag2 directory (MCAP), without rosbag2_py.

Subscribes raw (the CDR bytes are written unchanged), records each topic's QoS and
message definition (custom ones from ``msg/``), picks up topics that appear later,
and writes through ``core/bag.BagWriter``, which flushes about once a second so a
killed recorder loses at most about that much.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rclpy.node import Node

from .. import interface
from ..core import imu
from ..core.bag import BagWriter, TopicSpec
from ..paths import share_file
from .common import (
    declare,
    newly_published_topics,
    reliable_qos,
    run_node,
    sensor_qos,
    warn_unknown_parameters,
)

DEFAULT_TOPICS = [
    *(interface.imu_topic(site) for site in imu.IMU_SITES),
    interface.JOINT_STATES,
    interface.JOINT_POSES,
    interface.SMPL_POSE,
    interface.SKELETON_MARKERS,
    interface.DESCRIPTION,
    interface.DESCRIPTION_STAMPED,
    interface.TEXT_INPUT,
    interface.GROUND_TRUTH_POSES,
    interface.CAMERA_IMAGE,  # the head camera (64x64 rendered views: ~0.4 MB/s at 30 Hz)
    interface.CAMERA_COMPRESSED,
    interface.DIAGNOSTICS,
    interface.ROBOT_JOINT_STATES,
    interface.ROBOT_ROOT_POSE,
]  # the retarget node's, when it runs


def custom_message_definitions() -> dict[str, str]:
    """The package's own ``.msg`` files, "ego4o_ros/msg/Name" -> text."""
    try:
        folder = share_file("msg")
    except FileNotFoundError:
        return {}
    return {f"ego4o_ros/msg/{p.stem}": p.read_text() for p in sorted(folder.glob("*.msg"))}


class RecorderNode(Node):
    def __init__(self, **kwargs):
        super().__init__("recorder", **kwargs)
        output = declare(self, "output", "", "bag directory to create ('' = bags/ego4o_<date>_<time>)")
        self.wanted = {
            self.resolve_topic_name(t)
            for t in declare(self, "topics", DEFAULT_TOPICS, "topics to record (relative names resolve)")
        }
        flush = declare(
            self, "flush_period", 0.5, "s between flushes to disk (the most a kill can lose)", min=0.05, max=60.0
        )
        self.qos_depth = declare(
            self, "qos_depth", 200, "queue depth of each subscription (deeper for fast replays)", min=1, max=100000
        )
        self.path = Path(output or time.strftime("bags/ego4o_%Y%m%d_%H%M%S"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = BagWriter(self.path, custom_msg_definitions=custom_message_definitions(), flush_period_s=flush)
        self.subscribed: set[str] = set()
        self.create_timer(declare(self, "discovery_period", 0.5, "s between looks for new topics"), self._discover)
        self.get_logger().info(f"recording to {self.path}")
        warn_unknown_parameters(self)
        self._discover()

    def _discover(self) -> None:
        for topic, msgtype, kind, best_effort in newly_published_topics(self, self.wanted, self.subscribed):
            try:
                self.writer.add_topic(TopicSpec(topic, msgtype, "sensor" if best_effort else "reliable"))
            except ValueError as error:  # a type the bag cannot describe: say so once, keep recording the rest
                self.get_logger().warn(f"{topic}: not recorded: {error}")
                continue
            qos = sensor_qos(self.qos_depth) if best_effort else reliable_qos(max(100, self.qos_depth))
            self.create_subscription(kind, topic, lambda data, name=topic: self._write(name, data), qos, raw=True)

    def _write(self, topic: str, cdr: bytes) -> None:
        self.writer.write(topic, self.get_clock().now().nanoseconds, cdr)

    def close(self) -> None:
        self.writer.close()

    def destroy_node(self):
        self.close()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(RecorderNode, args)


if __name__ == "__main__":
    sys.exit(main())
