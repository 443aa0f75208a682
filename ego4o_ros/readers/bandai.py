"""Bandai-Namco Research Motion datasets 1 and 2 (BVH, 30 fps, cm) -> SMPL-22 clips.

Data: CC BY-NC 4.0, "Bandai-Namco-Research-Motiondataset, Bandai Namco Research Inc."

* Skeleton: its 22 joints map one-to-one onto SMPL-22 except SMPL's spine2, which is
  interpolated halfway between Spine and Chest. Centimetres -> metres. The BVH world
  is Y up like our body frame (right handed), so no axis change is needed; heading is
  removed later by the per-window canonical frame.
* Segment rotations: Bandai's joint frames are not SMPL's, so each mapped joint's
  global rotation is turned into "relative to SMPL's T-pose" by a constant local
  change of axes ``TPOSE_FROM_BANDAI[j]`` (a signed axis permutation: the rig's axes
  are anatomically aligned). It was estimated with ``estimate_tpose_calibration`` from
  a neutral standing frame (dataset-2_walk_normal_001, frame 0); the tests check it.
* Labels: each take's JSON ``{"content": i, "style": j}`` indexes the label lists of
  its dataset (``cfg1/``, ``cfg2/``), which are repeated here; descriptions are made in
  several phrasings per (action, style) pair.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..core import body, rotations
from ..core.clip import MotionClip, nominal_rate, resample
from .bvh import BvhMotion, parse_bvh

LICENSE_NOTE = "Bandai-Namco-Research-Motiondataset, Bandai Namco Research Inc., CC BY-NC 4.0 (non-commercial)"

# SMPL-22 joint -> Bandai joint name. spine2 (6) has no counterpart: interpolated.
BANDAI_JOINT_FOR_SMPL = {
    0: "Hips",
    1: "UpperLeg_L",
    2: "UpperLeg_R",
    3: "Spine",
    4: "LowerLeg_L",
    5: "LowerLeg_R",
    6: None,
    7: "Foot_L",
    8: "Foot_R",
    9: "Chest",
    10: "Toes_L",
    11: "Toes_R",
    12: "Neck",
    13: "Shoulder_L",
    14: "Shoulder_R",
    15: "Head",
    16: "UpperArm_L",
    17: "UpperArm_R",
    18: "LowerArm_L",
    19: "LowerArm_R",
    20: "Hand_L",
    21: "Hand_R",
}
# spine2 lies on the Spine -> Chest bone, so it shares Spine's segment rotation.
_ROTATION_SOURCE = {**BANDAI_JOINT_FOR_SMPL, 6: "Spine"}

# Label lists in the order of cfg1/ and cfg2/ (their JSON indexes these).
LABELS = {
    1: {
        "content": (
            "walk",
            "run",
            "dash",
            "walk-back",
            "walk-left",
            "walk-right",
            "bow",
            "bye",
            "guide",
            "byebye",
            "respond",
            "call",
            "punch",
            "kick",
            "slash",
            "dance-long",
            "dance-short",
        ),
        "style": (
            "normal",
            "happy",
            "sad",
            "angry",
            "proud",
            "not-confident",
            "masculinity",
            "feminine",
            "childish",
            "old",
            "tired",
            "active",
            "musical",
            "giant",
            "chimpira",
        ),
    },
    2: {
        "content": (
            "walk",
            "walk-turn-left",
            "walk-turn-right",
            "run",
            "wave-both-hands",
            "wave-left-hand",
            "wave-right-hand",
            "raise-up-both-hands",
            "raise-up-left-hand",
            "raise-up-right-hand",
        ),
        "style": ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"),
    },
}

ACTION_PHRASES = {
    "walk": ("walks forward", "is walking", "takes a few steps forward"),
    "run": ("runs forward", "is running", "jogs ahead"),
    "dash": ("dashes forward", "sprints", "breaks into a sprint"),
    "walk-back": ("walks backwards", "steps backwards", "is walking backward"),
    "walk-left": ("walks to the left", "steps sideways to the left", "moves to the left"),
    "walk-right": ("walks to the right", "steps sideways to the right", "moves to the right"),
    "bow": ("bows", "takes a bow", "bends forward in a bow"),
    "bye": ("waves goodbye", "waves a hand to say bye", "says goodbye with a wave"),
    "guide": ("gestures to show the way", "points the way with an arm", "guides someone with a hand gesture"),
    "byebye": ("keeps waving bye-bye", "waves goodbye again and again", "waves bye-bye repeatedly"),
    "respond": ("responds to someone with a gesture", "reacts to being called", "answers with a gesture"),
    "call": ("calls someone over with a hand", "beckons someone", "waves someone over"),
    "punch": ("throws punches", "punches forward", "boxes with the fists"),
    "kick": ("kicks", "throws a kick", "kicks forward with a leg"),
    "slash": ("slashes with a sword", "swings a blade", "makes slashing motions"),
    "dance-long": ("dances", "performs a long dance", "is dancing"),
    "dance-short": ("dances briefly", "does a short dance", "performs a quick dance"),
    "walk-turn-left": ("walks and turns left", "walks forward then turns to the left", "turns left while walking"),
    "walk-turn-right": ("walks and turns right", "walks forward then turns to the right", "turns right while walking"),
    "wave-both-hands": ("waves both hands", "waves with both arms", "waves both hands in the air"),
    "wave-left-hand": ("waves the left hand", "waves with the left arm", "gives a wave with the left hand"),
    "wave-right-hand": ("waves the right hand", "waves with the right arm", "gives a wave with the right hand"),
    "raise-up-both-hands": ("raises both hands", "lifts both arms up", "puts both hands up"),
    "raise-up-left-hand": ("raises the left hand", "lifts the left arm up", "puts the left hand up"),
    "raise-up-right-hand": ("raises the right hand", "lifts the right arm up", "puts the right hand up"),
}
STYLE_PHRASES = {
    "normal": ("", " in a normal way", " normally"),
    "happy": (" happily", " in a happy mood", " cheerfully"),
    "sad": (" sadly", " in a sad way", " looking sad"),
    "angry": (" angrily", " in an angry way", " furiously"),
    "proud": (" proudly", " in a proud manner", " with pride"),
    "not-confident": (" timidly", " without confidence", " hesitantly"),
    "masculinity": (" in a masculine way", " with a masculine style", " manfully"),
    "masculine": (" in a masculine way", " with a masculine style", " manfully"),
    "feminine": (" in a feminine way", " with a feminine style", " gracefully"),
    "childish": (" childishly", " like a child", " in a childish way"),
    "old": (" in an elderly way", " like an old person", " slowly, like an old person"),
    "elderly": (" in an elderly way", " like an old person", " slowly, like an old person"),
    "tired": (" tiredly", " as if tired", " wearily"),
    "exhausted": (" as if exhausted", " wearily", " in an exhausted way"),
    "active": (" actively", " energetically", " in a lively way"),
    "musical": (" like in a musical", " theatrically", " in a musical style"),
    "giant": (" like a giant", " heavily, like a giant", " with big heavy movements"),
    "chimpira": (" like a thug", " with a swaggering thug style", " like a street punk"),
    "youthful": (" youthfully", " in a youthful way", " like a young person"),
}
_SUBJECTS = ("a person", "someone", "the person")
_NAME_PATTERN = re.compile(r"dataset-(\d)_([a-z-]+?)_([a-z-]+)_(\d+)$")

# Constant local change of axes per SMPL joint (see module doc):
# global_rotation_smpl = global_rotation_bandai @ TPOSE_FROM_BANDAI[j]. The rig's axes
# follow its chains (x along the bone, right side mirrored), so one matrix per chain.
_AXES = {
    "pelvis": [[0, 1, 0], [-1, 0, 0], [0, 0, 1]],
    "spine": [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
    "left_leg": [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
    "right_leg": [[0, 1, 0], [1, 0, 0], [0, 0, -1]],
    "left_foot": [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
    "right_foot": [[0, 0, -1], [1, 0, 0], [0, -1, 0]],
    "left_arm": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    "right_arm": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
}
_CHAIN_OF_JOINT = (
    "pelvis",
    "left_leg",
    "right_leg",
    "spine",
    "left_leg",
    "right_leg",
    "spine",
    "left_foot",
    "right_foot",
    "spine",
    "left_foot",
    "right_foot",
    "spine",
    "left_arm",
    "right_arm",
    "spine",
    "left_arm",
    "right_arm",
    "left_arm",
    "right_arm",
    "left_arm",
    "right_arm",
)
TPOSE_FROM_BANDAI = np.array([_AXES[chain] for chain in _CHAIN_OF_JOINT], dtype=np.float64)
# The Bandai joint that ends each SMPL joint's segment (leaf segments have none).
SEGMENT_END = {
    0: "Spine",
    1: "LowerLeg_L",
    2: "LowerLeg_R",
    3: "Chest",
    4: "Foot_L",
    5: "Foot_R",
    6: "Chest",
    7: "Toes_L",
    8: "Toes_R",
    9: "Neck",
    12: "Head",
    13: "UpperArm_L",
    14: "UpperArm_R",
    16: "LowerArm_L",
    17: "LowerArm_R",
    18: "Hand_L",
    19: "Hand_R",
}


def describe(action: str, style: str) -> list[str]:
    """Natural descriptions of a labelled take, several phrasings."""
    if action not in ACTION_PHRASES:
        raise KeyError(f"no phrases for action {action!r}")
    if style not in STYLE_PHRASES:
        raise KeyError(f"no phrases for style {style!r}")
    out = []
    for i, action_phrase in enumerate(ACTION_PHRASES[action]):
        for k, style_phrase in enumerate(STYLE_PHRASES[style]):
            subject = _SUBJECTS[(i + k) % len(_SUBJECTS)]
            out.append(f"{subject} {action_phrase}{style_phrase}.")
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------- descriptions -> labels
def description_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9'-]+", text.lower())


def _phrase_table(phrases: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(phrase, label) pairs, longest phrase first; labels with identical phrase sets merge."""
    canonical = {}
    for label, values in phrases.items():
        canonical.setdefault(tuple(sorted(p.strip() for p in values if p.strip())), label)
    table = [
        (" ".join(description_words(p)), canonical[tuple(sorted(q.strip() for q in values if q.strip()))])
        for label, values in phrases.items()
        for p in values
        if p.strip()
    ]
    return sorted(set(table), key=lambda x: -len(x[0]))


