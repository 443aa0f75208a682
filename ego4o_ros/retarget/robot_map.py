"""The YAML map that describes a robot to the retargeting (``config/robots/<name>.yaml``).

A map says which robot frame follows which SMPL-22 joint and how the human's proportions
become the robot's. Each *keypoint* gets a target built from the human pose, root first,
then each from its ``parent`` keypoint's target (robot proportions, REP-103 axes):

* the root keypoint (no parent): the human joint's position times ``root_scale``
  (default ``root_height / human_pelvis_height``, so a person standing up straight puts
  the robot's root at ``root_height``; the floor is z = 0 for both);
* ``segment: limb`` (default): parent target + the human's bone from the parent's joint
  to this joint, scaled to the robot's length (``scale``, default: the robot's distance
  between the two keypoints in its rest pose / the human's limb length, the template's
  bone lengths summed along the chain);
* ``segment: rigid``: parent target + the robot's rest offset between the two keypoints,
  turned by the global rotation of the human joint ``carrier`` (default the parent's
  joint). For parts that are rigid on the robot but not on the person (hips off the
  pelvis, shoulders off the torso), so the robot is asked for what it can do.

An orientation target (``orientation_weight`` > 0) is the human joint's global rotation
applied to the frame's orientation in the robot's ``rest_pose``: the joint values that
pose the robot like the human's rest pose, the pose in which every global rotation of
``core.joint_angles`` is the identity (upright, facing +x in REP-103, arms hanging
straight down: HumanML3D's template directions). Rigid offsets are measured in it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core import body

SEGMENTS = ("limb", "rigid")
# Pelvis above the floor of the template skeleton standing up straight: pelvis -> ankle
# in the rest pose (0.860 m, core.joint_angles.REST_OFFSETS) + the ankle's height over the
# floor when standing (~0.10 m, the bundled Bandai walk).
HUMAN_PELVIS_HEIGHT = 0.96


@dataclass(frozen=True)
class Keypoint:
    name: str
    frame: str  # robot frame (URDF link) whose origin (+ offset) follows the joint
    joint: str  # SMPL-22 joint name (core.body.JOINT_NAMES)
    parent: str | None = None  # keypoint this one hangs from; None: the root
    segment: str = "limb"  # "limb" or "rigid", see the module doc
    carrier: str | None = None  # SMPL joint turning a rigid segment (default: the parent's joint)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # m, in `frame`: the tracked point
    #                               (a non-zero offset becomes a Pinocchio frame "retarget_<name>")
    position_weight: float = 1.0
    orientation_weight: float = 0.0
    scale: float | None = None  # limb: robot/human length (None: measured, see above)

    @property
    def joint_index(self) -> int:
        return body.JOINT_NAMES.index(self.joint)


@dataclass(frozen=True)
class IkSettings:
    max_iterations: int = 20
    tolerance: float = 5e-3  # converged when the largest step is below this (rad or m)
    damping: float = 0.02  # Levenberg-Marquardt damping (in units of the weighted errors)
    posture_weight: float = 0.02  # pull of every joint towards neutral_pose (per rad)
    smoothness_weight: float = 0.05  # pull towards the previous frame's solution (per rad): no branch flips


@dataclass(frozen=True)
class RobotMap:
    name: str
    urdf: Path
    floating_base: bool  # the URDF's root link moves freely (a free-flyer joint is added)
    root_height: float  # m, root keypoint above the floor, robot standing in its rest pose
    keypoints: tuple[Keypoint, ...]
    human_pelvis_height: float = HUMAN_PELVIS_HEIGHT
    root_scale: float | None = None  # None: root_height / human_pelvis_height
    rest_pose: dict[str, float] = field(default_factory=dict)  # joint -> rad (or m); absent = 0
    neutral_pose: dict[str, float] = field(default_factory=dict)  # posture of unobserved joints
    posture_weights: dict[str, float] = field(default_factory=dict)  # per-joint overrides
    ik: IkSettings = IkSettings()
    source: Path | None = None  # the YAML file it came from

    @property
    def root(self) -> Keypoint:
        return self.keypoints[0]

    @property
    def scale_of_root(self) -> float:
        return self.root_scale if self.root_scale is not None else self.root_height / self.human_pelvis_height

    def keypoint(self, name: str) -> Keypoint:
        for k in self.keypoints:
            if k.name == name:
                return k
        raise KeyError(f"{self.name}: no keypoint {name!r}")


def robots_folder() -> Path:
    from ..paths import share_file

    return share_file("config", "robots")


def available_robots() -> list[str]:
    return sorted(p.stem for p in robots_folder().glob("*.yaml"))


def resolve_map_path(robot: str | Path) -> Path:
    """A map by name (``g1`` -> ``config/robots/g1.yaml``) or by path."""
    path = Path(robot)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    candidate = robots_folder() / f"{robot}.yaml"
    if not candidate.is_file():
        raise FileNotFoundError(f"no robot map {robot!r}; bundled: {', '.join(available_robots())}")
    return candidate


def resolve_urdf(urdf: str, map_file: Path | None) -> Path:
    """An absolute path, or a relative one looked up beside the map, then in the Python
    package (bundled robots: ``data/robots/...``), then in the package's share tree."""
    path = Path(urdf).expanduser()
    candidates = [path]
    if not path.is_absolute():
        candidates = ([map_file.parent / path] if map_file is not None else []) + [
            Path(__file__).resolve().parents[1] / path
        ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if not path.is_absolute():
        from ..paths import share_file

        try:
            return share_file(*path.parts)
        except (FileNotFoundError, OSError):  # OSError: no ament index here
            pass
    raise FileNotFoundError(
        f"URDF {urdf!r} not found (looked in {', '.join(str(c) for c in candidates)} and the package's share tree)"
    )


def _keypoint(name: str, entry: dict, where: str) -> Keypoint:
    entry = dict(entry)
    unknown = set(entry) - {f for f in Keypoint.__dataclass_fields__ if f != "name"}
    if unknown:
        raise ValueError(f"{where}: keypoint {name}: unknown keys {sorted(unknown)}")
    if "offset" in entry:
        entry["offset"] = tuple(float(v) for v in entry["offset"])
        if len(entry["offset"]) != 3:
            raise ValueError(f"{where}: keypoint {name}: offset needs 3 numbers")
    keypoint = Keypoint(name=name, **entry)
    for joint in (keypoint.joint, keypoint.carrier):
        if joint is not None and joint not in body.JOINT_NAMES:
            raise ValueError(f"{where}: keypoint {name}: {joint!r} is not an SMPL-22 joint")
    if keypoint.segment not in SEGMENTS:
        raise ValueError(f"{where}: keypoint {name}: segment must be one of {SEGMENTS}")
    return keypoint


def load_robot_map(robot: str | Path = "g1", urdf: str | Path | None = None) -> RobotMap:
    """Read a map (a bundled name such as ``g1``, or a YAML path); ``urdf`` overrides its URDF."""
    path = resolve_map_path(robot)
    where = str(path)
    data = yaml.safe_load(path.read_text()) or {}
    allowed = {
        "name",
        "urdf",
        "floating_base",
        "root_height",
        "human_pelvis_height",
        "root_scale",
        "rest_pose",
        "neutral_pose",
        "posture_weights",
        "ik",
        "keypoints",
    }
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    keypoints = tuple(_keypoint(name, entry or {}, where) for name, entry in (data.get("keypoints") or {}).items())
    if not keypoints:
        raise ValueError(f"{where}: no keypoints")
    seen = set()
    for i, k in enumerate(keypoints):
        if (k.parent is None) != (i == 0):
            raise ValueError(f"{where}: the first keypoint is the root (no parent), every other has one ({k.name})")
        if k.parent is not None and k.parent not in seen:
            raise ValueError(f"{where}: keypoint {k.name}: parent {k.parent!r} must be listed before it")
        if k.segment == "rigid" and k.parent is None:
            raise ValueError(f"{where}: the root keypoint cannot be rigid")
        seen.add(k.name)
    try:
        ik = IkSettings(**(data.get("ik") or {}))
    except TypeError as error:
        raise ValueError(f"{where}: ik: {error}") from None
    return RobotMap(
        name=data.get("name", path.stem),
        urdf=resolve_urdf(str(urdf if urdf else data["urdf"]), path),
        floating_base=bool(data.get("floating_base", True)),
        root_height=float(data["root_height"]),
        keypoints=keypoints,
        human_pelvis_height=float(data.get("human_pelvis_height", HUMAN_PELVIS_HEIGHT)),
        root_scale=None if data.get("root_scale") is None else float(data["root_scale"]),
        rest_pose={k: float(v) for k, v in (data.get("rest_pose") or {}).items()},
        neutral_pose={k: float(v) for k, v in (data.get("neutral_pose") or {}).items()},
        posture_weights={k: float(v) for k, v in (data.get("posture_weights") or {}).items()},
        ik=ik,
        source=path,
    )
