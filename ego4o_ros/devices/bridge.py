"""The wearable bridge without ROS: packets in, standard IMU samples per worn site out.

``Bridge.feed(bytes, receive_time)`` takes one datagram (IMUPoser) or one HTTP body
(Sensor Logger) with the receiver's clock when it came, and returns the samples to
publish (``ImuOutput``: site, stamp on the receiver's clock, acceleration and orientation
in the message standard, ``conventions.py``). Every packet refused is counted by reason
(``packets.py``), per device where it names one; nothing is ever made up: a silent
device publishes nothing, and ``statuses`` / ``events`` say so. Limits: a packet-rate cap
for the bridge and a sample-rate cap per device (token buckets: a batch may come at once,
a flood may not), stamps strictly increasing per device, and each device's clock mapped
by its own ``ClockMapper`` (``clock.py``).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from ..core.diagnostics import OK, STALE, WARN, Status
from ..core.imu import GRAVITY
from . import imuposer
from .clock import ClockConfig, ClockMapper
from .config import DeviceConfig, Profile
from .conventions import to_ros
from .packets import BRIDGE_REASONS, DEVICE_REASONS, Packet, Refusal
from .sensor_logger import SensorLoggerParser


@dataclass(frozen=True)
class BridgeLimits:
    max_device_rate_hz: float = 400.0  # samples per second a device may send (CoreMotion tops out at 100)
    burst_s: float = 2.0  # ... of which this many seconds' worth at once (a Sensor Logger batch)
    max_packets_per_s: float = 2000.0  # datagrams / HTTP bodies per second, all devices together
    stale_after_s: float = 0.5  # a device with no sample for this long is reported silent
    max_acceleration: float = 16 * GRAVITY  # m/s^2, beyond what phones and watches measure


@dataclass
class ImuOutput:
    site: str
    device: str
    stamp: float  # s, receiver's clock
    acc: np.ndarray  # (3,) m/s^2, specific force in the sensor's axes
    quat_xyzw: np.ndarray  # (4,) the sensor in ENU


class TokenBucket:
    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, max(burst, 1.0)
        self.tokens, self.last = self.burst, None

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + max(now - self.last, 0.0) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class DeviceState:
    """One configured device: its clock, counts, and when it was last heard."""

    def __init__(self, config: DeviceConfig, limits: BridgeLimits, clock: ClockConfig):
        self.config, self.limits = config, limits
        self.clock = ClockMapper(clock)
        self.bucket = TokenBucket(limits.max_device_rate_hz, limits.max_device_rate_hz * limits.burst_s)
        self.refused = {reason: 0 for reason in DEVICE_REASONS}
        self.received = self.published = 0
        self.last_receive: float | None = None  # receiver's clock at its newest published sample
        self.last_stamp: float | None = None
        self.stamps: collections.deque = collections.deque(maxlen=1000)  # recent published stamps
        self.gaps, self.longest_gap_s, self.silent = 0, 0.0, False
        self.lines: list[str] = []  # to log: came back after a silence
        self._reported_refused = 0

    @property
    def label(self) -> str:
        return f"{self.config.name} ({self.config.site})"

    def take(self, packet: Packet, receive_time: float) -> ImuOutput | str:
        """The sample to publish, or the reason it is refused."""
        self.received += 1
        if not self.bucket.take(receive_time):
            return "flood"
        norm = float(np.linalg.norm(packet.quat))
        if abs(norm - 1.0) > 0.1:
            return "bad_quaternion"
        if np.linalg.norm(packet.acc) * abs(self.config.convention.scale) > self.limits.max_acceleration:
            return "out_of_range"
        stamp = self.clock.stamp(packet.device_time, receive_time)
        if stamp is None:
            return "clock_jump"
        if self.last_stamp is not None and stamp <= self.last_stamp:
            return "out_of_order"
        acc, quat = to_ros(packet.acc, packet.quat / norm, self.config.convention)
        if self.last_receive is not None and receive_time - self.last_receive > self.limits.stale_after_s:
            gap = receive_time - self.last_receive
            self.gaps += 1
            self.longest_gap_s = max(self.longest_gap_s, gap)
            self.lines.append(f"{self.label}: back after {gap:.1f} s")
            self.silent = False
        self.last_stamp = stamp
        self.published += 1
        self.stamps.append(stamp)
        self.last_receive = receive_time
        return ImuOutput(self.config.site, self.config.name, stamp, acc, quat)

    def rate_hz(self, window_s: float = 2.0) -> float:
        if len(self.stamps) < 2:
            return 0.0
        stamps = np.array(self.stamps)
        recent = stamps[stamps >= stamps[-1] - window_s]
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0


class Bridge:
    def __init__(self, profile: Profile, limits: BridgeLimits = BridgeLimits(), clock: ClockConfig = ClockConfig()):
        self.profile, self.limits = profile, limits
        self.devices = {d.name: DeviceState(d, limits, clock) for d in profile.devices}
        self.refused = {reason: 0 for reason in BRIDGE_REASONS}
        self.packets = 0
        self._bucket = TokenBucket(limits.max_packets_per_s, limits.max_packets_per_s)
        self._parser = SensorLoggerParser() if profile.format == "sensor_logger" else None
        self._by_key: dict[str, DeviceState | None] = {}

    def device(self, key: str) -> DeviceState | None:
        if key not in self._by_key:
            if len(self._by_key) > 10000:  # a flood of made-up names must not grow this forever
                self._by_key.clear()
            config = self.profile.device_for(key)
            self._by_key[key] = self.devices[config.name] if config else None
        return self._by_key[key]

    def feed(self, data: bytes, receive_time: float) -> list[ImuOutput]:
        """One datagram / HTTP body that arrived at ``receive_time`` (receiver's clock, s)."""
        self.packets += 1
        if not self._bucket.take(receive_time):
            self.refused["flood"] += 1
            return []
        if self._parser is None:
            items = imuposer.parse(data, self.profile.clock)
        else:
            items = self._parser.parse(data)
        for item in items:  # every clock learns from the whole packet before any sample is stamped
            if isinstance(item, Packet) and (state := self.device(item.key)) is not None:
                state.clock.observe(item.device_time, receive_time)
        out = []
        for item in items:
            state = self.device(item.key) if item.key is not None else None
            if isinstance(item, Refusal):
                self.refuse(item.reason, state)
                continue
            if state is None:
                self.refused["unknown_device"] += 1
                continue
            result = state.take(item, receive_time)
            if isinstance(result, str):
                state.refused[result] += 1
            else:
                out.append(result)
        return out

    def refuse(self, reason: str, state: DeviceState | None = None, count: int = 1) -> None:
        """Count refused packets (e.g. the node's queue overflowing: ``flood``)."""
        if state is not None and reason in state.refused:
            state.refused[reason] += count
        elif reason in self.refused:
            self.refused[reason] += count
        else:  # a device's reason, but the packet named no device we know
            self.refused["unknown_device"] += count

    def events(self, now: float) -> list[str]:
        """Lines worth logging once: a device fell silent, or came back (and after how long)."""
        lines = []
        for state in self.devices.values():
            lines += state.lines
            state.lines = []
            if state.last_receive is None:
                continue
            age = now - state.last_receive
            if not state.silent and age > self.limits.stale_after_s:
                state.silent = True
                lines.append(f"{state.label}: silent for {age:.1f} s (nothing is published for it meanwhile)")
            elif state.silent and age <= self.limits.stale_after_s:
                state.silent = False
        return lines

    def statuses(self, now: float) -> list[Status]:
        out = []
        for state in self.devices.values():
            age = None if state.last_receive is None else now - state.last_receive
            refused = sum(state.refused.values())
            if age is None:
                level, message = STALE, "waiting for its first sample"
            elif age > self.limits.stale_after_s:
                level, message = STALE, f"silent for {age:.1f} s"
            elif refused > state._reported_refused:
                level, message = WARN, f"{refused - state._reported_refused} packets refused since the last report"
            else:
                level, message = OK, f"{state.rate_hz():.0f} Hz"
            state._reported_refused = refused
            offset = state.clock.offset
            out.append(
                Status(
                    f"ego4o bridge: {state.config.name}",
                    level,
                    message,
                    {
                        "site": state.config.site,
                        "key": state.config.key,
                        "received": str(state.received),
                        "published": str(state.published),
                        "refused": str(refused),
                        **{f"refused_{r}": str(n) for r, n in state.refused.items()},
                        "rate_hz": f"{state.rate_hz():.1f}",
                        "clock_offset_s": "" if offset is None else f"{offset:.3f}",
                        "clock_jumps": str(state.clock.jumps),
                        "last_seen_age_s": "" if age is None else f"{age:.3f}",
                        "gaps": str(state.gaps),
                        "longest_gap_s": f"{state.longest_gap_s:.2f}",
                    },
                )
            )
        return out

    def bridge_status(self, listening: str, transport: dict | None = None, problem: str | None = None) -> Status:
        """The bridge as a whole; ``transport``: the receiving side's own values (MQTT), and
        ``problem`` when it cannot receive (a WARN)."""
        refused = sum(self.refused.values())
        message = f"{self.profile.format} on {listening}"
        return Status(
            f"ego4o bridge: {self.profile.name}",
            WARN if problem else OK,
            f"{message}: {problem}" if problem else message,
            {
                "packets": str(self.packets),
                "refused": str(refused),
                **{f"refused_{r}": str(n) for r, n in self.refused.items()},
                **(transport or {}),
            },
        )
