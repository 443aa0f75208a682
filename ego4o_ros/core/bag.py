"""rosbag2 directories (metadata.yaml + MCAP) without rosbag2_py, through ``rosbags``.

Writing. ``BagWriter`` wraps ``rosbags.rosbag2.Writer`` (MCAP storage, metadata version 9).
It stores the CDR bytes it is given unchanged (no re-serialisation: the recorder node
subscribes raw), each topic's QoS profile (``offered_qos_profiles``, so a replay offers the
same QoS instead of falling back to defaults) and every message definition in the MCAP
schema records: standard types from rosbags' Kilted typestore, custom ones from ``.msg``
text. No ROS imports: the caller passes bytes in.

Crash guarantee. rosbags on its own loses everything on a SIGKILL: its MCAP writer keeps
the current chunk (up to 1 MiB, about 30 s of IMU data) in memory, and both the MCAP
summary/footer and metadata.yaml are written only on close, so the rosbags reader refuses
the file. ``BagWriter`` therefore runs a small thread that every ``flush_period_s`` closes
the pending chunk and flushes (and fsyncs) the file. After a kill at any moment the MCAP
file is the header, a run of complete chunks and maybe one torn record at the end: at most
about ``flush_period_s`` of messages (plus the flush in progress) are missing.
``repair_bag`` turns such a directory back into a complete bag: it scans the records up to
the last complete one and writes them again through rosbags (same bytes, definitions and
QoS), replacing the torn file. ``read_bag``/``bag_topics`` call it when a bag has no
metadata.yaml or an MCAP file without its end magic. A lock file (``flock``, released by
the kernel when the recorder dies, however it dies) stops a repair of a bag that is still
being recorded.

A complete bag is an ordinary rosbags bag: ``rosbags.rosbag2.Reader``/``AnyReader`` and
``ros2 bag`` read it (replaying a custom type needs its package on the replaying machine).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.rosbag2.storage_mcap import decompress
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

# Kilted is what the ROS 2 wheels here are; an older rosbags without it gets Jazzy.
STANDARD_STORE = getattr(Stores, "ROS2_KILTED", Stores.ROS2_JAZZY)

_DEFAULT = QosTime(0, 0)  # 0 s = the RMW default (infinite) for deadline, lifespan, lease
QOS_PROFILES = {
    "sensor": Qos(
        QosHistory.KEEP_LAST,
        200,
        QosReliability.BEST_EFFORT,
        QosDurability.VOLATILE,
        _DEFAULT,
        _DEFAULT,
        QosLiveliness.AUTOMATIC,
        _DEFAULT,
        False,
    ),
    "reliable": Qos(
        QosHistory.KEEP_LAST,
        10,
        QosReliability.RELIABLE,
        QosDurability.VOLATILE,
        _DEFAULT,
        _DEFAULT,
        QosLiveliness.AUTOMATIC,
        _DEFAULT,
        False,
    ),
    "latched": Qos(
        QosHistory.KEEP_LAST,
        1,
        QosReliability.RELIABLE,
        QosDurability.TRANSIENT_LOCAL,
        _DEFAULT,
        _DEFAULT,
        QosLiveliness.AUTOMATIC,
        _DEFAULT,
        False,
    ),
}
LOCK_NAME = "recording.lock"
_MCAP_MAGIC = b"\x89MCAP0\r\n"


class BagError(RuntimeError):
    """A bag that cannot be read or repaired (still being recorded, not MCAP, split)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    msgtype: str  # e.g. "sensor_msgs/msg/Imu"
    qos: str = "sensor"  # a key of QOS_PROFILES


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    timestamp_ns: int
    cdr: bytes
    # The definition stored in the bag (the same string object for every message of a
    # topic), so deserialize() works for custom types nobody registered here.
    msgdef: str = field(default="", repr=False, compare=False)


def standard_typestore(custom_msg_definitions: dict[str, str] | None = None):
    """Kilted types plus custom ones, {"pkg/msg/Name": ".msg text"}."""
    store = get_typestore(STANDARD_STORE)
    for name, text in (custom_msg_definitions or {}).items():
        store.register(get_types_from_msg(text, name))
    return store


def message_definition(msgtype: str, custom_msg_definitions: dict[str, str] | None = None) -> str:
    """The full ros2msg text of a type with its dependencies, as MCAP and Foxglove want it."""
    return standard_typestore(custom_msg_definitions).generate_msgdef(msgtype, ros_version=2)[0]


