"""The rig maps: which joint of a BVH rig stands where each SMPL-22 joint is (ROS-free).

Built-in maps (``RIGS``: MotionBuilder/CMU, Mixamo, Daz/Poser, Xsens MVN, Rokoko) are matched
by joint names (``detect_rig``; a namespace such as ``mixamorig:`` is stripped); a user map
(YAML, ``load_rig_map``: see ``readers/rigs.py`` for its keys) says what a file cannot.
``readers/rigs.py`` resolves a map on a file and retargets its motion.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import body

SMPL_INDEX = {name: j for j, name in enumerate(body.JOINT_NAMES)}
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}


def _sided(left: dict[str, object], mirror) -> dict[str, object]:
    """A map's left-side entries and their mirrored right-side twins."""
    out = dict(left)
    for name, spec in left.items():
        if name.startswith("left_"):
            out["right_" + name[5:]] = _mirror_spec(spec, mirror)
    return out


def _mirror_spec(spec, mirror):
    if isinstance(spec, str):
        return mirror(spec)
    if isinstance(spec, list):
        return [mirror(s) for s in spec]
    if isinstance(spec, dict):
        return {
            k: ([mirror(s) for s in v] if k == "between" else (mirror(v) if k == "parent_of" else v))
            for k, v in spec.items()
        }
    return spec


def _lr(name: str) -> str:
    return name.replace("Left", "Right").replace("LHip", "RHip")


def _daz(name: str) -> str:
    return "r" + name[1:] if name.startswith("l") else name


# Built-in maps, most specific first (detection takes the first that fits the file).
RIGS: dict[str, dict] = {
    "cmu": {  # CMU mocap database, MotionBuilder-friendly BVH (LHipJoint, LowerBack, Neck1)
        "label": "CMU (MotionBuilder names)",
        "detect": ["LHipJoint", "LowerBack", "Neck1"],
        "joints": _sided(
            {
                "pelvis": "Hips",
                "spine1": "auto",
                "spine2": "auto",
                "spine3": "Spine1",
                "neck": "Neck1",
                "head": "Head",
                "left_hip": "LeftUpLeg",
                "left_knee": "LeftLeg",
                "left_ankle": "LeftFoot",
                "left_foot": "LeftToeBase",
                "left_collar": {"between": ["LeftShoulder", "LeftArm"], "at": 0.4},
                "left_shoulder": "LeftArm",
                "left_elbow": "LeftForeArm",
                "left_wrist": "LeftHand",
            },
            _lr,
        ),
    },
    "mixamo": {  # Mixamo and MotionBuilder HumanIK names (a mixamorig: prefix is stripped)
        "label": "Mixamo / MotionBuilder",
        "detect": ["Hips", "LeftUpLeg", "LeftArm"],
        "joints": _sided(
            {
                "pelvis": "Hips",
                "spine1": "auto",
                "spine2": "auto",
                "spine3": {"parent_of": "LeftShoulder"},
                "neck": "Neck",
                "head": "Head",
                "left_hip": "LeftUpLeg",
                "left_knee": "LeftLeg",
                "left_ankle": "LeftFoot",
                "left_foot": ["LeftToeBase", "LeftToe", "LeftFoot_end"],
                "left_collar": "LeftShoulder",
                "left_shoulder": "LeftArm",
                "left_elbow": "LeftForeArm",
                "left_wrist": "LeftHand",
            },
            _lr,
        ),
    },
    "xsens": {  # Xsens MVN BVH export
        "label": "Xsens MVN",
        "detect": ["Pelvis", "T8", "LeftUpperLeg"],
        "joints": _sided(
            {
                "pelvis": "Pelvis",
                "spine1": "auto",
                "spine2": "auto",
                "spine3": "T8",
                "neck": "Neck",
                "head": "Head",
                "left_hip": "LeftUpperLeg",
                "left_knee": "LeftLowerLeg",
                "left_ankle": "LeftFoot",
                "left_foot": ["LeftToe", "LeftFoot_end"],
                "left_collar": "LeftShoulder",
                "left_shoulder": "LeftUpperArm",
                "left_elbow": "LeftForeArm",
                "left_wrist": "LeftHand",
            },
            _lr,
        ),
    },
    "rokoko": {  # Rokoko Studio
        "label": "Rokoko",
        "detect": ["Hips", "LeftThigh", "LeftShin"],
        "joints": _sided(
            {
                "pelvis": "Hips",
                "spine1": "auto",
                "spine2": "auto",
                "spine3": {"parent_of": "LeftShoulder"},
                "neck": "Neck",
                "head": "Head",
                "left_hip": "LeftThigh",
                "left_knee": "LeftShin",
                "left_ankle": "LeftFoot",
                "left_foot": ["LeftToe", "LeftFoot_end"],
                "left_collar": "LeftShoulder",
                "left_shoulder": "LeftArm",
                "left_elbow": "LeftForeArm",
                "left_wrist": "LeftHand",
            },
            _lr,
        ),
    },
    "daz": {  # Daz Studio / Poser (hip, abdomen, chest, lThigh, ...; Genesis: lThighBend, ...)
        "label": "Daz / Poser",
        "detect": ["hip", "head"],
        "joints": _sided(
            {
                "pelvis": "hip",
                "spine1": "auto",
                "spine2": "auto",
                "spine3": ["chestUpper", "chest"],
                "neck": ["neckLower", "neck"],
                "head": "head",
                "left_hip": ["lThighBend", "lThigh"],
                "left_knee": "lShin",
                "left_ankle": "lFoot",
                "left_foot": ["lToe", "lFoot_end"],
                "left_collar": "lCollar",
                "left_shoulder": ["lShldrBend", "lShldr"],
                "left_elbow": ["lForearmBend", "lForeArm"],
                "left_wrist": "lHand",
            },
            _daz,
        ),
    },
}
BANDAI_JOINTS = ("Hips", "UpperLeg_L", "LowerLeg_L", "Chest", "Shoulder_L", "UpperArm_L", "LowerArm_L")


