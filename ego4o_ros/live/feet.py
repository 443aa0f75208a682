"""Grounded feet for the live output: a contact-aware stage fed each captured frame's joints,
in order, that returns them corrected (ROS-free, arrays only; ``Fusion.feet`` runs it on every
frame before it is published and retargeted).

The capture's root is integrated from predicted velocities, so a planted foot slides (the
model's root speed and its legs disagree) and each frame's legs carry some noise of their
own. Nothing here sees the ground truth: contact comes from the output's own motion.
Per frame (joints (22, 3) in metres, the body frame: Y up; the floor is the output's own,
y = ``floor``, the canonical floor the model was trained with):

1. **Contact probability** of each foot joint (``metrics.FOOT_JOINTS``: ankles and toes) from
   the raw output: slow (3-D speed since the previous frame below ``contact_speed``) and low
   (height above the floor, after the stage's vertical shift, below ``contact_height``), each
   a linear ramp from 1 to 0.
2. **Root from the planted feet** (TransPose's rule): the whole body is shifted horizontally
   against the contact-weighted mean displacement of the foot joints, scaled by the largest
   contact probability; the shift accumulates (a drift correction: the body moves over a
   planted foot instead of dragging it). Its per-frame step is smoothed (``shift_smoothing``)
   and at most ``max_shift_step``.
3. **Foot locking**: a foot joint whose probability rises above ``lock_on`` is locked where it
   landed (horizontally); the lock follows the raw foot by ``lock_follow`` per frame (a
   low-pass that removes noise without holding a foot that really moves) and never lies more
   than ``max_lock_offset`` from it; it is released below ``lock_off``. Lock weights ramp in
   and out over ``blend_frames`` frames. The leg reaches the locked ankle by two-bone IK (hip
   fixed, knee in the plane of the captured knee), the toe follows; thigh, shin and foot keep
   their lengths.
4. **Over the floor**: the body is moved vertically so that its lowest foot joint is on the
   floor, in proportion to the contact probability; without contact it is only lifted out of
   the floor (never pulled down from a jump). At most ``max_lift_step`` per frame and
   ``max_lift`` in all.

Every correction is bounded per frame, so nothing jumps. Measured in
``docs/evaluation.md`` (the row ``ego4o_imu_feet/online``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import body, metrics

# The legs as (hip, knee, ankle, toe), and where each ankle and toe sits in FOOT_JOINTS.
_LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))
_FOOT = list(metrics.FOOT_JOINTS)
_SLOTS = tuple((_FOOT.index(ankle), _FOOT.index(toe)) for _, _, ankle, toe in _LEGS)
_HORIZONTAL = np.array([1.0, 0.0, 1.0])


@dataclass(frozen=True)
class FootContactConfig:
    """The stage's settings, chosen on 80 training takes (a seeded sample stratified by action;
    Ego4o online at look-ahead 2, one combination of IMUs each): the output's feet move faster
    than the truth's when planted, so contact is taken up to 1.6 m/s, and a lock follows the raw
    foot slowly (docs/evaluation.md, "Feet"; retuned for the session-15 weights)."""

    fps: float = 30.0  # Hz, the rate of the frames fed
    floor: float = 0.0  # m, the output's floor height (the canonical floor, y = 0)
    contact_speed: tuple[float, float] = (1.6, 3.0)  # m/s: probability 1 below the first, 0 above the second
    # m above the floor, per FOOT_JOINTS (ankle, toe, ankle, toe): 1 below the first, 0 above the second
    contact_height: tuple[tuple[float, float], ...] = ((0.12, 0.18), (0.03, 0.08), (0.12, 0.18), (0.03, 0.08))
    lock_on: float = 0.5  # a foot joint locks above this contact probability ...
    lock_off: float = 0.3  # ... and is released below this one
    blend_frames: int = 3  # frames over which a lock fades in or out
    lock_follow: float = 0.02  # fraction of the way the lock moves towards the raw foot each frame
    max_lock_offset: float = 0.15  # m, the farthest a locked foot is held from the raw one
    max_shift_step: float = 0.03  # m per frame, the change of the horizontal shift
    max_lift_step: float = 0.02  # m per frame, the change of the vertical shift
    max_lift: float = 0.15  # m, the largest vertical shift
    # Smoothing (less jerk): the horizontal shift's per-frame step moves this fraction of the way
    # towards the feet's each frame; the body is lowered by this fraction of the way to the floor
    # each frame (lifted out of it at once, up to max_lift_step).
    shift_smoothing: float = 0.7
    lower_rate: float = 0.3

    def __post_init__(self):
        rates = (self.lock_follow, self.shift_smoothing, self.lower_rate)
        ordered = 0 <= self.lock_off <= self.lock_on <= 1 and self.contact_speed[0] < self.contact_speed[1]
        if not (self.fps > 0 and self.blend_frames >= 1 and ordered and all(0 < r <= 1 for r in rates)):
            raise ValueError(f"bad foot contact settings: {self}")
        if len(self.contact_height) != len(_FOOT):
            raise ValueError(f"contact_height needs {len(_FOOT)} (low, high) pairs")


def _ramp(x: np.ndarray, low, high) -> np.ndarray:
    """1 at or below ``low``, 0 at or above ``high``, linear between."""
    return np.clip((np.asarray(high) - x) / (np.asarray(high) - np.asarray(low)), 0.0, 1.0)


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray) -> tuple:
    """(knee, ankle) moved so that the ankle reaches ``target`` (or the nearest point the leg
    reaches, along the line from the hip), thigh and shin keeping their lengths and the knee
    staying in the plane of the hip, the target and the given knee."""
    thigh, shin = np.linalg.norm(knee - hip), np.linalg.norm(ankle - knee)
    reach = target - hip
    distance = float(np.linalg.norm(reach))
    axis = reach / max(distance, 1e-9)
    distance = float(np.clip(distance, abs(thigh - shin) + 1e-6, thigh + shin - 1e-6))
    along = (thigh**2 - shin**2 + distance**2) / (2 * distance)
    across = np.sqrt(max(thigh**2 - along**2, 0.0))
    pole = (knee - hip) - ((knee - hip) @ axis) * axis
    if np.linalg.norm(pole) < 1e-9:  # a straight leg: bend it forward
        pole = np.cross(axis, np.array([1.0, 0.0, 0.0]))
    pole = pole / max(np.linalg.norm(pole), 1e-9)
    return hip + axis * along + pole * across, hip + axis * distance


class FootContactStage:
    """The stage (module doc); one per stream: ``step`` each frame in order, ``reset`` when the
    stream restarts (``step`` does that itself when given frame indices that are not
    consecutive)."""

    def __init__(self, config: FootContactConfig = FootContactConfig()):
        self.config = config
        self._low = np.array([h[0] for h in config.contact_height])
        self._high = np.array([h[1] for h in config.contact_height])
        self.reset()

    def reset(self) -> None:
        self.contact = np.zeros(len(_FOOT))  # the latest contact probabilities (FOOT_JOINTS order)
        self._previous: np.ndarray | None = None  # the previous raw joints
        self._frame: int | None = None
        self._shift = np.zeros(3)  # the whole-body correction (x, y, z), m
        self._velocity = np.zeros(3)  # the horizontal shift's smoothed step, m per frame
        self._locks = np.zeros((len(_FOOT), 3))
        self._locked = np.zeros(len(_FOOT), bool)
        self._weights = np.zeros(len(_FOOT))

    def step(self, joints, frame_index: int | None = None) -> np.ndarray:
        """One frame's joints (22, 3) -> the corrected joints (22, 3). A ``frame_index`` that
        does not follow the previous one starts afresh (a new stream)."""
        joints = np.asarray(joints, np.float64)
        if joints.shape != (body.NUM_JOINTS, 3):
            raise ValueError(f"joints must be ({body.NUM_JOINTS}, 3), got {joints.shape}")
        if frame_index is not None and self._frame is not None and frame_index != self._frame + 1:
            self.reset()
        self._frame = frame_index
        if not np.isfinite(joints).all():  # never spread a broken frame into the state
            self.reset()
            return joints.copy()
        c = self.config
        previous = joints if self._previous is None else self._previous
        self._previous = joints
        feet, moved = joints[_FOOT], joints[_FOOT] - previous[_FOOT]
        speed = np.linalg.norm(moved, axis=-1) * c.fps
        height = feet[:, 1] + self._shift[1] - c.floor
        # 1. Contact probabilities from the output's own motion.
        p = _ramp(speed, *c.contact_speed) * _ramp(height, self._low, self._high)
        self.contact = p
        planted = float(p.max())
        # 2. The body moves over the planted feet: against their contact-weighted displacement.
        wanted = -planted * (p @ moved) / p.sum() * _HORIZONTAL if planted > 0 else np.zeros(3)
        self._velocity += c.shift_smoothing * (wanted - self._velocity)
        norm = np.linalg.norm(self._velocity)
        self._shift += self._velocity * min(1.0, c.max_shift_step / max(norm, 1e-12))
        out = joints + self._shift * _HORIZONTAL
        # 3. Planted feet locked (two-bone IK).
        out = self._lock(out, p)
        # 4. The lowest foot joint on the floor while planted; never under it.
        lowest = out[_FOOT, 1].min() - c.floor
        target = float(np.clip(planted * -lowest + (1 - planted) * max(0.0, -lowest), -c.max_lift, c.max_lift))
        gap = target - self._shift[1]
        self._shift[1] += np.clip((1.0 if gap > 0 else c.lower_rate) * gap, -c.max_lift_step, c.max_lift_step)
        out[:, 1] += self._shift[1]
        return out

    __call__ = step

    def _lock(self, out: np.ndarray, p: np.ndarray) -> np.ndarray:
        c = self.config
        feet = out[_FOOT]
        ramp = 1.0 / c.blend_frames
        for i in range(len(_FOOT)):
            if p[i] >= c.lock_on:
                if not self._locked[i]:
                    self._locked[i], self._locks[i] = True, feet[i]  # where it landed
                self._weights[i] = min(1.0, self._weights[i] + ramp)
            elif p[i] < c.lock_off:
                self._weights[i] = max(0.0, self._weights[i] - ramp)
                self._locked[i] = self._weights[i] > 0
            if self._locked[i]:
                self._locks[i] += c.lock_follow * (feet[i] - self._locks[i])
                offset = (self._locks[i] - feet[i]) * _HORIZONTAL
                norm = np.linalg.norm(offset)
                if norm > c.max_lock_offset:
                    self._locks[i] = feet[i] + offset * (c.max_lock_offset / norm)
        for (hip, knee, ankle, toe), (a, f) in zip(_LEGS, _SLOTS):
            if self._weights[a] == 0 and self._weights[f] == 0:
                continue
            ankle_move = self._weights[a] * (self._locks[a] - out[ankle]) * _HORIZONTAL
            toe_target = out[toe] + ankle_move
            toe_target += self._weights[f] * (self._locks[f] - toe_target) * _HORIZONTAL
            foot_length = np.linalg.norm(out[toe] - out[ankle])
            new_knee, new_ankle = two_bone_ik(out[hip], out[knee], out[ankle], out[ankle] + ankle_move)
            direction = toe_target - new_ankle
            out[knee], out[ankle] = new_knee, new_ankle
            out[toe] = new_ankle + direction * (foot_length / max(np.linalg.norm(direction), 1e-9))
        return out