class BagWriter:
    """Raw CDR -> a new rosbag2 directory, flushed every ``flush_period_s`` (module doc)."""

    def __init__(
        self,
        path: str | Path,
        topics: list[TopicSpec] = (),
        custom_msg_definitions: dict[str, str] | None = None,
        flush_period_s: float = 1.0,
    ):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} exists already; refusing to overwrite it, choose another output")
        if not flush_period_s > 0:
            raise ValueError(f"flush_period_s must be > 0, got {flush_period_s}")
        self.typestore = standard_typestore(custom_msg_definitions)
        for spec in topics:
            self._check(spec)  # before anything exists on disk
        self.flush_period_s = flush_period_s
        self.messages_written: dict[str, int] = {}
        self._specs: dict[str, TopicSpec] = {}
        self._connections = {}
        self._lock = threading.Lock()  # write() comes from the executor, flush() from our thread
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        # Held for the whole recording; the kernel drops it when this process dies.
        self._lock_file = open(self.path / LOCK_NAME, "w")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for spec in topics:
            self.add_topic(spec)
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name=f"bag-flush {self.path.name}", daemon=True)
        self._flusher.start()

    def add_topic(self, spec: TopicSpec) -> None:
        """Start recording a topic (also while recording). Adding the same spec again is a no-op."""
        self._check(spec)
        with self._lock:
            if self._writer is None:
                raise ValueError(f"bag {self.path} is closed")
            if (known := self._specs.get(spec.name)) is not None:
                if known.msgtype != spec.msgtype:
                    raise ValueError(f"topic {spec.name} is recorded as {known.msgtype}, not {spec.msgtype}")
                return
            self._connections[spec.name] = self._writer.add_connection(
                spec.name, spec.msgtype, typestore=self.typestore, offered_qos_profiles=[QOS_PROFILES[spec.qos]]
            )
            self._specs[spec.name] = spec
            self.messages_written[spec.name] = 0

    def _check(self, spec: TopicSpec) -> None:
        if spec.qos not in QOS_PROFILES:
            raise ValueError(f"unknown QoS {spec.qos!r} for {spec.name}; one of {sorted(QOS_PROFILES)}")
        if spec.msgtype not in self.typestore.fielddefs:
            raise ValueError(
                f"unknown message type {spec.msgtype} for {spec.name}: not a {STANDARD_STORE.name} "
                "type and not in custom_msg_definitions"
            )

    def write(self, topic: str, timestamp_ns: int, cdr: bytes) -> None:
        """Store one message's CDR bytes as they are."""
        connection = self._connections.get(topic)
        if connection is None:
            raise KeyError(f"topic {topic} was not added to bag {self.path} (add_topic first)")
        with self._lock:
            if self._writer is None:
                raise ValueError(f"bag {self.path} is closed")
            self._writer.write(connection, int(timestamp_ns), cdr)
            self.messages_written[topic] += 1

    def flush(self) -> None:
        """Put every message written so far on disk as complete MCAP chunks."""
        with self._lock:
            if self._writer is None:
                return
            # rosbags internals (0.11): Writer.storage is the McapWriter, whose pending chunk
            # lives in memory until close_chunk(). An empty chunk (schemas only) would get
            # start > end times, so only chunks holding messages are closed early.
            storage = self._writer.storage
            if storage.chunk.msgs:
                storage.close_chunk()
            storage.bio.flush()  # in the page cache now: a killed process loses none of it
            os.fsync(storage.bio.fileno())  # on the disk too, for power cuts (a SIGKILL needs only the flush)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_period_s):
            self.flush()

    def close(self) -> None:
        """Finish the bag: MCAP summary and footer, metadata.yaml, lock released."""
        if self._writer is None:
            return
        self._stop.set()
        self._flusher.join()
        with self._lock:
            writer, self._writer = self._writer, None
            writer.close()
        (self.path / LOCK_NAME).unlink(missing_ok=True)
        self._lock_file.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also on an exception: what was recorded is worth keeping


# ---------------------------------------------------------------------------------------------
# Reading