class RigError(ValueError):
    """A BVH file whose skeleton cannot be mapped onto SMPL-22 (one line, names what is missing)."""


@dataclass
class RigMap:
    """SMPL-22 joint name -> rig joint spec, plus what the file does not say."""

    name: str
    joints: dict[str, object]
    units: float | None = None  # metres per file unit; None: inferred
    up_axis: str | None = None  # None: from the rest pose
    forward_axis: str | None = None
    lead_in_frames: int | None = None  # None: detected
    source: str = "built-in"


@dataclass
class RigInfo:
    """What was decided for one file (printed by the tools, checked by the tests)."""

    rig: str
    prefix: str
    metres_per_unit: float
    units: str  # a UNITS name, or "map" / "given"
    up_axis: str  # the file axis that became up, e.g. "+y"
    forward_axis: str  # the file axis the rest pose faces
    lead_in_frames: int
    frames: int  # kept
    notes: list[str] = field(default_factory=list)


def strip_namespace(name: str) -> str:
    """``mixamorig:Hips``, ``Character1:Hips``, ``mixamorig_Hips`` -> ``Hips``."""
    name = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]
    return re.sub(r"^mixamorig\d*_", "", name)


def is_bandai(joint_names) -> bool:
    return set(BANDAI_JOINTS) <= set(joint_names)


def detect_rig(joint_names, path: str = "") -> RigMap:
    """The first built-in map whose detection names and joints the file has; RigError
    naming the closest map and its missing joints otherwise."""
    names = {strip_namespace(n) for n in joint_names}
    best = None
    for key, rig in RIGS.items():
        missing = [
            f"{smpl} ({spec_text(spec)})" for smpl, spec in rig["joints"].items() if not _spec_present(spec, names)
        ]
        detected = set(rig["detect"]) <= names
        if detected and not missing:
            return RigMap(key, dict(rig["joints"]))
        candidate = (not detected, len(missing), list(RIGS).index(key), key, missing)
        best = candidate if best is None or candidate < best else best
    *_, key, missing = best
    shown = sorted(n for n in names if not n.endswith("_end"))
    raise RigError(
        f"{path or 'BVH file'}: no known rig fits its joints (closest: {RIGS[key]['label']}, "
        f"which cannot map {', '.join(missing)}); joints in the file: {', '.join(shown)}. "
        "Give a rig map (YAML, see ego4o_ros/readers/rigs.py and config/rig_map.example.yaml)"
    )


