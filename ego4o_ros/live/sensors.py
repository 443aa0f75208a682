"""Live IMU streams: per-sensor conventions, validation, calibration and ring buffers.

Real wearables disagree on units and frames, so each sensor has an ``ImuConvention``.
``ImuSampleBuffer`` checks every sample (a bad one is counted by reason and dropped,
never raised), converts it to the model's frame (see ``core/frames.py``: body frame,
Y up; acceleration in m/s^2 with gravity included, world axes) and keeps the recent
history so the capture loop can resample it at the model rate (linear acceleration,
slerped orientation).

Calibration (TransPose / PIP style) maps a sensor's orientation to the orientation of
the segment it is strapped to: ``segment = heading @ sensor @ mount``. ``mount`` is
fixed per sensor and found in a T-pose (segments then read identity); ``heading`` is a
yaw shared by all sensors, set so the wearer faces +Z. Uncalibrated both are identity,
which is right for sensors that already report segment orientation (the replay node).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import frames, imu, rotations

REJECT_REASONS = (
    "not_finite",
    "bad_orientation",
    "no_acceleration",
    "stamp_backwards",
    "stamp_in_future",
    "wrong_frame",
    "out_of_range",
)
MAX_FUTURE_S = 0.5  # a stamp further ahead of the receiver's clock would drag the whole grid along
# A stream whose clock jumped back (a bag looped, a device rebooted, one bad stamp far ahead
# accepted before a clock existed) would be "stamp_backwards" for good: this many samples in
# a row, in order among themselves, start the buffer afresh (counted in ``clock_resets``).
BACKWARDS_RESET_RUN = 10
UNIT_CHECK_SAMPLES = 50  # samples whose median |acceleration| is checked against the unit
MAX_ACCELERATION = 16 * imu.GRAVITY * 10  # m/s^2: beyond any human motion, a unit or parsing error


@dataclass(frozen=True)
class ImuConvention:
    """How one device reports. Defaults are REP-145 / ``sensor_msgs/Imu``."""

    acc_unit: str = "m/s^2"  # or "g"
    gravity_included: bool = True  # False: the device subtracts gravity
    acc_frame: str = "sensor"  # "sensor" (the message standard) or "world"
    world_frame: str = "enu"  # orientation's world: "enu" (REP-103, z up) or "y_up"
    frame_id: str = ""  # expected header.frame_id; "" accepts any

    def __post_init__(self):
        for name, allowed in (
            ("acc_unit", ("m/s^2", "g")),
            ("acc_frame", ("sensor", "world")),
            ("world_frame", ("enu", "y_up")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ImuConvention.{name} must be one of {allowed}, got {getattr(self, name)!r}")


def to_body_frame(acc: np.ndarray, quat_xyzw: np.ndarray, convention: ImuConvention) -> tuple[np.ndarray, np.ndarray]:
    """One message's numbers -> (acc (3,) m/s^2 gravity included in body-frame world axes,
    world-from-sensor rotation (3, 3) in body-frame world axes)."""
    world_from_sensor = rotations.xyzw_to_matrix(quat_xyzw)
    acc = np.asarray(acc, np.float64) * (imu.GRAVITY if convention.acc_unit == "g" else 1.0)
    if convention.acc_frame == "sensor":
        acc = world_from_sensor @ acc
    if convention.world_frame == "enu":
        acc, world_from_sensor = frames.BODY_FROM_ROS @ acc, frames.BODY_FROM_ROS @ world_from_sensor
    if not convention.gravity_included:
        acc = acc + imu.GRAVITY * frames.UP  # back to the specific force the model was trained on
    return acc, world_from_sensor


def from_body_frame(acc: np.ndarray, ori: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``to_body_frame`` for the default convention: model readings (..., 3),
    (..., 3, 3) -> what a standard ``sensor_msgs/Imu`` carries: acceleration in the sensor
    frame and the xyzw quaternion of the sensor in the REP-103 world."""
    world_from_sensor = frames.ROS_FROM_BODY @ ori
    acc_world = np.einsum("ij,...j->...i", frames.ROS_FROM_BODY, acc)
    acc_sensor = np.einsum("...ji,...j->...i", world_from_sensor, acc_world)
    return acc_sensor, rotations.matrix_to_xyzw(world_from_sensor)