def read_bag(path: str | Path) -> Iterator[BagMessage]:
    """Every message of a rosbag2 directory in timestamp order, CDR bytes unchanged.

    A bag whose recorder was killed is repaired first (``repair_bag``, in place). Errors
    (missing bag, bag still being recorded) are raised here, not at the first ``next()``.
    """
    path = _readable(path)
    return _messages(path)


def _messages(path: Path) -> Iterator[BagMessage]:
    with Reader(path) as reader:
        for connection, timestamp, data in reader.messages():
            yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(data), connection.msgdef.data)


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """topic -> (message type, message count); repairs a killed bag first like ``read_bag``."""
    path = _readable(path)
    with Reader(path) as reader:
        counts: dict[str, tuple[str, int]] = {}
        for connection in reader.connections:
            _, count = counts.get(connection.topic, (connection.msgtype, 0))
            counts[connection.topic] = (connection.msgtype, count + connection.msgcount)
        return counts


def deserialize(message: BagMessage):
    """The rosbags message object, from the definition stored in the bag (Kilted types if none)."""
    return _typestore_for(message.msgtype, message.msgdef).deserialize_cdr(message.cdr, message.msgtype)


@lru_cache(maxsize=64)
def _typestore_for(msgtype: str, msgdef: str):
    if not msgdef:
        return get_typestore(STANDARD_STORE)
    store = get_typestore(Stores.EMPTY)
    store.register(
        _types_from_definition(msgtype, "ros2idl" if msgdef.startswith("=" * 80 + "\nIDL: ") else "ros2msg", msgdef)
    )
    return store


def _types_from_definition(msgtype: str, encoding: str, text: str) -> dict:
    """Parse a stored definition (the concatenated ``MSG:``/``IDL:`` format rosbag2 uses)."""
    if encoding == "ros2msg":
        return get_types_from_msg(text, msgtype)
    sep = "=" * 80 + "\n"
    if not text.startswith(sep + "IDL: "):
        return get_types_from_idl(text)
    types = {}
    for part in text.split(sep)[1:]:
        types.update(get_types_from_idl(part.split("\n", 1)[1]))
    return types