def _spec_present(spec, names) -> bool:
    if spec == "auto":
        return True
    if isinstance(spec, str):
        return spec in names
    if isinstance(spec, list):
        return any(s in names for s in spec)
    if isinstance(spec, dict):
        if "between" in spec:
            return all(s in names for s in spec["between"])
        if "parent_of" in spec:
            return spec["parent_of"] in names
    return False


def spec_text(spec) -> str:
    if isinstance(spec, list):
        return " or ".join(spec)
    if isinstance(spec, dict):
        return f"between {' and '.join(spec['between'])}" if "between" in spec else f"parent of {spec.get('parent_of')}"
    return str(spec)


def load_rig_map(path: str | os.PathLike) -> RigMap:
    """A user map (YAML, format in the module doc); ValueError with one line on mistakes."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RigError(f"{path}: cannot read the rig map: {reason}") from None
    if not isinstance(data, dict):
        raise RigError(f"{path}: a rig map is a mapping with a 'joints' section")
    known = {"base", "units", "up_axis", "forward_axis", "lead_in_frames", "joints", "name"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RigError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    base = data.get("base")
    if base is not None and base not in RIGS:
        raise RigError(f"{path}: base {base!r} is not a built-in rig ({', '.join(RIGS)})")
    joints = dict(RIGS[base]["joints"]) if base else {}
    given = data.get("joints") or {}
    if not isinstance(given, dict):
        raise RigError(f"{path}: 'joints' maps SMPL-22 joint names to rig joints")
    wrong = sorted(set(given) - set(SMPL_INDEX))
    if wrong:
        raise RigError(f"{path}: {wrong} are not SMPL-22 joints; they are: {', '.join(body.JOINT_NAMES)}")
    joints.update(given)
    for spine in ("spine1", "spine2"):
        joints.setdefault(spine, "auto")
    missing = [n for n in body.JOINT_NAMES if n not in joints]
    if missing:
        raise RigError(f"{path}: the map does not say where these SMPL-22 joints are: {', '.join(missing)}")
    units = data.get("units")
    if units is not None:
        units = _units(units, path)
    for key in ("up_axis", "forward_axis"):
        if data.get(key) is not None:
            axis_vector(str(data[key]), path)
    if data.get("forward_axis") is not None and data.get("up_axis") is None:
        raise RigError(f"{path}: forward_axis needs up_axis")
    lead = data.get("lead_in_frames")
    if lead is not None and (not isinstance(lead, int) or lead < 0):
        raise RigError(f"{path}: lead_in_frames must be a whole number >= 0, got {lead!r}")
    return RigMap(
        str(data.get("name", base or path.stem)),
        joints,
        units,
        data.get("up_axis"),
        data.get("forward_axis"),
        lead,
        str(path),
    )


def _units(value, path) -> float:
    if isinstance(value, str) and value.lower() in UNITS:
        return UNITS[value.lower()]
    try:
        metres = float(value)
    except (TypeError, ValueError):
        metres = float("nan")
    if not np.isfinite(metres) or metres <= 0:
        raise RigError(f"{path}: units must be one of {', '.join(UNITS)} or metres per unit (> 0), got {value!r}")
    return metres


def axis_vector(text: str, path="") -> np.ndarray:
    match = re.fullmatch(r"([+-]?)([xyz])", text.strip().lower())
    if match is None:
        raise RigError(f"{path}: an axis is one of x, y, z, -x, -y, -z; got {text!r}")
    vector = np.zeros(3)
    vector["xyz".index(match.group(2))] = -1.0 if match.group(1) == "-" else 1.0
    return vector


def axis_name(vector: np.ndarray) -> str:
    i = int(np.argmax(np.abs(vector)))
    snapped = abs(vector[i]) > 0.999
    return f"{'+' if vector[i] > 0 else '-'}{'xyz'[i]}" + ("" if snapped else " (tilted)")
