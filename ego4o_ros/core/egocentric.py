"""Egocentric views: what a head-worn camera sees, rendered headless on the CPU.

Input: joints ``(T, 22, 3)`` in metres, SMPL-22 order, in the body frame (``frames.py``:
Y up, the rest pose faces +Z, +X is the body's left). Output: ``uint8 (T, H, W, 3)``
images, row 0 at the top, the wearer's left on the image's left (no mirror image).

* **Camera** (``EgoCameraConfig``): rigidly on the head joint like glasses, ``offset_m``
  forward of and above the head joint, pitched down by ``pitch_deg``, a wide field of
  view; ``projection`` is ``"pinhole"`` or ``"fisheye"`` (equidistant, ``r = f * theta``,
  the model of Aria-like fisheye lenses). ``fov_deg`` spans the image width in both.
* **Head orientation** (joints-only data has no head rotation; ``head_frames``): the
  head's up axis is the neck -> head direction (it carries the torso's bend and the
  neck's flexion), its left axis the shoulder line (collars + shoulders), so head yaw
  follows the upper torso; both are lightly smoothed in time (the head stabilises gaze
  against the shoulders' swing when walking). The neck -> head bone is not vertical in
  a level head and its tilt depends on the mocap rig (a few degrees in the Bandai
  data, ~30 degrees in SMPL's template), so the head's pitch is measured from a neutral
  pitch: the clip's median by default (``neutral_head_pitch_deg=None``), or a fixed
  value for streaming, where there is no clip to take a median of.
* **Scene** (``Appearance`` + ``build_scene``): the wearer's body as shaded capsules
  between SMPL-22 joints with hands and feet (no head and neck: the camera is inside the
  head), a procedural floor (checker / tiles / planks), a room around the whole
  trajectory (walls with a baseboard and panel lines, a ceiling), a few boxes off the
  walking path, one directional light. ``Appearance.random(seed)`` draws all of it per
  take (clothing colours per limb group, floor, room, boxes, light); the default
  ``Appearance()`` is one fixed look.
* **Rendering** (``EgocentricRenderer``): moderngl on a standalone EGL context (Mesa's
  llvmpipe on a CPU), one context per process shared by all renderers. Joints and
  camera poses go to the GPU as textures; a batch of frames is drawn as tiles of one
  atlas with three instanced draw calls (body, room + boxes, floor) and read back at
  once, which keeps the per-frame CPU cost at a few hundred microseconds.
* **Fisheye** is done in the vertex shader: each vertex is projected with the exact
  equidistant model, and all geometry is tessellated finely enough (capsules, floor,
  walls, boxes) that straight triangle edges between projected vertices follow the
  lens's curves; a clip distance on the angle from the optical axis removes triangles
  far outside the image (behind the camera), where the mapping has its seam.

No EGL or no OpenGL 3.3: ``EgocentricRenderError`` with one message saying what is
missing, raised when the first renderer is created. Never imports rclpy. Create
renderers in the process that uses them (a GL context does not survive ``fork``).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import body

PROJECTIONS = ("pinhole", "fisheye")
FLOOR_PATTERNS = ("checker", "tiles", "planks")
LIMB_GROUPS = ("torso", "upper_arms", "forearms", "hands", "thighs", "shins", "feet")

J = {name: i for i, name in enumerate(body.JOINT_NAMES)}

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


class EgocentricRenderError(RuntimeError):
    """No headless OpenGL here: moderngl, EGL or an OpenGL 3.3 driver is missing."""


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class EgoCameraConfig:
    """The head-mounted camera. Angles in degrees (the names say so), lengths in metres."""

    width: int = 128
    height: int = 128
    projection: str = "fisheye"  # "fisheye" (equidistant, Aria-like) or "pinhole"
    fov_deg: float = 110.0  # across the image width (pinhole: < 180; fisheye: any up to ~200)
    pitch_deg: float = 35.0  # down from the level head: glasses cameras look at the hands' workspace
    # (left, up, forward) from the head joint, in the levelled head frame: the SMPL head joint
    # sits inside the skull below eye level; glasses are ~5 cm higher and ~12 cm forward.
    offset_m: tuple[float, float, float] = (0.0, 0.05, 0.12)
    # The head's forward elevation (degrees, negative = looking down) taken as level; None = the
    # clip's median (the rig's neck -> head tilt differs between datasets; see the module doc).
    neutral_head_pitch_deg: float | None = None
    head_smoothing_s: float = 0.05  # Gaussian sigma of the head axes over time (0 = none)
    near_m: float = 0.02
    far_m: float = 60.0
    samples: int = 0  # multisample anti-aliasing (0 = off); edges of far objects shimmer less, costs speed

    def __post_init__(self):
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {self.projection!r}")
        if self.width < 8 or self.height < 8:
            raise ValueError(f"resolution too small: {self.width}x{self.height}")
        if not 0.0 < self.fov_deg < (179.0 if self.projection == "pinhole" else 220.0):
            raise ValueError(f"fov_deg {self.fov_deg} out of range for a {self.projection} camera")
        if not 0.0 < self.near_m < self.far_m:
            raise ValueError("need 0 < near_m < far_m")

    @property
    def aspect(self) -> float:
        return self.width / self.height


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


# ----------------------------------------------------------------------------- camera


def _check_joints(joints) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 2:
        joints = joints[None]
    if joints.ndim != 3 or joints.shape[1:] != (body.NUM_JOINTS, 3) or len(joints) == 0:
        raise ValueError(f"joints must be (T, 22, 3) with T >= 1, got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("joints contain NaN or inf")
    return joints


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about the local +X (left) axis; positive pitches +Z (forward) down."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(np.shape(angle) + (3, 3))
    out[..., 0, 0] = 1.0
    out[..., 1, 1], out[..., 1, 2] = c, -s
    out[..., 2, 1], out[..., 2, 2] = s, c
    return out


def head_frames(joints: np.ndarray, config: EgoCameraConfig = EgoCameraConfig(), fps: float = 30.0) -> np.ndarray:
    """(T, 3, 3) world-from-head rotations, columns (left, up, forward): up = neck -> head,
    left = the shoulder line made perpendicular to it (see the module doc)."""
    joints = _check_joints(joints)
    up = joints[:, J["head"]] - joints[:, J["neck"]]
    left = (joints[:, J["left_shoulder"]] - joints[:, J["right_shoulder"]]) + (
        joints[:, J["left_collar"]] - joints[:, J["right_collar"]]
    )
    sigma = config.head_smoothing_s * fps
    if sigma > 0.0 and len(joints) > 1:
        from scipy.ndimage import gaussian_filter1d

        up = gaussian_filter1d(_normalize(up), sigma, axis=0, mode="nearest")
        left = gaussian_filter1d(_normalize(left), sigma, axis=0, mode="nearest")
    up = _normalize(up)
    left = _normalize(left - np.sum(left * up, axis=-1, keepdims=True) * up)
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def camera_poses(joints: np.ndarray, config: EgoCameraConfig = EgoCameraConfig(), fps: float = 30.0) -> np.ndarray:
    """(T, 4, 4) world-from-camera transforms in OpenGL's camera convention (columns: right,
    up, backward, position; the camera looks along -Z of its own frame)."""
    joints = _check_joints(joints)
    head = head_frames(joints, config, fps)
    elevation = np.arcsin(np.clip(head[:, 1, 2], -1.0, 1.0))  # of the head's forward axis
    if config.neutral_head_pitch_deg is None:
        neutral = float(np.median(elevation))
    else:
        neutral = math.radians(config.neutral_head_pitch_deg)
    level = head @ _rot_x(np.full(len(joints), neutral))  # a level head looks horizontally in its neutral pose
    look = head @ _rot_x(np.full(len(joints), neutral + math.radians(config.pitch_deg)))
    poses = np.zeros((len(joints), 4, 4))
    poses[:, :3, 0] = -look[:, :, 0]  # right = -left
    poses[:, :3, 1] = look[:, :, 1]
    poses[:, :3, 2] = -look[:, :, 2]  # backward = -forward
    poses[:, :3, 3] = joints[:, J["head"]] + level @ np.asarray(config.offset_m, dtype=np.float64)
    poses[:, 3, 3] = 1.0
    return poses


def project_points(
    points: np.ndarray, world_from_camera: np.ndarray, config: EgoCameraConfig = EgoCameraConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Where world points land in the image, by the renderer's own projection.

    ``points`` (N, 3) or (T, N, 3), ``world_from_camera`` (4, 4) or (T, 4, 4) from
    ``camera_poses``. Returns pixel coordinates (..., N, 2) as (column, row) from the
    image's top-left corner (pixel centres at +0.5) and a mask (..., N) of points in front
    of the camera and inside the image."""
    pose = np.asarray(world_from_camera, dtype=np.float64)
    view = np.linalg.inv(pose)
    pts = np.asarray(points, dtype=np.float64)
    p = np.einsum("...ij,...nj->...ni", view[..., :3, :3], pts) + view[..., None, :3, 3]
    half = math.radians(config.fov_deg) / 2.0
    if config.projection == "pinhole":
        depth = -p[..., 2]
        safe = np.where(depth > 1e-9, depth, 1e-9)
        ndc = p[..., :2] / safe[..., None] / math.tan(half)
        front = depth > config.near_m
    else:
        dist = np.linalg.norm(p, axis=-1)
        theta = np.arccos(np.clip(-p[..., 2] / np.maximum(dist, 1e-12), -1.0, 1.0))
        ndc = _normalize(p[..., :2]) * (theta / half)[..., None]
        front = dist > config.near_m
    ndc[..., 1] *= config.aspect
    pixels = np.stack([(ndc[..., 0] + 1.0) * 0.5 * config.width, (1.0 - ndc[..., 1]) * 0.5 * config.height], -1)
    inside = front & (np.abs(ndc) <= 1.0).all(axis=-1)
    return pixels, inside


