"""ROS 2 messages as CDR bytes, in bulk, without rclpy.

Writing: an analysis emits tens of thousands of messages whose layout never changes
(a ``JointState`` with the same 69 names, a ``PoseArray`` of 22 poses, two skeleton
markers). ``CdrTemplate`` serialises one such message once with rosbags' typestore,
with sentinel values in the slots that change (stamps and float64 fields), finds where
those slots are in the bytes, and then produces any number of messages by copying the
template and writing the new values into those slots: one numpy assignment for a whole
recording instead of one serialisation per message. The result is byte-equal to
serialising each message with rosbags (``test_analyze.py`` checks it).

Reading: ``decode_imu`` turns the CDR bytes of many ``sensor_msgs/Imu`` messages into
arrays at once (rows of equal length are decoded with one ``np.frombuffer``).
"""

from __future__ import annotations

import struct

import numpy as np

from ..core.bag import standard_typestore

_BASE_DTYPES = {
    "bool": np.bool_,
    "byte": np.uint8,
    "char": np.uint8,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "float32": np.float32,
    "float64": np.float64,
}
_STAMP_SEC, _STAMP_NSEC = 1_987_654_321, 987_654_321  # sentinels: never a real stamp of ours
_SENTINEL = 7.25e11  # + k: float64 slots (exactly representable)


def _default(store, kind, spec):
    kind = int(kind)
    if kind == 1:  # base type
        base = spec[0]
        if base == "string":
            return ""
        return _BASE_DTYPES[base](0).item() if base in _BASE_DTYPES else 0
    if kind == 2:  # another message
        return message(store, spec)
    sub, length = spec
    if int(sub[0]) == 1 and sub[1][0] in _BASE_DTYPES:
        return np.zeros(length if kind == 3 else 0, _BASE_DTYPES[sub[1][0]])
    return [_default(store, *sub) for _ in range(length)] if kind == 3 else []


def message(store, msgtype: str, **fields):
    """A rosbags message object with every field not given at its zero value."""
    _, defs = store.fielddefs[msgtype]
    unknown = set(fields) - {name for name, _ in defs}
    if unknown:
        raise TypeError(f"{msgtype} has no field(s) {sorted(unknown)}")
    values = {name: fields[name] if name in fields else _default(store, *spec) for name, spec in defs}
    return store.types[msgtype](**values)


