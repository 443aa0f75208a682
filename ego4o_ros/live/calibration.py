"""Calibration a person can do alone: stand still in the T-pose, optionally walk forward.

A small state machine the capture loop feeds with what its sensor buffers hold
(``update(buffers, now)``, ``now`` on the data clock); it says what to do in lines meant for
the log ("calibration: stand still in the T-pose for 3 s... 2... 1... done: ...") and
applies what it finds to the buffers:

1. **Stand still** in the T-pose (arms out, palms down, facing forward) for ``still_s``:
   every sensor must be still at once (over ``window_s``: acceleration spread below
   ``still_acc``, rotation below ``still_rot_deg``); moving restarts the count. Then the
   T-pose calibration of ``live/sensors.py`` (``calibrate_tpose``) runs on each sensor's
   mean orientation over the still stretch: its mount makes its segment read identity,
   after a heading shared by all. The mean |acceleration| there is gravity as each sensor
   sees it: far from 9.81 m/s^2 means its gravity or unit setting is wrong (warned).
2. **Walk a few steps forward** (optional, ``walk``), in the direction faced in the T-pose:
   each sensor's horizontal velocity, integrated from its own acceleration (less what it
   read standing still) over ``walk_s``, points forward in that sensor's world. Its mean
   direction becomes the sensor's own heading, so devices whose worlds disagree about north
   (a watch with an arbitrary yaw reference, a magnetometer off by 20 deg) agree afterwards.

Nothing here sees a message; the fusion node starts one from a service or at start-up and
publishes ``status()`` in ``/diagnostics``.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

from ..core import imu, rotations
from ..core.diagnostics import OK, WARN
from .sensors import ImuSampleBuffer, calibrate_tpose

GRAVITY_TOLERANCE = 1.0  # m/s^2 off standard gravity before a sensor's setting is suspect
MIN_WALK_SPEED = 0.3  # m/s of mean velocity below which no walk was seen


@dataclass(frozen=True)
class CalibrationConfig:
    still_s: float = 3.0  # how long to stand still in the T-pose
    walk: bool = False  # then walk forward for each sensor's heading
    walk_s: float = 3.0  # seconds of walking integrated
    timeout_s: float = 20.0  # per step: give up (still) or keep the T-pose heading (walk)
    window_s: float = 0.5  # stillness is judged over this much data
    still_acc: float = 0.4  # m/s^2: spread of acceleration (per-axis std, combined) when still
    still_rot_deg: float = 4.0  # rotation within the window when still
    moving_acc: float = 1.0  # m/s^2: a walk has started
    sites: tuple[str, ...] = ()  # () = every sensor with recent data when the calibration starts


@dataclass
class CalibrationResult:
    ok: bool
    sites: tuple[str, ...]
    message: str
    still_s: float = 0.0
    gravity: dict[str, float] = field(default_factory=dict)  # mean |acc| standing still, m/s^2
    heading: str = "t-pose"  # where the heading came from: "t-pose" or "walk"
    yaw_deg: dict[str, float] = field(default_factory=dict)  # heading removed per sensor


class Calibration:
    """Start it, then call ``update`` with the buffers and the data clock's now (the capture
    loop's timer); log what it returns. ``finished`` / ``result`` once done."""

    def __init__(self, config: CalibrationConfig = CalibrationConfig()):
        self.config = config
        self.state = "waiting"  # waiting -> still -> (walk) -> done | failed
        self.result: CalibrationResult | None = None
        self.sites: tuple[str, ...] = ()
        self._samples: dict[str, collections.deque] = {}  # (stamp, acc, ori) per site, recent
        self._last: dict[str, float | None] = {}
        self._phase_start: float | None = None
        self._still_since: float | None = None
        self._counted = 0
        self._moving_said: tuple[str, ...] = ()
        self._tpose: dict[str, np.ndarray] = {}
        self._still_acc: dict[str, np.ndarray] = {}
        self._walk_start: float | None = None
        self._velocity: dict[str, np.ndarray] = {}
        self._velocity_sum: dict[str, np.ndarray] = {}
        self._walk_samples: dict[str, int] = {}
        self._integrated_until: dict[str, float] = {}

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    @property
    def instructions(self) -> str:
        walk = ", then walk a few steps forward" if self.config.walk else ""
        return f"calibration: stand still in the T-pose for {self.config.still_s:g} s{walk}; progress in the log"

    # -- feeding ----------------------------------------------------------------------
    def update(self, buffers: dict[str, ImuSampleBuffer], now: float | None) -> list[str]:
        """New samples from the buffers, then the next step; returns lines to log."""
        if self.finished or now is None:
            return []
        lines: list[str] = []
        if self.state == "waiting":
            self._phase_start = self._phase_start if self._phase_start is not None else now
            recent = [s for s, b in buffers.items() if b.newest_stamp is not None and b.newest_stamp >= now - 0.5]
            self.sites = tuple(s for s in (self.config.sites or recent) if s in recent)
            if not self.sites:
                if now - self._phase_start > self.config.timeout_s:
                    return self._fail("calibration: failed: no sensor is sending")
                return []
            self._samples = {s: collections.deque() for s in self.sites}
            self._last = {s: now - self.config.window_s for s in self.sites}
            self.state, self._phase_start = "still", now
            lines.append(
                f"calibration: stand still in the T-pose for {self.config.still_s:g} s ({', '.join(self.sites)})"
            )
        for site in self.sites:
            stamps, acc, ori = buffers[site].since(self._last[site])
            if len(stamps):
                self._last[site] = float(stamps[-1])
                self._samples[site].extend(zip(stamps, acc, ori))
            keep_s = max(self.config.still_s, self.config.window_s) + 1.0
            while self._samples[site] and self._samples[site][0][0] < now - keep_s:
                self._samples[site].popleft()
        if self.state == "still":
            lines += self._still(buffers, now)
        elif self.state == "walk":
            lines += self._walk(buffers, now)
        return lines

    # -- step 1: still in the T-pose ----------------------------------------------------
    def _still(self, buffers, now: float) -> list[str]:
        config = self.config
        moving = [s for s in self.sites if not self._is_still(s, now)]
        if moving:
            lines = []
            if self._still_since is not None and tuple(moving) != self._moving_said:
                lines.append(f"calibration: moving ({', '.join(moving)}): hold still, {config.still_s:g} s again")
            self._moving_said = tuple(moving)
            self._still_since, self._counted = None, 0
            if now - self._phase_start > config.timeout_s:
                return lines + self._fail(
                    f"calibration: failed: not still for {config.still_s:g} s within {config.timeout_s:g} s"
                    f" (moving: {', '.join(moving)}); nothing changed"
                )
            return lines
        if self._still_since is None:
            self._still_since = now - config.window_s
            self._moving_said = ()
        still_for = now - self._still_since
        lines = []
        while self._counted + 1 <= min(still_for, config.still_s - 1e-9) and self._counted + 1 < config.still_s:
            self._counted += 1
            lines.append(f"calibration: {config.still_s - self._counted:g}...")
        if still_for < config.still_s:
            return lines
        return lines + self._tpose_done(buffers, now, still_for)

    def _is_still(self, site: str, now: float) -> bool:
        window = [(t, a, r) for t, a, r in self._samples[site] if t >= now - self.config.window_s]
        if len(window) < 3 or window[-1][0] < now - 0.5 * self.config.window_s:
            return False
        acc = np.array([a for _, a, _ in window])
        ori = np.array([r for _, _, r in window])
        spread = float(np.linalg.norm(acc.std(axis=0)))
        relative = np.einsum("nji,jk->nik", ori, ori[-1])  # R_n^T R_last
        angles = np.degrees(np.linalg.norm(rotations.matrix_to_axis_angle(relative), axis=-1))
        return spread < self.config.still_acc and float(angles.max()) < self.config.still_rot_deg

    def _tpose_done(self, buffers, now: float, still_for: float) -> list[str]:
        start = now - min(still_for, self.config.still_s)
        gravity, lines = {}, []
        for site in self.sites:
            stretch = [(a, r) for t, a, r in self._samples[site] if t >= start]
            acc = np.array([a for a, _ in stretch])
            self._tpose[site] = mean_rotation(np.array([r for _, r in stretch]))
            self._still_acc[site] = acc.mean(axis=0)
            gravity[site] = float(np.linalg.norm(acc, axis=-1).mean())
        calibrate_tpose(buffers, raw=self._tpose)
        mean_g = float(np.mean(list(gravity.values())))
        lines.append(
            f"calibration: done: {', '.join(self.sites)} calibrated "
            f"(still {min(still_for, self.config.still_s):.1f} s, gravity {mean_g:.2f} m/s^2)"
        )
        wrong = {s: g for s, g in gravity.items() if abs(g - imu.GRAVITY) > GRAVITY_TOLERANCE}
        for site, g in wrong.items():
            lines.append(
                f"calibration: {site} reads gravity {g:.2f} m/s^2 standing still (expected {imu.GRAVITY:.2f}):"
                " check its unit (g or m/s^2) and whether it removes gravity"
            )
        yaw = {s: float(np.degrees(-rotations.matrix_to_axis_angle(buffers[s].heading)[1])) for s in self.sites}
        self.result = CalibrationResult(
            ok=not wrong,
            sites=self.sites,
            message=lines[0].removeprefix("calibration: "),
            still_s=min(still_for, self.config.still_s),
            gravity=gravity,
            yaw_deg=yaw,
        )
        if not self.config.walk:
            self.state = "done"
            return lines
        self.state, self._phase_start = "walk", now
        lines.append("calibration: now walk 4-5 steps forward, the way you faced in the T-pose")
        return lines

    # -- step 2: walk forward -----------------------------------------------------------
    def _walk(self, buffers, now: float) -> list[str]:
        config = self.config
        if self._walk_start is None:
            moving = [s for s in self.sites if self._acc_spread(s, now) > config.moving_acc]
            if not moving:
                if now - self._phase_start > config.timeout_s:
                    self.state = "done"
                    return [f"calibration: no walk within {config.timeout_s:g} s: the T-pose's heading is kept"]
                return []
            self._walk_start = now - config.window_s
            for site in self.sites:
                self._velocity[site] = np.zeros(2)
                self._velocity_sum[site] = np.zeros(2)
                self._walk_samples[site] = 0
                self._integrate(site, self._walk_start, now)
            return ["calibration: walking..."]
        for site in self.sites:
            self._integrate(site, self._integrated_until[site], now)
        if now - self._walk_start < config.walk_s:
            return []
        return self._walk_done(buffers)

    def _acc_spread(self, site: str, now: float) -> float:
        acc = np.array([a for t, a, _ in self._samples[site] if t >= now - self.config.window_s])
        return float(np.linalg.norm(acc.std(axis=0))) if len(acc) >= 3 else 0.0

    def _integrate(self, site: str, start: float, end: float) -> None:
        """Horizontal velocity (x, z of the sensor's own world) from acceleration less what
        it read standing still, summed per sample for the mean."""
        bias = self._still_acc[site]
        previous = None
        for t, a, _ in self._samples[site]:
            if t <= start or t > end:
                previous = t if t <= start else previous
                continue
            dt = 0.0 if previous is None else min(t - previous, 0.1)
            previous = t
            kinematic = a - bias
            self._velocity[site] += kinematic[[0, 2]] * dt
            self._velocity_sum[site] += self._velocity[site]
            self._walk_samples[site] += 1
        self._integrated_until[site] = end

    def _walk_done(self, buffers) -> list[str]:
        mean = {s: self._velocity_sum[s] / max(self._walk_samples[s], 1) for s in self.sites}
        slow = [s for s in self.sites if np.linalg.norm(mean[s]) < MIN_WALK_SPEED]
        self.state = "done"
        if slow:
            return [
                f"calibration: no clear walk seen by {', '.join(slow)} (mean speed under {MIN_WALK_SPEED} m/s):"
                " the T-pose's heading is kept"
            ]
        yaw = {s: float(np.arctan2(mean[s][0], mean[s][1])) for s in self.sites}  # sensor_heading's rule
        for site in self.sites:
            heading = rotations.axis_rotation("Y", -yaw[site])
            buffers[site].heading = heading
            buffers[site].mount = (heading @ self._tpose[site]).T
        spread = np.degrees(np.ptp(np.unwrap(list(yaw.values()))))
        self.result.heading = "walk"
        self.result.yaw_deg = {s: float(np.degrees(y)) for s, y in yaw.items()}
        return [
            f"calibration: heading from {self.config.walk_s:g} s of walking: "
            + ", ".join(f"{s} {np.degrees(y):.0f} deg" for s, y in yaw.items())
            + f" (devices disagreed by {spread:.0f} deg; now aligned)"
        ]

    # -- outcome --------------------------------------------------------------------------
    def _fail(self, line: str) -> list[str]:
        self.state = "failed"
        self.result = CalibrationResult(ok=False, sites=(), message=line.removeprefix("calibration: "))
        return [line]

    def status(self) -> tuple[str, str, dict[str, str]]:
        """(level OK | WARN, message, values) for /diagnostics (``core.diagnostics.Status``)."""
        result = self.result
        values = {"state": self.state, "sites": " ".join(self.sites)}
        if result is not None:
            values |= {
                "still_s": f"{result.still_s:.1f}",
                "heading": result.heading,
                **{f"gravity_{s}": f"{g:.2f}" for s, g in result.gravity.items()},
                **{f"yaw_deg_{s}": f"{y:.1f}" for s, y in result.yaw_deg.items()},
            }
        if not self.finished:
            return WARN, f"calibrating ({self.state})", values
        return (OK if result.ok else WARN), result.message, values


def mean_rotation(rotation_matrices: np.ndarray) -> np.ndarray:
    """The mean of rotations that are close to each other (sign-aligned quaternion mean)."""
    q = rotations.matrix_to_quat(rotation_matrices)
    q = q * np.where((q @ q[-1]) < 0, -1.0, 1.0)[:, None]
    return rotations.quat_to_matrix(rotations.normalize(q.mean(axis=0)))