_ACTION_TABLE = _phrase_table(ACTION_PHRASES)
_STYLE_TABLE = _phrase_table(STYLE_PHRASES)
# The labels a description can name (styles with the same phrases, e.g. old/elderly, are one).
ACTION_LABELS = tuple(sorted({label for _, label in _ACTION_TABLE}))
STYLE_LABELS = tuple(sorted({label for _, label in _STYLE_TABLE} | {"normal"}))


def canonical_style(style: str) -> str:
    values = tuple(sorted(p.strip() for p in STYLE_PHRASES.get(style, ()) if p.strip()))
    return next(
        (
            label
            for phrase, label in _STYLE_TABLE
            if values and tuple(sorted(p.strip() for p in STYLE_PHRASES[label] if p.strip())) == values
        ),
        style,
    )


def _find(text: str, table) -> str | None:
    padded = f" {' '.join(description_words(text))} "
    for phrase, label in table:
        if f" {phrase} " in padded:
            return label
    return None


def action_of(text: str) -> str | None:
    """The Bandai action a description names (longest synonym found), or None."""
    return _find(text, _ACTION_TABLE)


def style_of(text: str) -> str:
    """The Bandai style a description names; "normal" when it names none."""
    return _find(text, _STYLE_TABLE) or "normal"


def labels_from_name(name: str) -> tuple[int, str, str, str]:
    """``dataset-2_walk-turn-left_elderly_003`` -> (2, "walk-turn-left", "elderly", "003")."""
    stem = Path(name).name.removesuffix(".bvh").removesuffix(".json")
    match = _NAME_PATTERN.match(stem)
    if match is None:
        raise ValueError(f"not a Bandai-Namco take name: {name!r}")
    dataset, action, style, take = match.groups()
    return int(dataset), action, style, take


