"""Any BVH rig -> SMPL-22: rig detection by joint names, units, up axis, rest pose, lead-in.

A BVH file says nothing about who made it, in which units, with which axis up, or what its
rest pose is. This module works it out, and a user map (YAML) says it where it cannot:

* **Rig**: the joint names (a namespace such as ``mixamorig:`` or ``Character1:`` is
  stripped) are matched against the built-in maps in ``RIGS``: iClone Character Creator
  (``CC_Base_*``), MotionBuilder/CMU, Mixamo (MotionBuilder names), Daz/Poser, Xsens MVN,
  Rokoko. Bandai-Namco takes keep their own reader (``readers/bandai.py``). Each map names,
  per SMPL-22 joint, the rig joint at the same place (or a point between two joints, or
  ``auto`` for spine1/spine2, placed along the rig's spine chain where SMPL has them). A file no map fits raises one
  :class:`RigError` naming the closest rig and the joints it lacks.
* **Axes**: the rig's rest pose (all rotations zero) stands upright; its up (head above
  the ankles) and left (left hip minus right hip) give the change of axes to the body
  frame (Y up, facing +Z, +X the body's left), snapped to the file's axes.
* **Units**: metres per file unit from the map, else inferred from the skeleton's height
  (ankle to head): the candidate of ``UNITS`` (m, cm, mm, inch, CMU's 1/0.45 inch) that gives
  the height closest to SMPL's.
* **Rotations**: each SMPL joint's global rotation (the segment below it, relative to
  SMPL's T-pose) is the rig joint's global rotation relative to the rig's rest pose, with
  the constant swing that turns SMPL's rest bone onto the rig's rest bone (so A-pose rigs
  and CMU's splayed legs read right). A rig whose zero pose is no human pose (iClone's bones
  carry their own axes) gives its T-pose as ``reference_pose``: that pose is the rest pose
  then. ``position_channels: add`` puts the position channels on top of the OFFSET (iClone's
  ROOT OFFSET holds the hip height).
* **Frame rate**: the header's, unless the map gives ``fps`` or the file's name says
  ``<N>fps`` and the header disagrees (PFNN's ``08_04_60fps.bvh`` says 15 fps inside).
* **Lead-in**: exporters put a T-pose (or the bind pose) in front of the motion
  (CMU ``01_01`` frame 0). Leading frames whose limbs are within ``TPOSE_TOLERANCE_DEG`` of
  the T-pose are dropped when a jump follows them (a joint moving faster than
  ``BLEND_SPEED`` m/s), together with such too-fast blend frames.

User map (YAML), every key optional but ``joints`` (SMPL-22 names; all 22 unless the map
says ``base: <rig>`` to start from a built-in one)::

    base: mixamo              # start from a built-in map (RIGS) and change some joints
    units: cm                 # m | cm | mm | inch | cmu | metres per unit (a number)
    up_axis: y                # the file's up: x, y, z, -x, -y, -z
    forward_axis: z           # the rest pose's facing (needs up_axis)
    lead_in_frames: 0         # frames to drop at the start (default: detected)
    fps: 60                   # when the header's Frame Time is wrong
    position_channels: add    # position = OFFSET + channels (default: replace)
    reference_pose:           # the rig's T-pose when all-zero rotations are not one
      LeftArm: [0, 0, -90]    # degrees, in the joint's channel order
    joints:
      pelvis: root            # a joint name
      left_collar: {between: [LeftShoulder, LeftArm], at: 0.4}
      spine3: {parent_of: LeftShoulder}
      left_foot: [LeftToe, LeftFoot_end]   # the first one the file has
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core import body, rotations
from .bvh import BvhMotion
from .rig_maps import (
    RIGS,
    UNITS,
    RigError,
    RigInfo,
    RigMap,
    axis_name,
    axis_vector,
    detect_rig,
    is_bandai,
    load_rig_map,
    spec_text,
    strip_namespace,
)

__all__ = ["RIGS", "UNITS", "RigError", "RigMap", "RigInfo", "detect_rig", "load_rig_map", "retarget"]

SMPL_INDEX = {name: j for j, name in enumerate(body.JOINT_NAMES)}
TPOSE_TOLERANCE_DEG = 20.0
BLEND_SPEED = 8.0  # m/s: no joint of a person moves this fast; an exporter's blend does
REFERENCE_JUMP = 5.0  # a first frame this many times the median speed away is no motion
LIMBS = (1, 2, 4, 5, 16, 17, 18, 19)  # segments judged for the lead-in T-pose
_SPINE_FRACTIONS = None  # spine1, spine2 along pelvis -> spine3 (SMPL's rest)


# ------------------------------------------------------------------ resolving a map on a file
class _Points:
    """Resolved SMPL joints: per joint (rig a, rig b, weight) (a point between two joints)
    and the rig joint whose rotation carries its segment."""

    def __init__(self, motion: BvhMotion, rig: RigMap, path: str, rest: np.ndarray):
        self.motion, self.path = motion, path
        self.by_name = joints_by_name(motion)
        self.rest = rest
        self.a = np.zeros(22, int)
        self.b = np.zeros(22, int)
        self.w = np.zeros(22)
        self.rotation_source = np.zeros(22, int)
        unresolved = []
        for smpl, j in SMPL_INDEX.items():
            if smpl in ("spine1", "spine2") and rig.joints.get(smpl, "auto") == "auto":
                continue
            resolved = self._resolve(rig.joints.get(smpl))
            if resolved is None:
                unresolved.append(f"{smpl} ({spec_text(rig.joints.get(smpl))})")
                continue
            self.a[j], self.b[j], self.w[j] = resolved
            self.rotation_source[j] = resolved[0]
        if unresolved:
            raise RigError(f"{path}: rig map '{rig.name}' names joints the file does not have: {', '.join(unresolved)}")
        for smpl in ("spine1", "spine2"):
            if rig.joints.get(smpl, "auto") == "auto":
                self._auto_spine(SMPL_INDEX[smpl])

    def _resolve(self, spec):
        if isinstance(spec, str):
            j = self.by_name.get(spec)
            return None if j is None else (j, j, 0.0)
        if isinstance(spec, list):
            for option in spec:
                found = self._resolve(option)
                if found is not None:
                    return found
            return None
        if isinstance(spec, dict) and "between" in spec:
            names = spec["between"]
            if not isinstance(names, list) or len(names) != 2:
                raise RigError(f"{self.path}: 'between' takes two joint names, got {names!r}")
            ends = [self.by_name.get(n) for n in names]
            if None in ends:
                return None
            return ends[0], ends[1], float(spec.get("at", 0.5))
        if isinstance(spec, dict) and "parent_of" in spec:
            child = self.by_name.get(spec["parent_of"])
            if child is None or self.motion.parents[child] < 0:
                return None
            parent = int(self.motion.parents[child])
            return parent, parent, 0.0
        return None

    def _auto_spine(self, j: int) -> None:
        """spine1/spine2 on the rig's chain from the pelvis joint to spine3's joint, where
        SMPL's rest skeleton has them (fraction of the chain's length)."""
        start, end = int(self.a[0]), int(self.a[9])
        chain = [end]
        while chain[-1] != start:
            parent = int(self.motion.parents[chain[-1]])
            if parent < 0:
                raise RigError(
                    f"{self.path}: spine3's joint {self.motion.joint_names[end]!r} is not below the "
                    f"pelvis joint {self.motion.joint_names[start]!r}: give spine1/spine2 in a rig map"
                )
            chain.append(parent)
        chain = chain[::-1]
        points = self.rest[chain]
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        total = lengths.sum()
        if len(chain) < 2 or total <= 0:
            raise RigError(
                f"{self.path}: no spine between the pelvis and spine3 joints: give spine1/spine2 in a rig map"
            )
        target = _spine_fractions()[0 if j == SMPL_INDEX["spine1"] else 1] * total
        cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
        k = int(np.clip(np.searchsorted(cumulative, target, side="right") - 1, 0, len(lengths) - 1))
        w = (target - cumulative[k]) / max(lengths[k], 1e-12)
        self.a[j], self.b[j], self.w[j] = chain[k], chain[k + 1], float(np.clip(w, 0.0, 1.0))
        self.rotation_source[j] = chain[k]

    def place(self, positions: np.ndarray) -> np.ndarray:
        """(..., J, 3) rig positions -> (..., 22, 3) SMPL joints."""
        w = self.w[:, None]
        return positions[..., self.a, :] * (1 - w) + positions[..., self.b, :] * w


def _spine_fractions() -> tuple[float, float]:
    global _SPINE_FRACTIONS
    if _SPINE_FRACTIONS is None:
        bones = np.linalg.norm(body.SMPL_REST_OFFSETS[[3, 6, 9]], axis=1)
        _SPINE_FRACTIONS = (bones[0] / bones.sum(), bones[:2].sum() / bones.sum())
    return _SPINE_FRACTIONS


def joints_by_name(motion: BvhMotion) -> dict[str, int]:
    by_name: dict[str, int] = {}
    for j, name in enumerate(motion.joint_names):
        by_name.setdefault(strip_namespace(name), j)
    return by_name


def reference_pose(motion: BvhMotion, rig: RigMap) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (J, 3), root at the origin, and global rotations (J, 3, 3) of the rig's
    rest pose: every rotation zero, or the map's ``reference_pose`` (local rotations in
    degrees, in each joint's channel order; joints it does not name stay at zero)."""
    local = np.broadcast_to(np.eye(3), (motion.num_joints, 3, 3)).copy()
    if rig.reference_pose:
        by_name = joints_by_name(motion)
        for name, angles in rig.reference_pose.items():
            j = by_name.get(name)
            if j is None:
                raise RigError(
                    f"{motion.path}: the reference pose of rig map '{rig.name}' names {name!r}, not in the file"
                )
            order = "".join(c[0] for c in motion.channels[j] if c.endswith("rotation"))
            if len(order) != 3:
                raise RigError(f"{motion.path}: reference pose joint {name!r} has no three rotation channels")
            local[j] = rotations.euler_to_matrix(np.deg2rad(np.asarray(angles, float)), order)
    rest = np.zeros((motion.num_joints, 3))
    rot = local.copy()
    for j, parent in enumerate(motion.parents):
        if parent >= 0:
            rot[j] = rot[parent] @ local[j]
            rest[j] = rest[parent] + rot[parent] @ motion.offsets[j]
    return rest, rot