# ----------------------------------------------------------------------------- meshes


def _capsule_mesh(around: int = 14, cap_rings: int = 4, length_rings: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Unit capsule: per vertex (direction in the capsule's frame, z along the axis; end 0..1).
    Rings along the length let the fisheye bend long limbs near the camera."""
    rings = [(-math.cos(a), 0.0) for a in np.linspace(0.0, math.pi / 2, cap_rings + 1)]  # cap at end a
    rings += [(0.0, t) for t in np.linspace(0.0, 1.0, length_rings + 1)[1:]]
    rings += [(math.sin(a), 1.0) for a in np.linspace(0.0, math.pi / 2, cap_rings + 1)[1:]]  # cap at end b
    phi = np.linspace(0.0, 2.0 * math.pi, around, endpoint=False)
    verts = []
    for z, end in rings:
        r = math.sqrt(max(0.0, 1.0 - z * z))
        verts += [(r * math.cos(p), r * math.sin(p), z, end) for p in phi]
    idx = []
    for i in range(len(rings) - 1):
        for k in range(around):
            a, b = i * around + k, i * around + (k + 1) % around
            c, d = a + around, b + around
            idx += [a, b, d, a, d, c]
    return np.asarray(verts, np.float32), np.asarray(idx, np.int32)


def _polar_floor(rings: int = 36, around: int = 48, inner: float = 0.03, outer: float = 80.0):
    """A disc of (x, z) offsets around the camera, ring radii growing geometrically so every
    cell spans a similar angle as seen from head height (fisheye needs small cells nearby)."""
    radii = np.concatenate([[0.0], np.geomspace(inner, outer, rings)])
    phi = np.linspace(0.0, 2.0 * math.pi, around, endpoint=False)
    verts = np.stack(np.meshgrid(radii, phi, indexing="ij"), -1).reshape(-1, 2)
    xz = np.stack([verts[:, 0] * np.cos(verts[:, 1]), verts[:, 0] * np.sin(verts[:, 1])], -1)
    idx = []
    for i in range(len(radii) - 1):
        for k in range(around):
            a, b = i * around + k, i * around + (k + 1) % around
            idx += [a, b, b + around, a, b + around, a + around]
    return xz.astype(np.float32), np.asarray(idx, np.int32)


def _grid_quad(origin, edge_u, edge_v, cell_m: float, normal, color, material: float):
    """A quad tessellated into cells of about ``cell_m``: vertices (pos, normal, colour, material)."""
    origin, edge_u, edge_v = (np.asarray(x, np.float64) for x in (origin, edge_u, edge_v))
    nu = int(np.clip(math.ceil(np.linalg.norm(edge_u) / cell_m), 1, 48))
    nv = int(np.clip(math.ceil(np.linalg.norm(edge_v) / cell_m), 1, 48))
    s, t = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    pos = origin + s[..., None] * edge_u + t[..., None] * edge_v
    n = pos.reshape(-1, 3).shape[0]
    attrs = np.concatenate(
        [pos.reshape(-1, 3), np.tile(normal, (n, 1)), np.tile(color, (n, 1)), np.full((n, 1), material)], axis=1
    )
    idx = []
    for i in range(nu):
        for k in range(nv):
            a = i * (nv + 1) + k
            idx += [a, a + nv + 1, a + nv + 2, a, a + nv + 2, a + 1]
    return attrs, np.asarray(idx, np.int64)


MATERIAL_PLAIN, MATERIAL_WALL = 0.0, 1.0


def _room_mesh(scene: Scene, appearance: Appearance) -> tuple[np.ndarray, np.ndarray]:
    """Walls (inward normals), ceiling and boxes as one static triangle mesh in world coordinates."""
    x0, x1, z0, z1 = scene.bounds
    y0, h = scene.floor_y, scene.height
    wall, ceiling = appearance.wall_color, appearance.ceiling_color
    quads = [
        ((x0, y0, z0), (x1 - x0, 0, 0), (0, h, 0), (0, 0, 1), wall, MATERIAL_WALL),
        ((x0, y0, z1), (x1 - x0, 0, 0), (0, h, 0), (0, 0, -1), wall, MATERIAL_WALL),
        ((x0, y0, z0), (0, 0, z1 - z0), (0, h, 0), (1, 0, 0), wall, MATERIAL_WALL),
        ((x1, y0, z0), (0, 0, z1 - z0), (0, h, 0), (-1, 0, 0), wall, MATERIAL_WALL),
        ((x0, y0 + h, z0), (x1 - x0, 0, 0), (0, 0, z1 - z0), (0, -1, 0), ceiling, MATERIAL_PLAIN),
    ]
    parts = [(_grid_quad(o, u, v, 0.4, n, c, m)) for o, u, v, n, c, m in quads]
    for box in scene.boxes:
        sx, sy, sz = box.size
        yaw = math.radians(box.yaw_deg)
        ex = np.array([math.cos(yaw), 0.0, -math.sin(yaw)]) * sx  # the box's x edge after yaw about +Y
        ez = np.array([math.sin(yaw), 0.0, math.cos(yaw)]) * sz
        ey = np.array([0.0, sy, 0.0])
        corner = np.array([box.center[0], y0, box.center[1]]) - 0.5 * ex - 0.5 * ez
        ux, uz = ex / sx, ez / sz
        faces = [
            (corner, ez, ey, -ux),
            (corner + ex, ez, ey, ux),
            (corner, ex, ey, -uz),
            (corner + ez, ex, ey, uz),
            (corner + ey, ex, ez, np.array([0.0, 1.0, 0.0])),
        ]
        parts += [_grid_quad(o, u, v, 0.25, n, box.color, MATERIAL_PLAIN) for o, u, v, n in faces]
    verts, idx, base = [], [], 0
    for attrs, faces in parts:
        verts.append(attrs)
        idx.append(faces + base)
        base += len(attrs)
    return np.concatenate(verts).astype(np.float32), np.concatenate(idx).astype(np.int32)


# ----------------------------------------------------------------------------- shaders

_PROJECT = """
uniform sampler2D cameras;  // per frame (row): texels 0-3 the view matrix's columns, texel 4 the position
uniform int frame0;         // first frame of this batch (a row of the textures)
uniform int tiles_x;
uniform vec2 tile_scale;    // one tile's size in the atlas's NDC
uniform float near_m, far_m, focal, aspect, cos_theta_max;

out float gl_ClipDistance[5];

mat4 view_of(int f) {
    return mat4(texelFetch(cameras, ivec2(0, f), 0), texelFetch(cameras, ivec2(1, f), 0),
                texelFetch(cameras, ivec2(2, f), 0), texelFetch(cameras, ivec2(3, f), 0));
}

// World point -> clip position inside this frame's tile of the atlas.
vec4 project(vec3 world, int tile) {
    vec3 p = (view_of(frame0 + tile) * vec4(world, 1.0)).xyz;  // camera looks along -z
#ifdef FISHEYE
    // Equidistant fisheye: image radius proportional to the angle from the optical axis
    // (focal = 1 / half-fov in radians). w = 1, so depth is the distance, kept linear.
    float d = max(length(p), 1e-9);
    float cos_theta = clamp(-p.z / d, -1.0, 1.0);
    vec2 ndc = p.xy / max(length(p.xy), 1e-9) * acos(cos_theta) * focal;
    vec4 clip = vec4(ndc.x, ndc.y * aspect, 2.0 * (d - near_m) / (far_m - near_m) - 1.0, 1.0);
    // Far off-axis (behind the camera) the mapping folds over: drop that part of every triangle.
    gl_ClipDistance[4] = cos_theta - cos_theta_max;
#else
    vec4 clip = vec4(p.x * focal, p.y * focal * aspect,
                     (-(far_m + near_m) * p.z - 2.0 * far_m * near_m) / (far_m - near_m), -p.z);
    gl_ClipDistance[4] = 1.0;
#endif
    // Keep each frame inside its own tile: clip against the tile's edges, then move it there.
    gl_ClipDistance[0] = clip.w + clip.x;
    gl_ClipDistance[1] = clip.w - clip.x;
    gl_ClipDistance[2] = clip.w + clip.y;
    gl_ClipDistance[3] = clip.w - clip.y;
    vec2 centre = vec2(-1.0 + tile_scale.x * (float(tile % tiles_x) + 0.5),
                       1.0 - tile_scale.y * (float(tile / tiles_x) + 0.5));  // tile rows from the top
    clip.xy = clip.xy * 0.5 * tile_scale + centre * clip.w;
    return clip;
}
"""

_SHADE = """
uniform vec3 light_dir;
uniform float ambient;

// Lambert plus an ambient that is a little brighter on surfaces facing up (light from above).
vec3 shade(vec3 albedo, vec3 n) {
    n = normalize(n);
    float sky = 0.85 + 0.15 * n.y;
    return albedo * (ambient * sky + (1.0 - ambient) * max(dot(n, light_dir), 0.0));
}
"""

_BODY_VS = """
uniform sampler2D joints;   // per frame (row): 22 joint positions
uniform ivec3 seg_joints[NUM_SEGMENTS];  // a, b, reference
uniform vec3 seg_shape[NUM_SEGMENTS];    // radius at a, radius at b, extension past b
uniform vec3 seg_color[NUM_SEGMENTS];

in vec4 in_vert;  // direction in the capsule frame (xyz, z along the axis), end (w: 0 at a, 1 at b)
out vec3 v_normal;
out vec3 v_color;

vec3 joint(int f, int j) { return texelFetch(joints, ivec2(j, f), 0).xyz; }

void main() {
    int tile = gl_InstanceID / NUM_SEGMENTS;
    int s = gl_InstanceID % NUM_SEGMENTS;
    int f = frame0 + tile;
    ivec3 jj = seg_joints[s];
    vec3 shape = seg_shape[s];
    vec3 a = joint(f, jj.x);
    vec3 b = joint(f, jj.y);
    if (shape.z > 0.0) b += shape.z * normalize(b - joint(f, jj.z));
    vec3 axis = b - a;
    float len = length(axis);
    vec3 z = len > 1e-6 ? axis / len : vec3(0.0, 1.0, 0.0);
    vec3 x = normalize(cross(abs(z.y) < 0.9 ? vec3(0.0, 1.0, 0.0) : vec3(1.0, 0.0, 0.0), z));
    vec3 y = cross(z, x);
    vec3 dir = x * in_vert.x + y * in_vert.y + z * in_vert.z;
    vec3 world = mix(a, b, in_vert.w) + mix(shape.x, shape.y, in_vert.w) * dir;
    v_normal = dir;
    v_color = seg_color[s];
    gl_Position = project(world, tile);
}
"""

_COLOR_FS = """
in vec3 v_normal;
in vec3 v_color;
out vec4 f_color;
void main() { f_color = vec4(shade(v_color, v_normal), 1.0); }
"""

_ROOM_VS = """
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in float in_material;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_color;
flat out float v_material;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_color = in_color;
    v_material = in_material;
    gl_Position = project(in_pos, gl_InstanceID);
}
"""

_ROOM_FS = """
uniform float floor_y;
uniform vec3 trim_color;
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_color;
flat in float v_material;
out vec4 f_color;
void main() {
    vec3 albedo = v_color;
    if (v_material > 0.5) {
        // Walls: a baseboard, a rail at hip height and vertical panel seams, so turning is visible.
        float h = v_pos.y - floor_y;
        float along = v_pos.x + v_pos.z;  // walls are axis aligned: one of the two varies
        float seam = abs(fract(along / 1.2 + 0.5) - 0.5) * 1.2;  // metres to the nearest seam
        if (h < 0.12 || abs(h - 0.95) < 0.025) albedo = trim_color;
        else if (seam < 0.02) albedo *= 0.75;
    }
    f_color = vec4(shade(albedo, v_normal), 1.0);
}
"""

_FLOOR_VS = """
uniform float floor_y;
in vec2 in_xz;  // offset from the camera, metres
out vec2 v_xz;
void main() {
    int f = frame0 + gl_InstanceID;
    vec3 cam = texelFetch(cameras, ivec2(4, f), 0).xyz;
    v_xz = cam.xz + in_xz;  // the disc follows the camera; the pattern stays in the world
    gl_Position = project(vec3(v_xz.x, floor_y, v_xz.y), gl_InstanceID);
}
"""

_FLOOR_FS = """
uniform int pattern;  // 0 checker, 1 tiles with grout, 2 planks
uniform vec3 floor_a, floor_b;
uniform float tile_m, angle;
in vec2 v_xz;
out vec4 f_color;

float hash(vec2 p) { return fract(sin(dot(p, vec2(127.1, 311.7))) * 43758.5453); }

void main() {
    mat2 rot = mat2(cos(angle), sin(angle), -sin(angle), cos(angle));
    vec2 uv = rot * v_xz / tile_m;
    vec2 w = max(fwidth(uv), vec2(1e-4));  // one pixel's footprint in tiles: for filtering
    vec3 albedo;
    vec3 mean;
    if (pattern == 0) {
        // Box-filtered checker (the integral of the square wave over the pixel): no moire far away.
        vec2 i = 2.0 * (abs(fract((uv - 0.5 * w) * 0.5) - 0.5) - abs(fract((uv + 0.5 * w) * 0.5) - 0.5)) / w;
        albedo = mix(floor_a, floor_b, 0.5 - 0.5 * i.x * i.y);
        mean = 0.5 * (floor_a + floor_b);
    } else {
        vec2 cell = uv;
        if (pattern == 2) {
            cell = vec2(uv.x * 4.0, uv.y);  // planks: 4 per tile across, one tile long, staggered rows
            cell.y += hash(vec2(floor(cell.x), 7.0));
        }
        vec2 f = fract(cell);
        vec2 width = (pattern == 2 ? vec2(0.06, 0.015) : vec2(0.03)) ;
        vec2 pix = max(fwidth(cell), vec2(1e-4));
        vec2 edge = smoothstep(width - pix, width + pix, min(f, 1.0 - f));
        vec3 body = floor_a * (0.85 + 0.3 * hash(floor(cell)));
        albedo = mix(floor_b, body, edge.x * edge.y);
        mean = mix(floor_b, floor_a, 0.85);
    }
    // Past about a pixel per tile the pattern is only noise at this resolution: fade to its mean.
    albedo = mix(albedo, mean, smoothstep(0.35, 0.9, max(w.x, w.y)));
    f_color = vec4(shade(albedo, vec3(0.0, 1.0, 0.0)), 1.0);
}
"""


# ----------------------------------------------------------------------------- context

_CONTEXT = None  # one GL context per process, shared by every renderer


def _load_triton_first() -> None:
    """Mesa's llvmpipe and triton (torch's compiler, loaded by ``torch.optim``) each bring
    their own LLVM; triton loaded after an EGL context exists crashes the process. Loaded
    first, both work. Nothing happens where triton is not installed."""
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


def _context(threads: int | None = None):
    """The process's standalone EGL context, created on first use.

    ``threads``: llvmpipe's rasteriser threads (LP_NUM_THREADS; 0 = draw on the calling
    thread). It is read once, when the first context is created, and a value already in
    the environment wins."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    try:
        import moderngl
    except ImportError as error:
        raise EgocentricRenderError(
            f"the egocentric renderer needs moderngl, which is not installed ({error}); pip install moderngl"
        ) from None
    if threads is not None:
        os.environ.setdefault("LP_NUM_THREADS", str(int(threads)))
    _load_triton_first()
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as error:  # moderngl/glcontext raise plain Exceptions with the loader's message
        raise EgocentricRenderError(
            "no headless OpenGL: moderngl could not create an EGL context "
            f"({type(error).__name__}: {error}). The egocentric renderer needs libEGL and an OpenGL 3.3 "
            "driver; on a machine without a GPU, Mesa's llvmpipe works (Debian/Ubuntu: apt install libegl1 "
            "libgl1-mesa-dri)."
        ) from None
    if ctx.version_code < 330:
        version = ctx.info.get("GL_VERSION", ctx.version_code)
        ctx.release()
        raise EgocentricRenderError(f"the egocentric renderer needs OpenGL 3.3, this EGL context offers {version}")
    _CONTEXT = ctx
    return ctx


