"""The IMUPoser / MobilePoser iOS app's UDP lines (FIGLAB/IMUPoser, SPICExLAB/MobilePoser).

One datagram per sample, one port per device (the receiver listens on 8001-8005), text::

    <left|right>;<phone|watch|headphone>:<unix_time> <sensor_time> ax ay az qx qy qz qw [roll pitch yaw]

``unix_time`` is the phone's wall clock when it sent the sample, ``sensor_time``
CoreMotion's timestamp (seconds since the device booted: the precise, monotonic one, the
device clock the bridge maps by default). ``a`` is CoreMotion's ``userAcceleration``
(gravity removed, in g, device axes, inertial-force sign), ``q`` the attitude (x, y, z, w)
in CoreMotion's x-north-z-vertical frame; roll, pitch and yaw repeat it (ignored). The
device is named by the line, not by the port.
"""

from __future__ import annotations

import math

import numpy as np

from .packets import Packet, Refusal

SIDES = ("left", "right")
KINDS = ("phone", "watch", "headphone")
FIELDS = (9, 12)  # with and without roll, pitch, yaw
MAX_LINE_BYTES = 1024  # the receiver's recvfrom buffer: a longer datagram is not a sample


def parse(data: bytes, clock: str = "sensor") -> list[Packet | Refusal]:
    """One datagram -> its samples and refusals (a datagram normally holds one line;
    blank lines and the app's ``stop`` are neither). ``clock``: which stamp is the
    device time, ``sensor`` (CoreMotion's) or ``unix`` (the phone's wall clock)."""
    if len(data) > MAX_LINE_BYTES:
        return [Refusal("oversize")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [Refusal("not_text")]
    out: list[Packet | Refusal] = []
    for line in text.splitlines():
        line = line.strip()
        if line and line != "stop":
            out.append(parse_line(line, clock))
    return out


def parse_line(line: str, clock: str = "sensor") -> Packet | Refusal:
    head, colon, body = line.partition(":")
    side, semicolon, kind = head.partition(";")
    if not semicolon or not colon or not side.strip() or not kind.strip():
        return Refusal("truncated")
    key = f"{side.strip().lower()};{kind.strip().lower()}"
    fields = body.split()
    if len(fields) not in FIELDS:
        return Refusal("wrong_length", key)
    try:
        numbers = [float(f) for f in fields]
    except ValueError:
        return Refusal("non_numeric", key)
    if not all(math.isfinite(n) for n in numbers):
        return Refusal("not_finite", key)
    unix_time, sensor_time = numbers[0], numbers[1]
    return Packet(
        key=key,
        device_time=sensor_time if clock == "sensor" else unix_time,
        acc=np.array(numbers[2:5]),
        quat=np.array(numbers[5:9]),
    )


def format_line(key: str, unix_time: float, sensor_time: float, acc, quat, rpy=None) -> bytes:
    """One sample as the app sends it (``rpy`` None: the 9-number variant)."""
    numbers = [unix_time, sensor_time, *map(float, acc), *map(float, quat)]
    if rpy is not None:
        numbers += list(map(float, rpy))
    return (f"{key}:" + " ".join(f"{n:.6f}" for n in numbers)).encode()
