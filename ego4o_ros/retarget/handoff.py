"""The robot hand-off, ROS-free: hold the targets, and come back to the live pose at a
bounded speed after a hold or a capture outage, never by a jump.

``HandOff`` is fed ``(stamp, q_live)`` per frame and returns the vector to send:

* **live**: ``q_live`` itself;
* **held** (``hold(True)``): the output of the moment the hold began, frozen, whatever
  comes in (the caller keeps publishing it); before any frame, the first frame is held;
* **blending** (after ``hold(False)``, or when frames come back after a gap longer than
  ``timeout_s``, or with a stamp that goes back): every element moves from the last
  output towards ``q_live`` no faster than its speed limit, until a step reaches ``q_live``
  whole; then live again. The live pose keeps moving meanwhile: the output chases it.

A step covers the time since the previous frame, but at most ``max_step_s``, and the
frame that ends an outage does not move at all (it repeats the last output): so two
consecutive outputs never differ by more than ``speed x max_step_s``, and the speed
between two outputs (difference / stamp difference) never exceeds ``speed``.

The vector is described by ``Block`` s, laid end to end: ``scalar`` (each element clipped
on its own: joint angles, rad/s or m/s per joint), ``point`` (3 values moved along the
straight line, the distance bounded: m/s) and ``quaternion`` (4 values, unit, any
component order: turned along the shortest arc, the angle bounded: rad/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.rotations import slerp_quat

KINDS = {"scalar": 1, "point": 3, "quaternion": 4}  # values per item
LIVE, HELD, BLENDING = "live", "held", "blending"


@dataclass(frozen=True)
class Block:
    kind: str  # "scalar", "point" or "quaternion"
    count: int  # items: scalars, points or quaternions
    speed: float | tuple[float, ...]  # per second: one value, or one per item

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"block kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        speed = np.broadcast_to(np.asarray(self.speed, np.float64), (self.count,))
        if not (speed > 0).all():
            raise ValueError(f"{self.kind} block: every speed must be > 0 (got {self.speed})")

    @property
    def size(self) -> int:
        return self.count * KINDS[self.kind]

    def speeds(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.speed, np.float64), (self.count,)).copy()


def _step_block(kind: str, out: np.ndarray, live: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, bool]:
    """Move ``out`` towards ``live`` by at most ``step`` per item; (new, reached)."""
    if kind == "scalar":
        moved = out + np.clip(live - out, -step, step)
        return moved, bool((np.abs(live - out) <= step).all())
    if kind == "point":
        out, live = out.reshape(-1, 3), live.reshape(-1, 3)
        delta = live - out
        distance = np.linalg.norm(delta, axis=1)
        scale = np.minimum(1.0, step / np.maximum(distance, 1e-12))
        return (out + delta * scale[:, None]).ravel(), bool((distance <= step).all())
    out, live = out.reshape(-1, 4), live.reshape(-1, 4)
    live = np.where(((out * live).sum(1) < 0)[:, None], -live, live)  # the same rotation, nearer
    angle = 2.0 * np.arccos(np.clip(np.abs((out * live).sum(1)), 0.0, 1.0))
    fraction = np.minimum(1.0, step / np.maximum(angle, 1e-12))
    return slerp_quat(out, live, fraction).ravel(), bool((angle <= step).all())


class HandOff:
    """Hold / release / outage -> bounded-speed return to the live vector (module doc)."""

    def __init__(self, blocks: list[Block], timeout_s: float = 0.5, max_step_s: float = 0.05):
        if timeout_s <= 0 or max_step_s <= 0:
            raise ValueError("timeout_s and max_step_s must be > 0")
        self.blocks = list(blocks)
        self.size = sum(b.size for b in self.blocks)
        self.timeout_s, self.max_step_s = timeout_s, max_step_s
        self.held = False
        self.state = LIVE
        self.output: np.ndarray | None = None
        self.stamp: float | None = None
        self.blends = 0  # blends begun (releases and outages)

    def hold(self, on: bool) -> None:
        """True: freeze the output. False: blend back to the live input."""
        on = bool(on)
        if on == self.held:
            return
        self.held = on
        if on:
            self.state = HELD
        else:
            self._begin_blend()

    def _begin_blend(self) -> None:
        self.state = BLENDING if self.output is not None else LIVE
        self.blends += self.state == BLENDING

    def __call__(self, stamp: float, q_live: np.ndarray) -> np.ndarray:
        q_live = np.asarray(q_live, np.float64)
        if q_live.shape != (self.size,):
            raise ValueError(f"expected a vector of {self.size} values, got shape {q_live.shape}")
        previous, self.stamp = self.stamp, float(stamp)
        gap = None if previous is None else self.stamp - previous
        if self.output is None:  # nothing sent yet: nothing to come back from
            self.output = q_live.copy()
            return self.output.copy()
        if self.held:
            return self.output.copy()
        outage = gap is not None and not 0 <= gap <= self.timeout_s
        if outage and self.state == LIVE:
            self._begin_blend()  # the input stopped (or time went back): do not snap to it
        if self.state == LIVE:
            self.output = q_live.copy()
            return self.output.copy()
        dt = 0.0 if outage else min(gap or 0.0, self.max_step_s)  # the first frame back stays put
        moved, reached, at = [], True, 0
        for block in self.blocks:
            part = slice(at, at + block.size)
            speeds = block.speeds()
            step = np.where(np.isfinite(speeds), speeds * dt, np.inf)  # an unbounded item just follows
            new, done = _step_block(block.kind, self.output[part], q_live[part], step)
            moved.append(new)
            reached &= done
            at += block.size
        self.output = np.concatenate(moved)
        if reached:
            self.state = LIVE
            self.output = q_live.copy()
        return self.output.copy()

    def max_speeds(self) -> np.ndarray:
        """Per element of the vector: the speed limit of its item (for checks)."""
        return np.concatenate([np.repeat(b.speeds(), KINDS[b.kind]) for b in self.blocks])


def robot_blocks(robot, velocity_scale: float, linear_speed: float, angular_speed: float) -> list[Block]:
    """Blocks of a Pinocchio configuration of ``robot`` (``retarget.robot.RobotModel``): with a
    free-flyer, the root position (``linear_speed`` m/s) and orientation (``angular_speed``
    rad/s) first; then every 1-DOF joint at ``velocity_scale`` x its URDF velocity limit
    (``angular_speed`` where the URDF gives none)."""
    start = 7 if robot.floating_base else 0
    speeds = np.full(robot.model.nq - start, float(angular_speed))
    limits = np.where(np.isfinite(robot.velocity_limits), robot.velocity_limits * velocity_scale, angular_speed)
    speeds[robot.index_q - start] = limits
    blocks = [Block("point", 1, linear_speed), Block("quaternion", 1, angular_speed)] if start else []
    return blocks + [Block("scalar", len(speeds), tuple(speeds))]
