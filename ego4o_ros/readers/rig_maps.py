"""The rig maps: which joint of a BVH rig stands where each SMPL-22 joint is (ROS-free).

Built-in maps (``RIGS``: iClone Character Creator, MotionBuilder/CMU, Mixamo, Daz/Poser, Xsens
MVN, Rokoko) are matched by joint names (``detect_rig``; a namespace such as ``mixamorig:`` is stripped); a user map
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


def _cc(name: str) -> str:
    return name.replace("_L_", "_R_")


# The iClone "Motion Dummy" body's T-pose (frame 0 that IClone-CMU-Mocap's fixfiles.py put in
# front of CMU 07_03 ... 07_12; identical in the 9 files): local rotations, degrees, in the
# joints' channel order (Z Y X). Its bones carry their own axes (every OFFSET points along the
# parent's +Y), so the pose with all rotations zero is no human pose: rotations are measured
# from this one. The joints not listed (twist, share, finger and face bones) stay at zero.
ICLONE_TPOSE = {
    "CC_Base_Pelvis": (0.00, 0.00, 11.77),
    "CC_Base_L_Thigh": (179.92, 0.06, 16.60),
    "CC_Base_L_Calf": (-0.06, -0.10, -9.46),
    "CC_Base_L_Foot": (-0.64, -6.13, 81.77),
    "CC_Base_L_ToeBase": (-1.80, 3.17, 18.57),
    "CC_Base_R_Thigh": (-179.47, 0.02, 16.05),
    "CC_Base_R_Calf": (0.03, 0.08, -8.37),
    "CC_Base_R_Foot": (0.61, 6.14, 81.25),
    "CC_Base_R_ToeBase": (1.78, -3.17, 18.57),
    "CC_Base_Waist": (0.19, 0.00, 16.24),
    "CC_Base_Spine01": (0.00, 0.00, -21.25),
    "CC_Base_Spine02": (0.00, 0.00, -5.31),
    "CC_Base_NeckTwist01": (0.00, 0.00, 21.56),
    "CC_Base_NeckTwist02": (0.00, 0.00, -1.59),
    "CC_Base_Head": (0.00, 0.00, -9.65),
    "CC_Base_L_Clavicle": (-88.42, 10.87, -14.68),
    "CC_Base_L_Upperarm": (-4.02, 0.56, 15.48),
    "CC_Base_L_Forearm": (1.25, 0.01, 0.15),
    "CC_Base_L_Hand": (-4.49, -0.28, -3.05),
    "CC_Base_R_Clavicle": (88.42, -10.87, -14.67),
    "CC_Base_R_Upperarm": (3.96, -0.78, 15.61),
    "CC_Base_R_Forearm": (-1.26, -0.01, 0.14),
    "CC_Base_R_Hand": (4.51, 0.29, -3.21),
}


# Built-in maps, most specific first (detection takes the first that fits the file; iClone's
# CC_Base_ names are its own, so it comes last and never hides the closest map). Besides
# "joints", a map may say what its files do not: "units", "up_axis", "forward_axis",
# "position_channels" ("add": position = OFFSET + channels) and "reference_pose" (see RigMap).
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
    "iclone": {  # Reallusion iClone / Character Creator export (CC_Base_*; IClone-CMU-Mocap)
        "label": "iClone Character Creator (CC_Base_*)",
        "detect": ["CC_Base_Hip", "CC_Base_Spine02", "CC_Base_L_Upperarm"],
        "units": "cm",
        "up_axis": "y",
        "forward_axis": "z",
        "position_channels": "add",  # ROOT OFFSET (0, 105.2, 0) + channels near 0
        "reference_pose": ICLONE_TPOSE,
        "joints": _sided(
            {
                "pelvis": "CC_Base_Hip",
                "spine1": "auto",
                "spine2": "auto",
                "spine3": {"parent_of": "CC_Base_L_Clavicle"},
                "neck": "CC_Base_NeckTwist01",
                "head": "CC_Base_Head",
                "left_hip": "CC_Base_L_Thigh",
                "left_knee": "CC_Base_L_Calf",
                "left_ankle": "CC_Base_L_Foot",
                "left_foot": "CC_Base_L_ToeBase",
                "left_collar": "CC_Base_L_Clavicle",
                "left_shoulder": "CC_Base_L_Upperarm",
                "left_elbow": "CC_Base_L_Forearm",
                "left_wrist": "CC_Base_L_Hand",
            },
            _cc,
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
    position_channels: str = "replace"  # "add": a joint's position channels are added to its OFFSET
    # The rig's T-pose facing forward, when its zero pose is not one: rig joint -> local rotation
    # (degrees, in the joint's channel order); rotations are measured from it. None: the zero pose.
    reference_pose: dict[str, tuple[float, ...]] | None = None
    fps: float | None = None  # frame rate when the header's is wrong; None: the header's


RIG_KEYS = ("units", "up_axis", "forward_axis", "position_channels", "reference_pose", "fps")


def builtin_map(key: str) -> RigMap:
    """The built-in map ``key`` of ``RIGS`` as a RigMap."""
    rig = RIGS[key]
    units = rig.get("units")
    return RigMap(
        key,
        dict(rig["joints"]),
        units=None if units is None else UNITS[units],
        up_axis=rig.get("up_axis"),
        forward_axis=rig.get("forward_axis"),
        position_channels=rig.get("position_channels", "replace"),
        reference_pose=rig.get("reference_pose"),
    )


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
            return builtin_map(key)
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
    known = {"base", "lead_in_frames", "joints", "name", *RIG_KEYS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RigError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    base = data.get("base")
    if base is not None and base not in RIGS:
        raise RigError(f"{path}: base {base!r} is not a built-in rig ({', '.join(RIGS)})")
    inherited = builtin_map(base) if base else RigMap("", {})
    joints = dict(inherited.joints)
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
    units = inherited.units if units is None else _units(units, path)
    for key in ("up_axis", "forward_axis"):
        if data.get(key) is not None:
            axis_vector(str(data[key]), path)
    up_axis = data.get("up_axis", inherited.up_axis)
    forward_axis = data.get("forward_axis", inherited.forward_axis if "up_axis" not in data else None)
    if forward_axis is not None and up_axis is None:
        raise RigError(f"{path}: forward_axis needs up_axis")
    lead = data.get("lead_in_frames")
    if lead is not None and (not isinstance(lead, int) or lead < 0):
        raise RigError(f"{path}: lead_in_frames must be a whole number >= 0, got {lead!r}")
    position_channels = data.get("position_channels", inherited.position_channels)
    if position_channels not in ("replace", "add"):
        raise RigError(f"{path}: position_channels is 'replace' or 'add', got {position_channels!r}")
    fps = data.get("fps")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0):
        raise RigError(f"{path}: fps must be a number > 0, got {fps!r}")
    return RigMap(
        str(data.get("name", base or path.stem)),
        joints,
        units,
        up_axis,
        forward_axis,
        lead,
        str(path),
        position_channels,
        _reference_pose(data.get("reference_pose", inherited.reference_pose), path),
        None if fps is None else float(fps),
    )


def _reference_pose(value, path) -> dict[str, tuple[float, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)
        for v in value.values()
    ):
        raise RigError(f"{path}: reference_pose maps rig joints to three angles (degrees, channel order)")
    return {str(k): tuple(float(x) for x in v) for k, v in value.items()}


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