class ImuSampleBuffer:
    """Recent samples of one sensor in the model frame, ordered by stamp."""

    def __init__(self, convention: ImuConvention = ImuConvention(), capacity: int = 512):
        self.convention = convention
        self.capacity = capacity
        # Twice the capacity so appends are O(1) and a full buffer is compacted rarely.
        self._stamps = np.empty(2 * capacity)
        self._acc = np.empty((2 * capacity, 3))
        self._ori = np.empty((2 * capacity, 3, 3))
        self._start = self._end = 0
        self.mount = np.eye(3)
        self.heading = np.eye(3)
        self.rejected = {reason: 0 for reason in REJECT_REASONS}
        self.accepted = 0
        self.clock_resets = 0
        self.last_arrival: float | None = None  # receiver's clock when the newest sample came
        self._backwards: list[float] = []
        self._magnitudes: list[float] = []
        self._unit_verdict: str | None = None

    def clear(self) -> None:
        self._start = self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def newest_stamp(self) -> float | None:
        return float(self._stamps[self._end - 1]) if len(self) else None

    def push(
        self,
        stamp: float,
        acc,
        quat_xyzw,
        frame_id: str = "",
        now: float | None = None,
        has_orientation: bool = True,
        has_acceleration: bool = True,
    ) -> str | None:
        """Add one sample; returns None, or the reason it was rejected (and counts it).
        ``now``: the receiver's clock, to refuse stamps from the future; ``has_orientation``
        / ``has_acceleration`` False when the device says it gives none (covariance[0] = -1;
        the model needs both)."""
        if not has_orientation:
            reason = "bad_orientation"
        elif not has_acceleration:
            reason = "no_acceleration"
        else:
            reason = self._check(stamp, acc, quat_xyzw, frame_id)
        if reason is None and now is not None and stamp > now + MAX_FUTURE_S:
            reason = "stamp_in_future"
        if reason == "stamp_backwards" and self._clock_jumped_back(stamp):
            self.clear()
            self.clock_resets += 1
            reason = None
        elif reason != "stamp_backwards":
            self._backwards.clear()
        if reason:
            self.rejected[reason] += 1
            return reason
        self.last_arrival = now
        if len(self._magnitudes) < UNIT_CHECK_SAMPLES:
            self._magnitudes.append(float(np.linalg.norm(acc)))
        acc_body, ori_body = to_body_frame(
            np.asarray(acc, np.float64), np.asarray(quat_xyzw, np.float64), self.convention
        )
        if self._end == len(self._stamps):
            keep = slice(self._end - self.capacity + 1, self._end)
            for array in (self._stamps, self._acc, self._ori):
                array[: self.capacity - 1] = array[keep]
            self._start, self._end = 0, self.capacity - 1
        self._stamps[self._end], self._acc[self._end], self._ori[self._end] = stamp, acc_body, ori_body
        self._end += 1
        if len(self) > self.capacity:
            self._start += 1
        self.accepted += 1
        return None

    def _clock_jumped_back(self, stamp: float) -> bool:
        if self._backwards and stamp <= self._backwards[-1]:
            self._backwards.clear()
        self._backwards.append(stamp)
        if len(self._backwards) < BACKWARDS_RESET_RUN:
            return False
        self._backwards.clear()
        return True

    def unit_warning(self) -> str | None:
        """Once, after ``UNIT_CHECK_SAMPLES`` samples: a warning when their median
        |acceleration| does not fit the configured unit (|a| ~ 1 with m/s^2 means g)."""
        if self._unit_verdict is not None or len(self._magnitudes) < UNIT_CHECK_SAMPLES:
            return None
        median = float(np.median(self._magnitudes))
        self._unit_verdict = ""
        if self.convention.gravity_included and self.convention.acc_unit == "m/s^2" and 0.5 < median < 2.0:
            self._unit_verdict = (
                f"median |acceleration| {median:.2f} looks like g, but acc_unit is m/s^2: set acc_unit to 'g'"
            )
        elif self.convention.gravity_included and self.convention.acc_unit == "g" and 5.0 < median < 20.0:
            self._unit_verdict = (
                f"median |acceleration| {median:.2f} looks like m/s^2, but acc_unit is g: set acc_unit to 'm/s^2'"
            )
        return self._unit_verdict or None

    def _check(self, stamp, acc, quat_xyzw, frame_id) -> str | None:
        values = np.concatenate([np.ravel(acc), np.ravel(quat_xyzw), [stamp]]).astype(np.float64)
        if values.shape != (8,) or not np.isfinite(values).all():
            return "not_finite"
        if abs(np.linalg.norm(quat_xyzw) - 1.0) > 0.1:  # zeros = "no orientation", or garbage
            return "bad_orientation"
        if np.linalg.norm(acc) > MAX_ACCELERATION:
            return "out_of_range"
        if self.convention.frame_id and frame_id != self.convention.frame_id:
            return "wrong_frame"
        if len(self) and stamp <= self._stamps[self._end - 1]:
            return "stamp_backwards"
        return None

    def sample(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated readings at ``times`` (N,): acc (N, 3), ori (N, 3, 3). Before the
        first / after the newest sample the end value is held."""
        stamps = self._stamps[self._start : self._end]
        if not len(stamps):
            raise ValueError("no samples")
        times = np.asarray(times, np.float64)
        upper = np.clip(np.searchsorted(stamps, times), 1, max(len(stamps) - 1, 1))
        lower = upper - 1 if len(stamps) > 1 else upper * 0
        upper = np.minimum(upper, len(stamps) - 1)
        span = np.maximum(stamps[upper] - stamps[lower], 1e-9)
        weight = np.clip((times - stamps[lower]) / span, 0.0, 1.0)
        acc = self._acc[self._start : self._end]
        ori = self._ori[self._start : self._end]
        acc_t = acc[lower] + weight[:, None] * (acc[upper] - acc[lower])
        q = rotations.slerp_quat(rotations.matrix_to_quat(ori[lower]), rotations.matrix_to_quat(ori[upper]), weight)
        ori_t = rotations.quat_to_matrix(q)
        return acc_t @ self.heading.T, self.heading @ ori_t @ self.mount

    def gap_at(self, t: float) -> float:
        """How far ``t`` is from real data: 0 on a sample, the spacing of the two samples
        around it, ``t - newest`` after the newest, inf before the first (or with none)."""
        stamps = self._stamps[self._start : self._end]
        if not len(stamps) or t < stamps[0]:
            return float("inf")
        i = int(np.searchsorted(stamps, t, side="left"))
        if i == len(stamps):
            return float(t - stamps[-1])
        if stamps[i] == t:
            return 0.0
        return float(stamps[i] - stamps[i - 1])

    def first_after(self, t: float) -> float:
        """Stamp of the first buffered sample after ``t`` (inf if none)."""
        stamps = self._stamps[self._start : self._end]
        i = np.searchsorted(stamps, t, side="right")
        return float(stamps[i]) if i < len(stamps) else float("inf")

    def rate_hz(self, window_s: float = 1.0) -> float:
        """Samples per second over the newest ``window_s`` of data."""
        stamps = self._stamps[self._start : self._end]
        if len(stamps) < 2:
            return 0.0
        recent = stamps[stamps >= stamps[-1] - window_s]
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9) if len(recent) > 1 else 0.0

    def raw_orientation(self) -> np.ndarray:
        """Newest uncalibrated world-from-sensor rotation (body-frame axes)."""
        return self._ori[self._end - 1].copy()

    def since(self, t: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Buffered samples stamped after ``t`` (all of them with None), uncalibrated:
        stamps (N,), acc (N, 3) and world-from-sensor (N, 3, 3), body-frame world axes."""
        stamps = self._stamps[self._start : self._end]
        first = 0 if t is None else int(np.searchsorted(stamps, t, side="right"))
        keep = slice(self._start + first, self._end)
        return self._stamps[keep].copy(), self._acc[keep].copy(), self._ori[keep].copy()


def calibrate_tpose(buffers: dict[str, ImuSampleBuffer], raw: dict[str, np.ndarray] | None = None) -> list[str]:
    """The wearer stands in a T-pose: every sensor's mount becomes the rotation that makes
    its segment read identity, after a shared heading that turns the wearer to +Z (the
    heading is the mean yaw of the sensors, assuming straps roughly face forward).
    ``raw``: the T-pose's uncalibrated orientation per sensor (e.g. a mean over a still
    stretch, ``live/calibration.py``); default each sensor's newest sample. Returns the
    names of the sensors calibrated (those with data)."""
    names = [name for name, b in buffers.items() if (name in raw if raw is not None else len(b))]
    if not names:
        return []
    raw = np.stack([raw[n] if raw is not None else buffers[n].raw_orientation() for n in names])
    yaw = float(imu.sensor_heading(raw[None], np.ones((1, len(names)), bool)))
    heading = rotations.axis_rotation("Y", -yaw)
    for buffer in buffers.values():  # shared, so sensors that join later agree
        buffer.heading = heading
    for name, world_from_sensor in zip(names, raw):
        buffers[name].mount = (heading @ world_from_sensor).T
    return names


def reset_heading(buffers: dict[str, ImuSampleBuffer]) -> float:
    """Turn the shared heading so the wearer's current facing (mean calibrated sensor
    yaw) becomes +Z; returns the yaw removed (rad)."""
    names = [name for name, b in buffers.items() if len(b)]
    if not names:
        return 0.0
    calibrated = np.stack([buffers[n].heading @ buffers[n].raw_orientation() @ buffers[n].mount for n in names])
    yaw = float(imu.sensor_heading(calibrated[None], np.ones((1, len(names)), bool)))
    turn = rotations.axis_rotation("Y", -yaw)
    for buffer in buffers.values():
        buffer.heading = turn @ buffer.heading
    return yaw