class CdrTemplate:
    """One fixed-layout message type with ``slots`` float64 values that change per message.

    ``build(store, sec, nanosec, values)`` returns the rosbags message for one stamp and
    ``values`` (slots,); every header stamp of the message is the given one.
    """

    def __init__(self, msgtype: str, slots: int, build, store=None):
        self.msgtype, self.slots = msgtype, slots
        self.store = store or standard_typestore()
        sentinels = _SENTINEL + np.arange(slots, dtype=np.float64)
        raw = np.frombuffer(
            self.store.serialize_cdr(build(self.store, _STAMP_SEC, _STAMP_NSEC, sentinels), msgtype), np.uint8
        )
        self.template = raw.copy()
        if raw[1] != 1:
            raise ValueError("expected little-endian CDR")
        self.value_offsets = np.array(
            [self._find(raw, struct.pack("<d", v), exactly_one=True)[0] for v in sentinels], dtype=np.int64
        )
        self.sec_offsets = np.array(self._find(raw, struct.pack("<i", _STAMP_SEC)), dtype=np.int64)
        self.nsec_offsets = np.array(self._find(raw, struct.pack("<I", _STAMP_NSEC)), dtype=np.int64)
        if len(self.sec_offsets) == 0 or len(self.sec_offsets) != len(self.nsec_offsets):
            raise ValueError(f"{msgtype}: header stamps not found in the template")

    @staticmethod
    def _find(raw: np.ndarray, pattern: bytes, exactly_one: bool = False) -> list[int]:
        data = raw.tobytes()
        found, at = [], data.find(pattern)
        while at >= 0:
            found.append(at)
            at = data.find(pattern, at + 1)
        if exactly_one and len(found) != 1:
            raise ValueError(f"slot found {len(found)} times in the template (expected once)")
        return found

    def encode(self, stamps_ns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(N,) stamps in ns and (N, slots) values -> (N, message length) uint8 CDR rows."""
        stamps_ns = np.asarray(stamps_ns, np.int64)
        values = np.ascontiguousarray(values, np.float64).reshape(len(stamps_ns), self.slots)
        out = np.tile(self.template, (len(stamps_ns), 1))
        columns = (self.value_offsets[:, None] + np.arange(8)).ravel()
        out[:, columns] = values.view(np.uint8).reshape(len(values), -1)
        sec = (stamps_ns // 1_000_000_000).astype("<i4").view(np.uint8).reshape(-1, 4)
        nsec = (stamps_ns % 1_000_000_000).astype("<u4").view(np.uint8).reshape(-1, 4)
        for offsets, data in ((self.sec_offsets, sec), (self.nsec_offsets, nsec)):
            for offset in offsets:
                out[:, offset : offset + 4] = data
        return out


# ---------------------------------------------------------------------------------------------
# sensor_msgs/Imu, read in bulk

IMU_DOUBLES = 37  # orientation 4, covariance 9, angular velocity 3, covariance 9, acceleration 3, covariance 9


def decode_imu(rows: list[bytes]) -> dict[str, np.ndarray]:
    """CDR bytes of ``sensor_msgs/Imu`` messages -> arrays: ``stamp_ns`` (N,) int, ``quat_xyzw``
    (N, 4), ``acc`` (N, 3), ``has_orientation`` (N,) (covariance[0] != -1, the message's
    "not provided"), ``has_acceleration`` (N,) (the same for the acceleration),
    ``frame_id`` (N,) object."""
    n = len(rows)
    out = {
        "stamp_ns": np.empty(n, np.int64),
        "quat_xyzw": np.empty((n, 4)),
        "acc": np.empty((n, 3)),
        "has_orientation": np.empty(n, bool),
        "has_acceleration": np.empty(n, bool),
        "frame_id": np.empty(n, object),
    }
    lengths = np.fromiter((len(r) for r in rows), np.int64, n)
    for length in np.unique(lengths):
        index = np.flatnonzero(lengths == length)
        block = np.frombuffer(b"".join(rows[i] for i in index), np.uint8).reshape(len(index), length)
        if not (block[:, 1] == 1).all():
            raise ValueError("sensor_msgs/Imu: only little-endian CDR is supported")
        sec = block[:, 4:8].copy().view("<i4")[:, 0]
        nsec = block[:, 8:12].copy().view("<u4")[:, 0]
        strlen = block[:, 12:16].copy().view("<u4")[:, 0]
        for size in np.unique(strlen):
            sub = index[strlen == size]
            rows_block = block[strlen == size]
            # CDR aligns relative to the end of the 4-byte encapsulation header.
            start = 4 + -(-(12 + int(size)) // 8) * 8
            doubles = rows_block[:, start : start + 8 * IMU_DOUBLES].copy().view("<f8")
            out["quat_xyzw"][sub] = doubles[:, 0:4]
            out["has_orientation"][sub] = doubles[:, 4] != -1.0
            out["has_acceleration"][sub] = doubles[:, 28] != -1.0
            out["acc"][sub] = doubles[:, 25:28]
            names = [bytes(r[16 : 16 + max(int(size) - 1, 0)]) for r in rows_block]
            out["frame_id"][sub] = [name.decode() for name in names] if len(set(names)) > 1 else names[0].decode()
        out["stamp_ns"][index] = sec.astype(np.int64) * 1_000_000_000 + nsec
    return out


def decode_pose_array(rows: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """CDR bytes of ``geometry_msgs/PoseArray`` messages with 22 poses each -> header
    stamps (N,) ns and positions (N, 22, 3); messages with another pose count are left out."""
    stamps, positions = [], []
    lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
    for length in np.unique(lengths):
        index = np.flatnonzero(lengths == length)
        block = np.frombuffer(b"".join(rows[i] for i in index), np.uint8).reshape(len(index), length)
        if not (block[:, 1] == 1).all():
            raise ValueError("geometry_msgs/PoseArray: only little-endian CDR is supported")
        strlen = block[:, 12:16].copy().view("<u4")[:, 0]
        for size in np.unique(strlen):
            rows_block = block[strlen == size]
            count_at = -(-(12 + int(size)) // 4) * 4
            count = rows_block[:, 4 + count_at : 8 + count_at].copy().view("<u4")[:, 0]
            start = 4 + -(-(count_at + 4) // 8) * 8
            rows_block = rows_block[count == 22]
            if not len(rows_block) or start + 22 * 56 > length:
                continue
            doubles = rows_block[:, start : start + 22 * 56].copy().view("<f8").reshape(-1, 22, 7)
            sec = rows_block[:, 4:8].copy().view("<i4")[:, 0].astype(np.int64)
            nsec = rows_block[:, 8:12].copy().view("<u4")[:, 0]
            stamps.append(sec * 1_000_000_000 + nsec)
            positions.append(doubles[..., :3])
    if not stamps:
        return np.zeros(0, np.int64), np.zeros((0, 22, 3))
    stamps, positions = np.concatenate(stamps), np.concatenate(positions)
    order = np.argsort(stamps, kind="stable")
    return stamps[order], positions[order]
