"""Readings -> what the devices would have sent, and files of such packets.

A recording made here in a device's wire format: the body-frame readings of
``core/imu.py`` (synthesised from a motion, or a real recording such as TransPose's
example) turned into the message standard, then into the device's own convention
(``conventions.from_ros``) and written as IMUPoser lines or Sensor Logger batches. The
tests and ``ego4o-device-benchmark`` replay them through ``Bridge`` exactly as packets
from the network. A lines file (``write_lines`` / ``read_lines``) holds one datagram per
line, as ``nc -lu 8001 > file`` would save the app's stream.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import frames, rotations
from . import imuposer, sensor_logger
from .conventions import DeviceConvention, from_ros


def standard_from_body(acc_body: np.ndarray, ori_body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame readings (acc (..., 3) m/s^2 world, gravity included; ori (..., 3, 3)
    world-from-sensor) -> the message standard: acceleration in the sensor's axes and
    the xyzw quaternion in the REP-103 world (what ``live.sensors.from_body_frame`` gives)."""
    world_from_sensor = frames.ROS_FROM_BODY @ ori_body
    acc_world = np.einsum("ij,...j->...i", frames.ROS_FROM_BODY, acc_body)
    acc_sensor = np.einsum("...ji,...j->...i", world_from_sensor, acc_world)
    return acc_sensor, rotations.matrix_to_xyzw(world_from_sensor)


def imuposer_datagrams(
    key: str,
    times: np.ndarray,
    acc_body: np.ndarray,
    ori_body: np.ndarray,
    convention: DeviceConvention,
    sensor_time0: float = 1000.0,
    unix_time0: float = 1.7e9,
) -> list[bytes]:
    """One device's samples (times (T,) s from the start; body-frame readings (T, 3),
    (T, 3, 3)) as the IMUPoser app's lines: CoreMotion stamps ``sensor_time0 + t`` and the
    phone's wall clock ``unix_time0 + t``."""
    acc, quat = from_ros(*standard_from_body(acc_body, ori_body), convention)
    return [imuposer.format_line(key, unix_time0 + t, sensor_time0 + t, a, q) for t, a, q in zip(times, acc, quat)]


def sensor_logger_entries(
    stream: str, times_ns: np.ndarray, acc_body: np.ndarray, ori_body: np.ndarray, convention: DeviceConvention
) -> list[list[dict]]:
    """One stream's samples as Sensor Logger payload entries (a list per sample)."""
    acc, quat = from_ros(*standard_from_body(acc_body, ori_body), convention)
    return [sensor_logger.entries(stream, int(t), a, q) for t, a, q in zip(times_ns, acc, quat)]


def write_lines(path: str | Path, datagrams: list[bytes]) -> None:
    Path(path).write_bytes(b"\n".join(datagrams) + b"\n")


def read_lines(path: str | Path) -> list[tuple[float, bytes]]:
    """A file of IMUPoser lines -> (arrival time, datagram) in file order. Without the
    receiver's clock in the file, a line arrives at the phone's wall clock it carries
    (``unix_time``); a line without a readable one arrives with the one before it."""
    out, last = [], 0.0
    for line in Path(path).read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            last = float(line.split(b":", 1)[1].split()[0])
        except (IndexError, ValueError):
            pass
        out.append((last, line))
    return out