# ----------------------------------------------------------------------------- renderer

GL_CLIP_DISTANCE0 = 0x3000
MAX_TEXTURE_ROWS = 8192  # frames per upload of the joint/camera textures (well under GL limits)


class EgocentricRenderer:
    """Renders head-mounted views of joint sequences; reusable across clips.

    ``renderer.render(joints, appearance) -> uint8 (T, H, W, 3)``. ``close()`` (or a
    ``with`` block) frees its GL objects; the process's context stays for the next one.
    ``threads``: llvmpipe threads, see ``_context`` (only the process's first renderer sets it).
    A GL context belongs to one thread at a time: call a renderer from one thread only.
    """

    def __init__(self, config: EgoCameraConfig = EgoCameraConfig(), threads: int | None = None):
        self.config = config
        self.ctx = _context(threads)
        ctx = self.ctx
        self._objects = []
        define = f"#version 330\n#define NUM_SEGMENTS {len(SEGMENTS)}\n"
        define += "#define FISHEYE\n" if config.projection == "fisheye" else ""
        vs_head = define + _PROJECT
        fs_head = "#version 330\n" + _SHADE
        self._body = self._keep(ctx.program(vertex_shader=vs_head + _BODY_VS, fragment_shader=fs_head + _COLOR_FS))
        self._room = self._keep(ctx.program(vertex_shader=vs_head + _ROOM_VS, fragment_shader=fs_head + _ROOM_FS))
        self._floor = self._keep(ctx.program(vertex_shader=vs_head + _FLOOR_VS, fragment_shader=fs_head + _FLOOR_FS))
        self._programs = (self._body, self._room, self._floor)

        capsule, capsule_idx = _capsule_mesh()
        self._body_vao = self._keep(
            ctx.vertex_array(
                self._body,
                [(self._keep(ctx.buffer(capsule.tobytes())), "4f", "in_vert")],
                self._keep(ctx.buffer(capsule_idx.tobytes())),
            )
        )
        disc, disc_idx = _polar_floor()
        self._floor_vao = self._keep(
            ctx.vertex_array(
                self._floor,
                [(self._keep(ctx.buffer(disc.tobytes())), "2f", "in_xz")],
                self._keep(ctx.buffer(disc_idx.tobytes())),
            )
        )
        self._room_vao = None
        self._room_buffers: list = []

        # The atlas: a batch of frames drawn as tiles of one framebuffer and read back at once.
        w, h = config.width, config.height
        side = max(1, min(8, 2048 // max(w, h)))
        self._tiles = (side, side)
        self._atlas = (side * w, side * h)
        self._fbo = self._keep(
            ctx.framebuffer(
                color_attachments=[self._keep(ctx.renderbuffer(self._atlas, components=4, samples=config.samples))],
                depth_attachment=self._keep(ctx.depth_renderbuffer(self._atlas, samples=config.samples)),
            )
        )
        self._resolved = self._fbo
        if config.samples:  # multisampled pixels are averaged into a plain framebuffer before reading
            self._resolved = self._keep(
                ctx.framebuffer(color_attachments=[self._keep(ctx.renderbuffer(self._atlas, components=4))])
            )
        half = math.radians(config.fov_deg) / 2.0
        if config.projection == "fisheye":
            focal = 1.0 / half
            # The image corner's angle plus a margin: nothing visible is clipped, the fold is.
            corner = half * math.hypot(1.0, 1.0 / config.aspect)
            cos_max = math.cos(min(corner + math.radians(10.0), math.radians(175.0)))
        else:
            focal, cos_max = 1.0 / math.tan(half), -1.0
        common = {
            "near_m": config.near_m,
            "far_m": config.far_m,
            "focal": focal,
            "aspect": config.aspect,
            "cos_theta_max": cos_max,
            "tiles_x": self._tiles[0],
            "tile_scale": (2.0 / self._tiles[0], 2.0 / self._tiles[1]),
            "cameras": 0,
        }
        for program in self._programs:
            for name, value in common.items():
                if name in program:
                    program[name].value = value
        self._body["joints"].value = 1
        self._body["seg_joints"].value = [s[:3] for s in SEGMENTS]
        self._body["seg_shape"].value = [s[3:6] for s in SEGMENTS]
        self._joint_tex = None
        self._camera_tex = None
        self._closed = False

    def _keep(self, obj):
        self._objects.append(obj)
        return obj

    # -- per take

    def _set_appearance(self, appearance: Appearance, scene: Scene) -> None:
        light = np.asarray(appearance.light_dir, np.float64)
        light = tuple(float(x) for x in light / np.linalg.norm(light))
        for program in self._programs:
            program["light_dir"].value = light
            program["ambient"].value = float(appearance.ambient)
        self._body["seg_color"].value = [tuple(appearance.colors[s[6]]) for s in SEGMENTS]
        self._room["floor_y"].value = scene.floor_y
        self._room["trim_color"].value = tuple(appearance.trim_color)
        self._floor["floor_y"].value = scene.floor_y
        self._floor["pattern"].value = FLOOR_PATTERNS.index(appearance.floor_pattern)
        self._floor["floor_a"].value = tuple(appearance.floor_colors[0])
        self._floor["floor_b"].value = tuple(appearance.floor_colors[1])
        self._floor["tile_m"].value = float(appearance.floor_tile_m)
        self._floor["angle"].value = math.radians(appearance.floor_angle_deg)
        verts, idx = _room_mesh(scene, appearance)
        self._release_room()
        vbo, ibo = self.ctx.buffer(verts.tobytes()), self.ctx.buffer(idx.tobytes())
        self._room_buffers = [vbo, ibo]
        self._room_vao = self.ctx.vertex_array(
            self._room, [(vbo, "3f 3f 3f 1f", "in_pos", "in_normal", "in_color", "in_material")], ibo
        )

    def _release_room(self) -> None:
        for obj in ([self._room_vao] if self._room_vao is not None else []) + self._room_buffers:
            obj.release()
        self._room_vao, self._room_buffers = None, []

    def _upload(self, joints: np.ndarray, poses: np.ndarray) -> None:
        """Joints and cameras of up to MAX_TEXTURE_ROWS frames as float textures, one row per frame."""
        for tex in (self._joint_tex, self._camera_tex):
            if tex is not None:
                tex.release()
        n = len(joints)
        self._joint_tex = self.ctx.texture((body.NUM_JOINTS, n), 3, joints.astype(np.float32).tobytes(), dtype="f4")
        cams = np.zeros((n, 5, 4), np.float32)
        cams[:, :4] = np.transpose(np.linalg.inv(poses), (0, 2, 1))  # the view matrix, column by column
        cams[:, 4, :3] = poses[:, :3, 3]
        self._camera_tex = self.ctx.texture((5, n), 4, cams.tobytes(), dtype="f4")
        for tex in (self._joint_tex, self._camera_tex):
            tex.filter = (self.ctx.NEAREST, self.ctx.NEAREST)
        self._camera_tex.use(0)
        self._joint_tex.use(1)

    def render(
        self,
        joints: np.ndarray,
        appearance: Appearance | None = None,
        *,
        scene: Scene | None = None,
        fps: float = 30.0,
        frames: np.ndarray | None = None,
    ) -> np.ndarray:
        """Egocentric frames of ``joints`` (T, 22, 3): ``uint8 (T, H, W, 3)``.

        ``appearance`` defaults to ``Appearance()``; ``scene`` to ``build_scene(joints,
        appearance)``; ``fps`` is the joints' rate (it scales the head smoothing).
        ``frames``: indices of the frames to draw (N of them, in that order; default all);
        the head's smoothing and neutral pitch still come from the whole sequence."""
        if self._closed:
            raise RuntimeError("this EgocentricRenderer is closed")
        joints = _check_joints(joints)
        appearance = appearance or Appearance()
        scene = scene or build_scene(joints, appearance)
        poses = camera_poses(joints, self.config, fps)
        if frames is not None:
            frames = np.asarray(frames, dtype=np.int64)
            if frames.ndim != 1 or (len(frames) and (frames.min() < 0 or frames.max() >= len(joints))):
                raise ValueError(f"frames must be indices within 0..{len(joints) - 1}")
            joints, poses = joints[frames], poses[frames]
        self._set_appearance(appearance, scene)
        ctx, cfg = self.ctx, self.config
        ctx.enable_only(ctx.DEPTH_TEST)
        for i in range(5):
            ctx.enable_direct(GL_CLIP_DISTANCE0 + i)
        out = np.empty((len(joints), cfg.height, cfg.width, 3), np.uint8)
        per_batch = self._tiles[0] * self._tiles[1]
        for start in range(0, len(joints), MAX_TEXTURE_ROWS):
            stop = min(start + MAX_TEXTURE_ROWS, len(joints))
            self._upload(joints[start:stop], poses[start:stop])
            for first in range(0, stop - start, per_batch):
                n = min(per_batch, stop - start - first)
                out[start + first : start + first + n] = self._draw_batch(first, n)
        return out

    def _draw_batch(self, first: int, n: int) -> np.ndarray:
        cfg, (tx, _) = self.config, self._tiles
        self._fbo.use()
        self._fbo.clear(0.5, 0.5, 0.5, 1.0, depth=1.0)
        for program in self._programs:
            program["frame0"].value = first
        self._body_vao.render(instances=n * len(SEGMENTS))
        self._room_vao.render(instances=n)
        self._floor_vao.render(instances=n)
        rows = -(-n // tx)
        aw, ah = self._atlas
        if self._resolved is not self._fbo:
            self.ctx.copy_framebuffer(self._resolved, self._fbo)
        data = self._resolved.read(
            viewport=(0, ah - rows * cfg.height, aw, rows * cfg.height), components=3, alignment=1
        )
        atlas = np.frombuffer(data, np.uint8).reshape(rows * cfg.height, aw, 3)[::-1]  # GL rows run bottom-up
        tiles = atlas.reshape(rows, cfg.height, tx, cfg.width, 3).transpose(0, 2, 1, 3, 4)
        return tiles.reshape(rows * tx, cfg.height, cfg.width, 3)[:n]

    def close(self) -> None:
        if self._closed:
            return
        self._release_room()
        for tex in (self._joint_tex, self._camera_tex):
            if tex is not None:
                tex.release()
        for obj in reversed(self._objects):
            obj.release()
        self._objects.clear()
        self._closed = True

    def __enter__(self) -> EgocentricRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def render_views(
    joints: np.ndarray,
    appearance: Appearance | None = None,
    config: EgoCameraConfig = EgoCameraConfig(),
    fps: float = 30.0,
) -> np.ndarray:
    """One-off convenience: a renderer for one call. Reuse an ``EgocentricRenderer`` for many clips."""
    with EgocentricRenderer(config) as renderer:
        return renderer.render(joints, appearance, fps=fps)


# ----------------------------------------------------------------------------- pictures and speed


def add_view_row(strip: np.ndarray, views: np.ndarray, label: str = "head camera") -> np.ndarray:
    """A third-person strip image (H, W, 3) with a row of egocentric ``views`` (N, h, w, 3)
    below it, one under each of its N columns, enlarged (nearest neighbour) to the column width."""
    from PIL import Image, ImageDraw

    strip = np.asarray(strip)[..., :3]
    column = strip.shape[1] // len(views)
    scale = max(1, column // views.shape[2])
    size = views.shape[2] * scale
    row = Image.new("RGB", (strip.shape[1], size + 18), "white")
    for i, view in enumerate(views):
        tile = Image.fromarray(view).resize((size, views.shape[1] * scale), Image.NEAREST)
        row.paste(tile, (i * column + (column - size) // 2, 16))
    ImageDraw.Draw(row).text((4, 2), label, fill=(40, 40, 40))
    return np.concatenate([strip, np.asarray(row)], axis=0)


def contact_sheet(
    rows: Sequence[np.ndarray], labels: Sequence[str] | None = None, path: str | Path | None = None, scale: int = 2
) -> np.ndarray:
    """A grid of frames, one row per sequence (each (N, H, W, 3) uint8), a label left of each
    row; enlarged ``scale`` times (nearest neighbour: the pixels the model sees). Written as
    a PNG to ``path`` when given; returns the image (H, W, 3) uint8."""
    from PIL import Image, ImageDraw

    gap, label_w = 4, (80 if labels else 0)
    tiles = [
        [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in r] for r in rows
    ]
    th = max(t.height for r in tiles for t in r)
    tw = max(t.width for r in tiles for t in r)
    cols = max(len(r) for r in tiles)
    sheet = Image.new("RGB", (label_w + cols * (tw + gap) + gap, len(tiles) * (th + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(tiles):
        y = gap + i * (th + gap)
        if labels:
            draw.text((6, y + th // 2 - 6), str(labels[i]), fill="black")
        for k, tile in enumerate(row):
            sheet.paste(tile, (label_w + gap + k * (tw + gap), y))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        sheet.save(buffer, format="PNG", optimize=True)
        Path(path).write_bytes(buffer.getvalue())
    return np.asarray(sheet)


def benchmark(
    joints: np.ndarray,
    resolutions: Sequence[int] = (96, 128, 256),
    projections: Sequence[str] = PROJECTIONS,
    repeats: int = 3,
    threads: int | None = 1,
    seed: int = 0,
    sheet: str | Path | None = None,
    sheet_frames: int = 8,
) -> list[dict]:
    """Frames per second of ``render`` (camera poses, scene, upload, drawing and read-back) on
    ``joints``, best of ``repeats``, at square ``resolutions`` and each projection. With
    ``sheet``: a contact sheet of ``sheet_frames`` evenly spaced frames at the first
    resolution >= 128, one row per projection."""
    import time

    appearance = Appearance.random(seed)
    results, sheet_rows = [], []
    sheet_size = next((r for r in resolutions if r >= 128), resolutions[-1])
    for projection in projections:
        for size in resolutions:
            config = EgoCameraConfig(width=size, height=size, projection=projection)
            with EgocentricRenderer(config, threads=threads) as renderer:
                renderer.render(joints[:8], appearance)  # warm-up: shader compilation and JIT
                best = math.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    frames = renderer.render(joints, appearance)
                    best = min(best, time.perf_counter() - start)
            results.append(
                {"projection": projection, "resolution": size, "frames": len(joints), "fps": len(joints) / best}
            )
            if sheet is not None and size == sheet_size:
                pick = np.linspace(0, len(joints) - 1, sheet_frames).round().astype(int)
                sheet_rows.append(frames[pick])
    if sheet is not None:
        contact_sheet(sheet_rows, labels=list(projections), path=sheet)
    return results


def format_benchmark(results: list[dict]) -> str:
    """The benchmark as a plain text table."""
    threads = os.environ.get("LP_NUM_THREADS", "default")
    lines = [f"{'projection':<10} {'resolution':>10} {'frames':>7} {'frames/s':>9}   (llvmpipe threads: {threads})"]
    for r in results:
        res = f"{r['resolution']}x{r['resolution']}"
        lines.append(f"{r['projection']:<10} {res:>10} {r['frames']:>7} {r['fps']:>9.0f}")
    return "\n".join(lines)


__all__ = [
    "Appearance",
    "Box",
    "BoxSpec",
    "EgoCameraConfig",
    "EgocentricRenderError",
    "EgocentricRenderer",
    "Scene",
    "benchmark",
    "build_scene",
    "camera_poses",
    "contact_sheet",
    "format_benchmark",
    "head_frames",
    "project_points",
    "render_views",
]