def _offsets_added(motion: BvhMotion) -> BvhMotion:
    """``motion`` with every position channel added to its joint's OFFSET (read as "replace")."""
    translations = motion.local_translations.copy()
    for j, channels in enumerate(motion.channels):
        for name in channels:
            if name.endswith("position"):
                axis = "XYZ".index(name[0])
                translations[:, j, axis] += motion.offsets[j, axis]
    return replace(motion, local_translations=translations)


def _snap(m: np.ndarray) -> np.ndarray:
    """The nearest signed axis permutation when within ~25 degrees, else ``m``."""
    snapped = np.zeros((3, 3))
    for row in range(3):
        col = int(np.argmax(np.abs(m[row])))
        snapped[row, col] = np.sign(m[row, col])
    if abs(np.linalg.det(snapped) - 1) < 1e-9 and np.all(np.abs(m - snapped).max() < 0.43):
        return snapped
    return m


def body_from_file_axes(rest_smpl: np.ndarray, rig: RigMap, path: str) -> np.ndarray:
    """(3, 3) rotation taking file coordinates to the body frame (rows: the file's left, up,
    forward)."""
    if rig.up_axis is not None:
        up = axis_vector(rig.up_axis, path)
        if rig.forward_axis is not None:
            forward = axis_vector(rig.forward_axis, path)
            if abs(up @ forward) > 0.5:
                raise RigError(f"{path}: up_axis and forward_axis must differ")
            return np.stack([np.cross(up, forward), up, forward])
    else:
        up = rest_smpl[15] - 0.5 * (rest_smpl[7] + rest_smpl[8])
    left = (rest_smpl[1] - rest_smpl[2]) + (rest_smpl[16] - rest_smpl[17])
    up = rotations.normalize(up)
    left = left - (left @ up) * up
    if np.linalg.norm(left) < 1e-9 or not np.isfinite(left).all():
        raise RigError(f"{path}: the rest pose has no left/right (left and right joints coincide): check the rig map")
    left = rotations.normalize(left)
    axes = np.stack([left, up, np.cross(left, up)])
    return axes if rig.up_axis is not None else _snap(axes)


