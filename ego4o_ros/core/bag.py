"""rosbag2 directories (MCAP) without rosbag2_py, through ``rosbags``.

``BagWriter`` stores the raw CDR bytes it is given unchanged, each topic's QoS profile
(so a replay offers the same QoS) and the message definitions (standard ones from
rosbags' Kilted typestore, custom ones from ``.msg`` text). ``read_bag`` reads any
rosbag2 directory back. No ROS imports: the recorder node passes bytes in.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

_NEVER = QosTime(0, 0)
QOS_PROFILES = {
    "sensor": Qos(QosHistory.KEEP_LAST, 200, QosReliability.BEST_EFFORT, QosDurability.VOLATILE, _NEVER, _NEVER,
                  QosLiveliness.AUTOMATIC, _NEVER, False),
    "reliable": Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, _NEVER, _NEVER,
                    QosLiveliness.AUTOMATIC, _NEVER, False),
    "latched": Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _NEVER, _NEVER,
                   QosLiveliness.AUTOMATIC, _NEVER, False),
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    msgtype: str          # e.g. "sensor_msgs/msg/Imu"
    qos: str = "sensor"   # a key of QOS_PROFILES


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    timestamp_ns: int
    cdr: bytes


def _typestore(custom_msg_definitions: dict[str, str] | None):
    store = get_typestore(Stores.ROS2_KILTED)
    for name, text in (custom_msg_definitions or {}).items():
        store.register(get_types_from_msg(text, name))
    return store


class BagWriter:
    def __init__(self, path: str | Path, topics=(), custom_msg_definitions: dict[str, str] | None = None,
                 flush_period_s: float = 1.0):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} exists already: choose another output")
        self.typestore = _typestore(custom_msg_definitions)
        self.flush_period_s = flush_period_s
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {}
        self.messages_written: dict[str, int] = {}
        for spec in topics:
            self.add_topic(spec)

    def add_topic(self, spec: TopicSpec) -> None:
        if spec.name in self._connections:
            return
        if spec.qos not in QOS_PROFILES:
            raise ValueError(f"unknown QoS {spec.qos!r}; one of {sorted(QOS_PROFILES)}")
        self._connections[spec.name] = self._writer.add_connection(
            spec.name, spec.msgtype, typestore=self.typestore, offered_qos_profiles=[QOS_PROFILES[spec.qos]])
        self.messages_written[spec.name] = 0

    def write(self, topic: str, timestamp_ns: int, cdr: bytes) -> None:
        self._writer.write(self._connections[topic], int(timestamp_ns), bytes(cdr))
        self.messages_written[topic] += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_bag(path: str | Path) -> Iterator[BagMessage]:
    """Every message of a rosbag2 directory, in timestamp order, CDR bytes unchanged."""
    path = Path(path)
    if not (path / "metadata.yaml").exists():
        raise FileNotFoundError(f"{path}: not a rosbag2 directory (no metadata.yaml)")
    with Reader(path) as reader:
        for connection, timestamp, data in reader.messages():
            yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(data))


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """topic -> (message type, message count)."""
    path = Path(path)
    if not (path / "metadata.yaml").exists():
        raise FileNotFoundError(f"{path}: not a rosbag2 directory (no metadata.yaml)")
    with Reader(path) as reader:
        counts: dict[str, tuple[str, int]] = {}
        for connection in reader.connections:
            _, count = counts.get(connection.topic, (connection.msgtype, 0))
            counts[connection.topic] = (connection.msgtype, count + connection.msgcount)
        return counts