def _readable(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no rosbag2 directory at {path}")
    if needs_repair(path):
        repair_bag(path)
    return path


def needs_repair(path: str | Path) -> bool:
    """True for a bag whose writer did not finish: no metadata.yaml or an MCAP file without its end."""
    path = Path(path)
    if not (path / "metadata.yaml").exists():
        return True
    return not all(_ends_with_magic(mcap) for mcap in path.glob("*.mcap"))


def _ends_with_magic(mcap: Path) -> bool:
    """rosbags writes the footer and closing magic last; a killed writer never gets there."""
    with mcap.open("rb") as f:
        if f.seek(0, os.SEEK_END) < 2 * len(_MCAP_MAGIC):
            return False
        f.seek(-len(_MCAP_MAGIC), os.SEEK_END)
        return f.read() == _MCAP_MAGIC


# ---------------------------------------------------------------------------------------------
# Repair


def repair_bag(path: str | Path) -> Path:
    """Make a bag whose recorder was killed complete again, in place; returns its path.

    Keeps every complete record of the MCAP file (schemas, channels with their QoS, messages
    in complete chunks) and writes them again through rosbags into a new MCAP file with its
    index, footer and metadata.yaml, which then replace the torn file. Interrupting a repair
    is safe: the torn file stays until the new one is complete, and running it again
    redoes it.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no rosbag2 directory at {path}")
    _check_not_recording(path)
    mcaps = sorted(path.glob("*.mcap"))
    if not mcaps:
        raise BagError(f"{path} holds no .mcap file: not a bag written by BagWriter (only MCAP bags are repaired)")
    if len(mcaps) > 1:
        raise BagError(f"{path} holds {len(mcaps)} .mcap files; split bags are not repaired")
    work = path.parent / f".{path.name}.repair"
    shutil.rmtree(work, ignore_errors=True)  # what an interrupted repair left
    rebuilt = work / path.name
    _rewrite(mcaps[0], rebuilt)
    new_mcap = rebuilt / f"{path.name}.mcap"
    # MCAP first, metadata.yaml last: until metadata.yaml is there, needs_repair() stays true.
    (path / "metadata.yaml").unlink(missing_ok=True)
    os.replace(new_mcap, path / new_mcap.name)
    if mcaps[0].name != new_mcap.name:
        mcaps[0].unlink()
    os.replace(rebuilt / "metadata.yaml", path / "metadata.yaml")
    (path / LOCK_NAME).unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    return path


def _check_not_recording(path: Path) -> None:
    lock = path / LOCK_NAME
    if not lock.exists():
        return
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BagError(
                f"{path} is still being recorded (its writer holds {lock}); close it before reading"
            ) from None


def _rewrite(mcap: Path, out: Path) -> None:
    """Every complete record of ``mcap`` -> a new bag at ``out`` (rosbags Writer)."""
    writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        _copy_records(mcap, writer)
    except BaseException:
        writer.abort()
        raise
    writer.close()


def _copy_records(mcap: Path, writer: Writer) -> None:
    schemas: dict[int, tuple[str, str, str]] = {}
    connections = {}
    store = get_typestore(Stores.EMPTY)  # the bag's own definitions, for the type hashes
    with mcap.open("rb") as f:
        for op, body in _complete_records(f):
            if op == 0x03:  # schema: id, name, encoding, data
                (sid,) = struct.unpack_from("<H", body)
                name, at = _string(body, 2)
                encoding, at = _string(body, at)
                data, _ = _string(body, at)
                schemas[sid] = (name, encoding, data)
            elif op == 0x04:  # channel: id, schema id, topic, encoding, metadata map
                cid, sid = struct.unpack_from("<HH", body)
                topic, at = _string(body, 4)
                encoding, at = _string(body, at)
                if cid in connections or sid not in schemas:
                    continue
                msgtype, schema_encoding, msgdef = schemas[sid]
                if msgtype not in store.fielddefs:
                    store.register(_types_from_definition(msgtype, schema_encoding, msgdef))
                connections[cid] = writer.add_connection(
                    topic,
                    msgtype,
                    msgdef=msgdef,
                    rihs01=store.hash_rihs01(msgtype),
                    serialization_format=encoding,
                    offered_qos_profiles=_channel_qos(body, at),
                )
            elif op == 0x05:  # message: channel id, sequence, log time, publish time, data
                cid, _, log_time = struct.unpack_from("<HIQ", body)
                if cid in connections:
                    writer.write(connections[cid], log_time, body[22:])


def _complete_records(f: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(opcode, body) of every complete record in the data section, chunks opened.

    Stops quietly at the first torn record (the end a kill leaves), at Data End or Footer.
    """
    magic = f.read(len(_MCAP_MAGIC))
    if magic != _MCAP_MAGIC:
        if _MCAP_MAGIC.startswith(magic):
            return  # killed before anything was flushed: an empty bag
        raise BagError(f"{f.name} is not an MCAP file")
    size = os.fstat(f.fileno()).st_size
    while len(head := f.read(9)) == 9:
        op, length = struct.unpack("<BQ", head)
        if op in (0x00, 0x02, 0x0F) or op > 0x10:  # 0x00/unknown: garbage, not a record start
            return
        if f.tell() + length > size:  # torn (checked before read(): a garbage length could be huge)
            return
        body = f.read(length)
        if op == 0x06:
            yield from _chunk_records(body)
        else:
            yield op, body


def _chunk_records(body: bytes) -> Iterator[tuple[int, bytes]]:
    _, _, uncompressed_size, crc = struct.unpack_from("<QQQI", body)
    compression, at = _string(body, 28)
    (size,) = struct.unpack_from("<Q", body, at)
    # Uncompressed (what BagWriter writes) or zstd/lz4 from other writers; checks the CRC if any.
    data = decompress(body[at + 8 : at + 8 + size], compression, uncompressed_size, crc)
    at = 0
    while at + 9 <= len(data):
        op, length = struct.unpack_from("<BQ", data, at)
        yield op, data[at + 9 : at + 9 + length]
        at += 9 + length


def _string(buf: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, at)
    return buf[at + 4 : at + 4 + size].decode(), at + 4 + size


def _channel_qos(body: bytes, at: int) -> list[Qos]:
    """The ``offered_qos_profiles`` entry of a channel's metadata map (a YAML string)."""
    (size,) = struct.unpack_from("<I", body, at)
    at, end = at + 4, at + 4 + size
    while at < end:
        key, at = _string(body, at)
        value, at = _string(body, at)
        if key == "offered_qos_profiles":
            return parse_qos(value)
    return []
