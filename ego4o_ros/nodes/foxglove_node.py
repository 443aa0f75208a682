"""Foxglove live view node: the graph's topics -> a Foxglove WebSocket (foxglove-sdk).

Off by default (``foxglove:=true`` on the launch file, ``ego4o-capture --foxglove``) and
bound to 127.0.0.1. Like the recorder it subscribes raw, once a topic has a publisher, and
forwards the CDR bytes unchanged with their ros2msg schema, so Foxglove decodes them as
ROS 2 messages: the 3D panel shows ``skeleton_markers``, plots read ``joint_states``,
Raw Messages shows ``description`` and ``/diagnostics``. Connect Foxglove to
``ws://127.0.0.1:<port>`` (default 8766: 8765 is foxglove_bridge's).
"""

from __future__ import annotations

import sys

from rclpy.node import Node

from .. import interface
from ..core.bag import message_definition
from .common import (
    declare,
    newly_published_topics,
    reliable_qos,
    run_node,
    sensor_qos,
    warn_unknown_parameters,
)
from .recorder_node import DEFAULT_TOPICS, custom_message_definitions


class FoxgloveViewNode(Node):
    def __init__(self, **kwargs):
        super().__init__("foxglove_view", **kwargs)
        try:
            import foxglove
        except ImportError:
            raise RuntimeError("the Foxglove view needs foxglove-sdk: pip install foxglove-sdk") from None
        self._foxglove = foxglove
        host = declare(self, "host", "127.0.0.1", "address to serve on (127.0.0.1 = this machine only)")
        port = declare(self, "port", 8766, "WebSocket port (0 = any free one; 8765 is foxglove_bridge's)")
        topics = declare(
            self, "topics", DEFAULT_TOPICS + [interface.CAMERA_IMAGE], "topics to show (relative names resolve)"
        )
        self.wanted = {self.resolve_topic_name(t) for t in topics}
        self._custom = custom_message_definitions()
        self.foxglove_context = foxglove.Context()  # our own channels, apart from any other user of the SDK
        self.server = foxglove.start_server(name="ego4o_ros", host=host, port=port, context=self.foxglove_context)
        self.port = self.server.port
        self.channels: dict[str, object] = {}
        self.forwarded: dict[str, int] = {}
        self.create_timer(declare(self, "discovery_period", 0.5, "s between looks for new topics"), self._discover)
        warn_unknown_parameters(self)
        self.get_logger().info(f"Foxglove: connect to ws://{host}:{self.port}")
        self._discover()

    def _discover(self) -> None:
        for topic, msgtype, kind, best_effort in newly_published_topics(self, self.wanted, set(self.channels)):
            try:
                schema = self._foxglove.Schema(
                    name=msgtype.replace("/msg/", "/"),
                    encoding="ros2msg",
                    data=message_definition(msgtype, self._custom).encode(),
                )
            except Exception as error:  # noqa: BLE001 - a type rosbags cannot describe: skip it, keep the rest
                self.get_logger().warn(f"{topic}: not shown: {error}")
                self.channels[topic] = None
                continue
            self.channels[topic] = self._foxglove.Channel(
                topic, schema=schema, message_encoding="cdr", context=self.foxglove_context
            )
            self.forwarded[topic] = 0
            qos = sensor_qos() if best_effort else reliable_qos(100)
            self.create_subscription(kind, topic, lambda data, name=topic: self._forward(name, data), qos, raw=True)

    def _forward(self, topic: str, cdr: bytes) -> None:
        self.channels[topic].log(cdr, log_time=self.get_clock().now().nanoseconds)
        self.forwarded[topic] += 1

    def destroy_node(self):
        self.server.stop()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(FoxgloveViewNode, args)


if __name__ == "__main__":
    sys.exit(main())
