"""What one take looks like: the wearer's clothes, the room around the walk, the light.

* **Body** (``SEGMENTS``): shaded capsules between SMPL-22 joints with hands and feet (no
  head and neck: the camera is inside the head), grouped by ``LIMB_GROUPS`` for colour.
* **Scene** (``Appearance`` + ``build_scene``): a procedural floor (checker / tiles /
  planks), a room around the whole trajectory (walls with a baseboard and panel lines, a
  ceiling), a few boxes off the walking path, one directional light.
  ``Appearance.random(seed)`` draws all of it per take (clothing colours per limb group,
  floor, room, boxes, light); the default ``Appearance()`` is one fixed look.

Plain data and numpy: the triangles are made in ``meshes.py``, drawn in ``renderer.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .camera import J, _check_joints

FLOOR_PATTERNS = ("checker", "tiles", "planks")
LIMB_GROUPS = ("torso", "upper_arms", "forearms", "hands", "thighs", "shins", "feet")

# Body capsules: (joint a, joint b, reference joint, radius at a, radius at b, extension, group).
# The far end is ``b + extension * unit(b - ref)``: the hand continues the forearm past the
# wrist, the toes continue ankle -> foot. Radii are rough adult proportions in metres; the
# torso is a bundle of capsules (spine + flanks) so that it is wider than deep.
SEGMENTS = (
    (J["pelvis"], J["spine1"], 0, 0.125, 0.12, 0.0, "torso"),
    (J["spine1"], J["spine2"], 0, 0.12, 0.12, 0.0, "torso"),
    (J["spine2"], J["spine3"], 0, 0.12, 0.125, 0.0, "torso"),
    (J["left_hip"], J["right_hip"], 0, 0.1, 0.1, 0.0, "torso"),
    (J["left_hip"], J["left_collar"], 0, 0.085, 0.075, 0.0, "torso"),
    (J["right_hip"], J["right_collar"], 0, 0.085, 0.075, 0.0, "torso"),
    (J["spine3"], J["left_collar"], 0, 0.075, 0.07, 0.0, "torso"),
    (J["spine3"], J["right_collar"], 0, 0.075, 0.07, 0.0, "torso"),
    (J["left_collar"], J["left_shoulder"], 0, 0.07, 0.06, 0.0, "torso"),
    (J["right_collar"], J["right_shoulder"], 0, 0.07, 0.06, 0.0, "torso"),
    (J["left_shoulder"], J["left_elbow"], 0, 0.055, 0.045, 0.0, "upper_arms"),
    (J["right_shoulder"], J["right_elbow"], 0, 0.055, 0.045, 0.0, "upper_arms"),
    (J["left_elbow"], J["left_wrist"], 0, 0.043, 0.035, 0.0, "forearms"),
    (J["right_elbow"], J["right_wrist"], 0, 0.043, 0.035, 0.0, "forearms"),
    (J["left_wrist"], J["left_wrist"], J["left_elbow"], 0.037, 0.042, 0.085, "hands"),
    (J["right_wrist"], J["right_wrist"], J["right_elbow"], 0.037, 0.042, 0.085, "hands"),
    (J["left_hip"], J["left_knee"], 0, 0.085, 0.06, 0.0, "thighs"),
    (J["right_hip"], J["right_knee"], 0, 0.085, 0.06, 0.0, "thighs"),
    (J["left_knee"], J["left_ankle"], 0, 0.055, 0.042, 0.0, "shins"),
    (J["right_knee"], J["right_ankle"], 0, 0.055, 0.042, 0.0, "shins"),
    (J["left_ankle"], J["left_foot"], J["left_ankle"], 0.045, 0.038, 0.05, "feet"),
    (J["right_ankle"], J["right_foot"], J["right_ankle"], 0.045, 0.038, 0.05, "feet"),
)
SOLE_BELOW_LOWEST_JOINT_M = 0.04  # the floor sits this far below the lowest joint (a foot capsule's radius)
PATH_CLEARANCE_M = 0.5  # boxes keep this far from the walking path (the root's track)

Color = tuple[float, float, float]


@dataclass(frozen=True)
class BoxSpec:
    """A box of the randomised room, placed relative to the room: ``u, v`` in [0, 1] across
    its x and z extent (``build_scene`` moves boxes that would stand on the walking path)."""

    u: float
    v: float
    size: tuple[float, float, float]  # x, y (height), z extent, metres
    yaw_deg: float
    color: Color


@dataclass(frozen=True)
class Appearance:
    """How one take looks. ``Appearance()`` is a fixed neutral look; ``Appearance.random(seed)``
    draws a new one per take (same seed, same look)."""

    colors: dict[str, Color] = field(
        default_factory=lambda: {
            "torso": (0.20, 0.35, 0.60),
            "upper_arms": (0.20, 0.35, 0.60),
            "forearms": (0.80, 0.62, 0.50),
            "hands": (0.80, 0.62, 0.50),
            "thighs": (0.25, 0.25, 0.30),
            "shins": (0.25, 0.25, 0.30),
            "feet": (0.10, 0.10, 0.10),
        }
    )
    floor_pattern: str = "checker"
    floor_colors: tuple[Color, Color] = ((0.72, 0.70, 0.66), (0.45, 0.43, 0.40))
    floor_tile_m: float = 0.5
    floor_angle_deg: float = 0.0
    wall_color: Color = (0.78, 0.76, 0.70)
    trim_color: Color = (0.35, 0.30, 0.26)
    ceiling_color: Color = (0.92, 0.92, 0.90)
    room_margins_m: tuple[float, float, float, float] = (2.0, 2.0, 2.0, 2.0)  # beyond the path: -x, +x, -z, +z
    room_height_m: float = 2.8
    boxes: tuple[BoxSpec, ...] = (
        BoxSpec(0.1, 0.9, (0.8, 0.75, 0.6), 0.0, (0.55, 0.35, 0.20)),
        BoxSpec(0.9, 0.5, (0.5, 1.6, 0.4), 0.0, (0.30, 0.50, 0.35)),
        BoxSpec(0.2, 0.2, (0.5, 0.45, 0.5), 20.0, (0.70, 0.60, 0.20)),
    )
    light_dir: tuple[float, float, float] = (0.4, 0.8, 0.45)  # towards the light (normalised when used)
    ambient: float = 0.45
    seed: int = 0  # drives where boxes that stand on the path are moved to

    def __post_init__(self):
        missing = [g for g in LIMB_GROUPS if g not in self.colors]
        if missing:
            raise ValueError(f"Appearance.colors lacks the limb groups {missing}")
        if self.floor_pattern not in FLOOR_PATTERNS:
            raise ValueError(f"floor_pattern must be one of {FLOOR_PATTERNS}, got {self.floor_pattern!r}")

    @classmethod
    def random(cls, seed: int) -> Appearance:
        """A random look: clothes (shirt, sleeves, trousers or shorts, shoes, skin), floor, room, boxes, light."""
        rng = np.random.default_rng(seed)

        def color(s=(0.15, 0.85), v=(0.2, 0.95)) -> Color:
            return _hsv(rng.uniform(), rng.uniform(*s), rng.uniform(*v))

        skin = _mix(np.array((0.95, 0.78, 0.66)), np.array((0.36, 0.24, 0.17)), rng.uniform())
        shirt, trousers = color(), color(v=(0.12, 0.75))
        colors = {
            "torso": shirt,
            "upper_arms": shirt,
            "forearms": shirt if rng.uniform() < 0.55 else skin,  # long or short sleeves
            "hands": skin if rng.uniform() < 0.85 else color(),  # bare hands or gloves
            "thighs": trousers,
            "shins": trousers if rng.uniform() < 0.8 else skin,  # trousers or shorts
            "feet": color(s=(0.0, 0.7), v=(0.05, 0.9)),
        }
        floor_a = color(s=(0.0, 0.5), v=(0.35, 0.9))
        floor_b = _scale(floor_a, rng.uniform(0.45, 0.8))
        boxes = tuple(
            BoxSpec(
                u=float(rng.uniform()),
                v=float(rng.uniform()),
                size=(float(rng.uniform(0.3, 1.3)), float(rng.uniform(0.25, 1.9)), float(rng.uniform(0.3, 1.0))),
                yaw_deg=float(0.0 if rng.uniform() < 0.5 else rng.uniform(0.0, 90.0)),  # furniture is often square
                color=color(),
            )
            for _ in range(int(rng.integers(2, 9)))
        )
        elevation, azimuth = np.radians(rng.uniform(25.0, 80.0)), rng.uniform(0.0, 2.0 * np.pi)
        light = (np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth))
        wall = color(s=(0.0, 0.35), v=(0.55, 0.95))
        return cls(
            colors=colors,
            floor_pattern=str(rng.choice(FLOOR_PATTERNS)),
            floor_colors=(floor_a, floor_b),
            floor_tile_m=float(rng.uniform(0.25, 1.0)),
            floor_angle_deg=float(rng.choice([0.0, 45.0, rng.uniform(0.0, 90.0)])),
            wall_color=wall,
            trim_color=_scale(wall, rng.uniform(0.3, 0.7)),
            ceiling_color=color(s=(0.0, 0.1), v=(0.8, 1.0)),
            room_margins_m=tuple(float(m) for m in rng.uniform(0.8, 3.5, size=4)),
            room_height_m=float(rng.uniform(2.4, 3.3)),
            boxes=boxes,
            light_dir=tuple(float(x) for x in light),
            ambient=float(rng.uniform(0.35, 0.65)),
            seed=int(seed),
        )


def _hsv(h: float, s: float, v: float) -> Color:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    rgb = v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return tuple(float(c) for c in rgb)


def _mix(a: np.ndarray, b: np.ndarray, t: float) -> Color:
    return tuple(float(c) for c in a + (b - a) * t)


def _scale(c: Color, k: float) -> Color:
    return tuple(float(x * k) for x in c)


@dataclass(frozen=True)
class Box:
    """A box standing on the floor: ``center`` of its footprint (x, z), ``size`` (x, height, z)."""

    center: tuple[float, float]
    size: tuple[float, float, float]
    yaw_deg: float
    color: Color


@dataclass(frozen=True)
class Scene:
    """The world geometry of one take: floor height, room bounds (x_min, x_max, z_min, z_max), boxes."""

    floor_y: float
    bounds: tuple[float, float, float, float]
    height: float
    boxes: tuple[Box, ...] = ()


def build_scene(joints: np.ndarray, appearance: Appearance) -> Scene:
    """The room around the whole take: the floor just under the lowest joint, walls
    ``room_margins_m`` beyond the root's track, boxes moved off the walking path."""
    joints = _check_joints(joints)
    floor_y = float(joints[..., 1].min()) - SOLE_BELOW_LOWEST_JOINT_M
    track = joints[:, 0, [0, 2]]
    lo, hi = track.min(axis=0), track.max(axis=0)
    m = appearance.room_margins_m
    x0, x1, z0, z1 = lo[0] - m[0], hi[0] + m[1], lo[1] - m[2], hi[1] + m[3]
    rng = np.random.default_rng([appearance.seed, 12])
    boxes = []
    for spec in appearance.boxes:
        sx, _, sz = spec.size
        reach = 0.5 * math.hypot(sx, sz)  # the footprint's circumscribed radius
        u, v = spec.u, spec.v
        for _attempt in range(30):
            cx = np.clip(x0 + u * (x1 - x0), x0 + reach, x1 - reach)
            cz = np.clip(z0 + v * (z1 - z0), z0 + reach, z1 - reach)
            if np.min(np.hypot(track[:, 0] - cx, track[:, 1] - cz)) >= reach + PATH_CLEARANCE_M:
                boxes.append(Box((float(cx), float(cz)), spec.size, spec.yaw_deg, spec.color))
                break
            u, v = rng.uniform(size=2)  # on the path (or the room is too small): try elsewhere, else drop it
    return Scene(floor_y, (float(x0), float(x1), float(z0), float(z1)), appearance.room_height_m, tuple(boxes))