def infer_units(rest_smpl_file: np.ndarray) -> tuple[str, float]:
    """The unit that makes the rest skeleton (ankles to head) closest to SMPL's height."""

    def height(points):
        return np.linalg.norm(points[15] - 0.5 * (points[7] + points[8]))

    smpl_rest = np.zeros((22, 3))
    for j, parent in enumerate(body.PARENTS):
        if parent >= 0:
            smpl_rest[j] = smpl_rest[parent] + body.SMPL_REST_OFFSETS[j]
    reference, measured = height(smpl_rest), height(rest_smpl_file)
    if not measured > 0:
        raise RigError("the rest skeleton has no height (head at the ankles)")
    name = min(UNITS, key=lambda u: abs(np.log(measured * UNITS[u] / reference)))
    return name, UNITS[name]


def retarget(motion: BvhMotion, rig: RigMap) -> tuple[np.ndarray, np.ndarray, RigInfo]:
    """BVH motion -> SMPL-22 joints (T, 22, 3) in metres in the body frame, global rotations
    (T, 22, 3, 3) relative to SMPL's T-pose, and what was decided (lead-in not yet dropped)."""
    path = motion.path
    if rig.position_channels == "add":
        motion = _offsets_added(motion)
    rest, rest_rot = reference_pose(motion, rig)
    points = _Points(motion, rig, path, rest)
    rest_smpl = points.place(points.rest)
    notes = []
    if rig.units is None:
        units_name, metres = infer_units(rest_smpl)
        notes.append(f"units inferred from the skeleton's height: {units_name}")
    else:
        units_name, metres = ("map", rig.units)
    axes = body_from_file_axes(rest_smpl, rig, path)
    if abs(np.linalg.det(axes) - 1) > 1e-6:
        raise RigError(f"{path}: the rest pose gives a mirrored frame (left and right swapped?)")
    positions, global_rot = motion.forward_kinematics()
    joints = np.einsum("ij,tkj->tki", axes, points.place(positions)) * metres
    # Rig rotations (relative to its rest pose) in body axes, then SMPL's rest bone onto the rig's.
    source = points.rotation_source
    from_rest = global_rot[:, source] @ np.swapaxes(rest_rot[source], -1, -2)
    rig_rot = np.einsum("ij,tkjl,ml->tkim", axes, from_rest, axes)
    rest_body = rest_smpl @ axes.T
    smpl_rest_dirs = body.SMPL_REST_OFFSETS
    swing = np.broadcast_to(np.eye(3), (22, 3, 3)).copy()
    for j, end in body.SEGMENT_END.items():
        bone = rest_body[end] - rest_body[j]
        if np.linalg.norm(bone) > 1e-9:
            swing[j] = rotations.quat_to_matrix(rotations.qbetween(smpl_rest_dirs[end], bone))
    for leaf in (10, 11, 15, 20, 21):
        swing[leaf] = swing[body.PARENTS[leaf]]
    if rig.reference_pose:
        # A declared T-pose stands as SMPL's: its pelvis is the identity, whatever the
        # direction from the hip joint to the placed spine1 point (iClone's leans 35 degrees).
        swing[0] = np.eye(3)
    rot = rig_rot @ swing
    up_file, forward_file = axes[1], axes[2]
    info = RigInfo(
        rig=rig.name,
        prefix="",
        metres_per_unit=float(metres),
        units=units_name,
        up_axis=axis_name(up_file),
        forward_axis=axis_name(forward_file),
        lead_in_frames=0,
        frames=motion.num_frames,
        notes=notes,
    )
    return joints, rot, info


