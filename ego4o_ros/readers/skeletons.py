"""Skeletons given as local joint rotations but not as BVH (DeepMimic ``humanoid3d`` JSON,
poselib ``SkeletonMotion``) -> SMPL-22, through the same retargeting as BVH rigs.

A reader builds a :class:`~ego4o_ros.readers.bvh.BvhMotion` from its format (joint names,
parents, rest offsets, per-frame local rotations, root positions) and a
:class:`~ego4o_ros.readers.rig_maps.RigMap` (units, up and forward axes given, no lead-in),
and ``rigs.retarget`` does the rest: positions, body frame, rotations relative to SMPL's
T-pose (see ``readers/rigs.py``).

What such rigs lack is filled in one documented way:

* **spine1, spine2** (a single-joint torso): ``auto``, on the root -> chest bone where SMPL's
  rest skeleton has them (``rigs.py``);
* **collars**: a leaf joint fixed to the chest at SMPL's rest collar -> shoulder offset
  short of the rig's shoulder (13 cm medial, 4.5 cm below, 2 cm in front), so the collar bone
  runs out to the shoulder as SMPL's and Bandai's do (a point on the chest -> shoulder line
  would tilt it 50 degrees up and lift the template's shoulders); it turns with the chest;
* **toes** (SMPL's ``left_foot``/``right_foot``): a leaf joint fixed to the ankle at SMPL's
  rest ankle -> foot offset (forward, down and outward; SMPL's legs are within 2 % of these
  rigs' length), so the toe follows the foot's rotation;
* **head** where the rig's last joint is the neck: a leaf joint at the centre of the
  character's head body, ``HEAD_CENTRE`` above the neck joint along the neck's up (the
  sphere of the ``neck`` body in DeepMimic's ``humanoid3d.txt``; ASE's humanoid is the
  same body turned Z up).
"""

from __future__ import annotations

import numpy as np

from ..core import body
from ..core.clip import MotionClip, nominal_rate, resample
from .bvh import BvhMotion
from .rig_maps import RigError, RigMap, axis_vector
from .rigs import retarget

HEAD_CENTRE = 0.175  # m above the neck joint: DeepMimic humanoid3d's head sphere (neck body AttachY)
SMPL_TOE_OFFSET = {"left": body.SMPL_REST_OFFSETS[10], "right": body.SMPL_REST_OFFSETS[11]}  # body frame


SMPL_COLLAR_TO_SHOULDER = {"left": body.SMPL_REST_OFFSETS[16], "right": body.SMPL_REST_OFFSETS[17]}  # body frame


def sided(left: dict[str, object]) -> dict[str, object]:
    """A map's entries with ``left`` in them, and their ``right`` twins."""

    def mirror(spec):
        if isinstance(spec, str):
            return spec.replace("left", "right")
        if isinstance(spec, dict):
            return {k: [mirror(s) for s in v] if k == "between" else v for k, v in spec.items()}
        return spec

    out = dict(left)
    for name, spec in left.items():
        if name.startswith("left_"):
            out["right_" + name[5:]] = mirror(spec)
    return out


def rig_axes(up_axis: str, forward_axis: str) -> np.ndarray:
    """(3, 3) rows: the rig's left, up and forward as vectors of its own coordinates."""
    up, forward = axis_vector(up_axis), axis_vector(forward_axis)
    return np.stack([np.cross(up, forward), up, forward])


def toe_offset(side: str, up_axis: str, forward_axis: str) -> np.ndarray:
    """SMPL's rest ankle -> foot (toe) offset of ``side`` in a rig's coordinates (metres)."""
    return rig_axes(up_axis, forward_axis).T @ SMPL_TOE_OFFSET[side]


def collar_offset(shoulder: np.ndarray, side: str, up_axis: str, forward_axis: str) -> np.ndarray:
    """Where the ``side`` collar sits relative to the chest joint, in a rig's coordinates:
    the rig's shoulder offset from the chest (``shoulder``) less SMPL's rest collar -> shoulder."""
    return np.asarray(shoulder, np.float64) - rig_axes(up_axis, forward_axis).T @ SMPL_COLLAR_TO_SHOULDER[side]


def local_motion(
    path: str,
    names: list[str],
    parents: list[int],
    offsets: np.ndarray,
    local_rotations: np.ndarray,
    root_positions: np.ndarray,
    fps: float,
    leaves: tuple[tuple[str, str, np.ndarray], ...] = (),
) -> BvhMotion:
    """A skeleton's motion as a BvhMotion. ``offsets`` (J, 3): rest offset of each joint from
    its parent (the root's is ignored); ``local_rotations`` (T, J, 3, 3), the root's in the
    world; ``root_positions`` (T, 3); ``leaves``: (name, parent name, offset) joints added
    without rotations of their own (the filled-in toes and head)."""
    num_frames = len(local_rotations)
    names, parents = list(names), list(parents)
    offsets = np.asarray(offsets, np.float64).reshape(-1, 3)
    local_rotations = np.asarray(local_rotations, np.float64)
    if local_rotations.shape != (num_frames, len(names), 3, 3) or np.shape(root_positions) != (num_frames, 3):
        raise ValueError(f"{path}: rotations {local_rotations.shape} / root {np.shape(root_positions)} do not fit")
    extra_offsets, extra_rot = [], []
    for leaf, parent, offset in leaves:
        names.append(leaf)
        parents.append(names.index(parent))
        extra_offsets.append(np.asarray(offset, np.float64))
    if leaves:
        offsets = np.concatenate([offsets, np.stack(extra_offsets)])
        extra_rot = np.broadcast_to(np.eye(3), (num_frames, len(leaves), 3, 3))
        local_rotations = np.concatenate([local_rotations, extra_rot], axis=1)
    translations = np.broadcast_to(offsets, (num_frames, len(names), 3)).copy()
    translations[:, 0] = root_positions
    return BvhMotion(
        path=path,
        joint_names=names,
        parents=np.asarray(parents, dtype=np.int64),
        offsets=offsets,
        is_end_site=np.zeros(len(names), bool),
        channels=[[] for _ in names],
        frame_time=1.0 / fps,
        local_rotations=local_rotations,
        local_translations=translations,
    )


def clip_of(
    motion: BvhMotion,
    rig: RigMap,
    *,
    name: str,
    take: str | None = None,
    source: str = "",
    descriptions: list[str] | None = None,
    target_fps: float | None = None,
) -> MotionClip:
    """Retarget ``motion`` with ``rig`` onto SMPL-22 and wrap it as a MotionClip."""
    joints, rot, _ = retarget(motion, rig)
    if not (np.isfinite(joints).all() and np.isfinite(rot).all()):
        raise RigError(f"{motion.path}: the motion has NaN or infinite values after mapping")
    clip = MotionClip(
        name=name,
        fps=nominal_rate(motion.frame_time),
        joints=joints,
        global_rotations=rot,
        descriptions=list(descriptions or []),
        take=take or name,
        source=source or motion.path,
    )
    return clip if target_fps is None else resample(clip, target_fps)