def labels_from_json(dataset: int, label_json: str, name: str) -> tuple[str, str]:
    """Action and style names from a take's JSON, checked against its file name."""
    try:
        label = json.loads(label_json)
        action = LABELS[dataset]["content"][label["content"]]
        style = LABELS[dataset]["style"][label["style"]]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f"{name}: bad label JSON {label_json!r}: {error}") from error
    return action, style


def smpl_joints_and_rotations(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Bandai BVH -> SMPL-22 positions (T, 22, 3) in metres and raw Bandai global
    rotations of the mapped segments (T, 22, 3, 3) (before T-pose calibration)."""
    positions, global_rot = motion.forward_kinematics()
    index = {j: motion.index(name) for j, name in _ROTATION_SOURCE.items()}
    joints = np.empty((motion.num_frames, 22, 3))
    for j, name in BANDAI_JOINT_FOR_SMPL.items():
        if name is not None:
            joints[:, j] = positions[:, index[j]]
    joints[:, 6] = 0.5 * (joints[:, 3] + joints[:, 9])
    rot = np.stack([global_rot[:, index[j]] for j in range(22)], axis=1)
    return joints / 100.0, rot


# N-pose (standing, arms down, palms in): SMPL's T-pose with the arms turned down.
def npose_rotations() -> np.ndarray:
    rot = np.broadcast_to(np.eye(3), (22, 3, 3)).copy()
    rot[[16, 18, 20]] = rotations.axis_rotation("Z", -np.pi / 2)
    rot[[17, 19, 21]] = rotations.axis_rotation("Z", np.pi / 2)
    return rot


def _nearest_signed_permutation(m: np.ndarray) -> np.ndarray:
    out = np.zeros((3, 3))
    used_rows: set[int] = set()
    for col in np.argsort(-np.abs(m).max(0)):
        row = max((r for r in range(3) if r not in used_rows), key=lambda r: abs(m[r, col]))
        out[row, col] = np.sign(m[row, col])
        used_rows.add(row)
    if np.linalg.det(out) < 0:
        raise ValueError(
            "calibration is not a proper rotation: the rig's axes are not "
            "anatomically aligned, or the frame is not a standing pose"
        )
    return out


def tpose_calibration(motion: BvhMotion) -> np.ndarray:
    """``TPOSE_FROM_BANDAI`` refined per take: SMPL's rest bones are not axis aligned, so
    each segment gets the small swing that puts SMPL's rest bone direction exactly on
    the rig's bone (the child's offset in the joint's own frame)."""
    rest = rotations.normalize(body.SMPL_REST_OFFSETS)
    calibration = TPOSE_FROM_BANDAI.copy()
    for joint, end_name in SEGMENT_END.items():
        bone_local = motion.local_translations[0, motion.index(end_name)]
        snapped = TPOSE_FROM_BANDAI[joint]
        target = snapped.T @ rotations.normalize(bone_local)
        swing = rotations.quat_to_matrix(rotations.qbetween(rest[body.SEGMENT_END[joint]], target))
        calibration[joint] = snapped @ swing
    return calibration


def estimate_tpose_calibration(standing_rotations: np.ndarray, facing_yaw: float) -> np.ndarray:
    """Per-joint local change of axes (22, 3, 3) from the raw global rotations of a
    neutral standing frame (arms down) whose body faces ``facing_yaw`` about +Y.

    Solves ``npose = yaw^-1 @ standing @ C`` for C and snaps it to the nearest signed
    axis permutation, so a pose within ~45 degrees of the N-pose is enough.
    """
    unyaw = rotations.axis_rotation("Y", -facing_yaw)
    local = np.einsum("jki,kl,jlm->jim", standing_rotations, unyaw.T, npose_rotations())
    return np.stack([_nearest_signed_permutation(c) for c in local])


def read_bandai(
    source: str | Path, text: str | None = None, label_json: str | None = None, target_fps: float | None = None
) -> MotionClip:
    """Read one take. ``source`` is a path (its ``.json`` beside it is read when
    present), or a display name when ``text``/``label_json`` come from an archive."""
    path = Path(source)
    if text is None:
        text = path.read_text()
        json_path = path.with_suffix(".json")
        if label_json is None and json_path.exists():
            label_json = json_path.read_text()
    motion = parse_bvh(text, str(source))
    dataset, name_action, name_style, _ = labels_from_name(path.name)
    action, style = name_action, name_style
    if label_json is not None:
        action, style = labels_from_json(dataset, label_json, str(source))
        if (action, style) != (name_action, name_style):
            raise ValueError(f"{source}: labels {action}/{style} in JSON disagree with the name")
    joints, raw_rot = smpl_joints_and_rotations(motion)
    global_rot = raw_rot @ tpose_calibration(motion)
    clip = MotionClip(
        name=path.stem,
        fps=nominal_rate(motion.frame_time),
        joints=joints,
        global_rotations=global_rot,
        descriptions=describe(action, style),
        take=path.stem,
        source=str(source),
    )
    return clip if target_fps is None else resample(clip, target_fps)