def detect_lead_in(joints: np.ndarray, rot: np.ndarray, fps: float) -> int:
    """Leading frames to drop: a T-pose / bind pose the exporter put in front (limbs within
    ``TPOSE_TOLERANCE_DEG`` of the T-pose, relative to the pelvis) when a jump follows, or a
    single first frame in any pose that the body jumps away from (faster than ``BLEND_SPEED``
    and ``REFERENCE_JUMP`` times the clip's median speed: PFNN's arms-spread reference frame),
    and the blend frames of that jump (a joint faster than ``BLEND_SPEED``)."""
    relative = np.einsum("tji,tkjl->tkil", rot[:, 0], rot[:, list(LIMBS)])
    cos = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    tpose = np.degrees(np.arccos(cos)).max(axis=1) < TPOSE_TOLERANCE_DEG
    lead = 0
    while lead < len(tpose) and tpose[lead]:
        lead += 1
    if lead == len(tpose) or len(joints) < 3:
        return 0
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=1) * fps  # (T-1,) m/s
    if lead == 0:
        if speed[0] < max(BLEND_SPEED, REFERENCE_JUMP * np.median(speed)):
            return 0
        lead = 1
    elif speed[lead - 1] < BLEND_SPEED:
        return 0  # the motion itself starts in a T-pose: keep it
    while lead < len(speed) and speed[lead] >= BLEND_SPEED:
        lead += 1
    return lead


# ------------------------------------------------------------------ a file -> MotionClip
def rig_map_beside(path: Path) -> Path | None:
    """A user map next to the file: ``<name>.rig.yaml``, else ``rig.yaml`` in its folder."""
    for candidate in (path.with_suffix(".rig.yaml"), path.parent / "rig.yaml"):
        if candidate.is_file():
            return candidate
    return None


def rate_from_name(stem: str) -> float | None:
    """``08_04_60fps`` -> 60.0: a rate the file's name states; None when it states none."""
    match = re.search(r"(?:^|[_\-. ])(\d+(?:\.\d+)?)\s*fps$", stem, re.IGNORECASE)
    return float(match.group(1)) if match and float(match.group(1)) > 0 else None


def descriptions_beside(path: Path) -> list[str]:
    """Descriptions a user put next to the file (``<name>.txt``, one per line; HumanML3D's
    ``text#tokens#start#end`` lines give their text). No file: none."""
    text_file = path.with_suffix(".txt")
    if not text_file.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in text_file.read_text(errors="replace").splitlines())
    return [line for line in lines if line]


def read_bvh_clip(
    path: str | os.PathLike,
    target_fps: float | None = None,
    *,
    rig_map: str | os.PathLike | RigMap | None = None,
    descriptions: list[str] | None = None,
    trim_lead_in: bool = True,
    info: list | None = None,
):
    """Any BVH -> MotionClip on SMPL-22 (metres, body frame). Bandai-Namco takes go to their
    own reader (labels from the take name when it has one). ``rig_map``: a YAML path or a
    RigMap (default: ``<name>.rig.yaml`` / ``rig.yaml`` beside the file, else detected).
    ``info``: a list that receives the :class:`RigInfo`."""
    from ..core.clip import MotionClip, nominal_rate, resample
    from . import bandai
    from .bvh import read_bvh

    path = Path(path)
    motion = read_bvh(path)
    if rig_map is None:
        rig_map = rig_map_beside(path)
    if rig_map is None and is_bandai(motion.joint_names):
        try:
            bandai.labels_from_name(path.name)
        except ValueError:  # a Bandai rig under another name: same mapping, no labels
            joints, raw = bandai.smpl_joints_and_rotations(motion)
            clip = MotionClip(
                name=path.stem,
                fps=nominal_rate(motion.frame_time),
                joints=joints,
                global_rotations=raw @ bandai.tpose_calibration(motion),
                descriptions=list(descriptions or descriptions_beside(path)),
                take=path.stem,
                source=str(path),
            )
        else:
            clip = bandai.read_bandai(path)
            if descriptions is not None:
                clip.descriptions = list(descriptions)
        if info is not None:
            info.append(RigInfo("bandai", "", 0.01, "cm", "+y", "+z", 0, clip.num_frames))
        return clip if target_fps is None else resample(clip, target_fps)
    if rig_map is None:
        rig = detect_rig(motion.joint_names, str(path))
    elif isinstance(rig_map, RigMap):
        rig = rig_map
    else:
        rig = load_rig_map(rig_map)
    joints, rot, rig_info = retarget(motion, rig)
    fps = nominal_rate(motion.frame_time)
    named = rate_from_name(path.stem)
    if rig.fps is not None:
        fps = rig.fps
        rig_info.notes.append(f"frame rate {fps:g} Hz from the rig map (header {1 / motion.frame_time:g})")
    elif named is not None and abs(named - fps) > 0.01 * named:
        rig_info.notes.append(f"frame rate {named:g} Hz from the file's name (header says {fps:g})")
        fps = named
    if rig.lead_in_frames is not None:
        lead = rig.lead_in_frames
    else:
        lead = detect_lead_in(joints, rot, fps) if trim_lead_in else 0
    if lead >= len(joints):
        raise RigError(f"{path}: all {len(joints)} frames are lead-in (T-pose); nothing to read")
    if not np.isfinite(joints).all():
        raise RigError(f"{path}: the motion has NaN or infinite values after mapping")
    rig_info.lead_in_frames, rig_info.frames = lead, len(joints) - lead
    if info is not None:
        info.append(rig_info)
    clip = MotionClip(
        name=path.stem,
        fps=fps,
        joints=joints[lead:],
        global_rotations=rot[lead:],
        descriptions=list(descriptions if descriptions is not None else descriptions_beside(path)),
        take=path.stem,
        source=str(path),
    )
    return clip if target_fps is None else resample(clip, target_fps)
