"""DeepMimic ``humanoid3d`` motion clips (JSON; Peng et al.'s format, also the Jump repo's
``data/vae/txt``) -> SMPL-22 clips.

Format: ``{"Loop": "none" | "wrap", "Frames": [[44 numbers], ...]}``. Each frame: ``dt``
(seconds to the next frame; the last frame's is 0), the root position x y z (metres, Y up),
the root rotation as a quaternion **(w, x, y, z)** in the world, then local rotations in the
order of ``JOINT_ORDER``: spherical joints as (w, x, y, z) quaternions, the revolute knees and
elbows as one angle (radians) about their local Z axis. Wrists are fixed. Quaternions are
normalised (DeepMimic's ``backflip`` and ``roll`` hold some off by up to 0.19).

Skeleton ``humanoid3d`` (15 joints, ``data/characters/humanoid3d.txt``; ``HUMANOID3D``
repeats its joints and offsets, ``load_character`` reads another file of that format): Y up,
the right side at +Z, so the character faces +X. Rate: 1 / ``dt``. SMPL joints it has no
joint for are filled in as ``readers/skeletons.py`` says (spine1/spine2 on the root -> chest
bone, collars fixed to the chest short of the shoulders, toes at SMPL's ankle -> toe offset,
the head at the centre of the head body).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core import rotations
from ..core.clip import MotionClip
from .rig_maps import RigMap
from .skeletons import HEAD_CENTRE, clip_of, collar_offset, local_motion, sided, toe_offset

# humanoid3d.txt: (name, parent, offset from the parent in metres); wrists are fixed joints.
HUMANOID3D = (
    ("root", -1, (0.0, 0.0, 0.0)),
    ("chest", 0, (0.0, 0.236151, 0.0)),
    ("neck", 1, (0.0, 0.223894, 0.0)),
    ("right_hip", 0, (0.0, 0.0, 0.084887)),
    ("right_knee", 3, (0.0, -0.421546, 0.0)),
    ("right_ankle", 4, (0.0, -0.40987, 0.0)),
    ("right_shoulder", 1, (-0.02405, 0.2435, 0.18311)),
    ("right_elbow", 6, (0.0, -0.274788, 0.0)),
    ("right_wrist", 7, (0.0, -0.258947, 0.0)),
    ("left_hip", 0, (0.0, 0.0, -0.084887)),
    ("left_knee", 9, (0.0, -0.421546, 0.0)),
    ("left_ankle", 10, (0.0, -0.40987, 0.0)),
    ("left_shoulder", 1, (-0.02405, 0.2435, -0.18311)),
    ("left_elbow", 12, (0.0, -0.274788, 0.0)),
    ("left_wrist", 13, (0.0, -0.258947, 0.0)),
)
# The joints with values in a frame, in frame order, after dt, root position and rotation.
JOINT_ORDER = (
    "chest",
    "neck",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_shoulder",
    "right_elbow",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_shoulder",
    "left_elbow",
)
REVOLUTE = ("right_knee", "right_elbow", "left_knee", "left_elbow")  # one angle about local Z
FRAME_WIDTH = 1 + 3 + 4 + sum(1 if j in REVOLUTE else 4 for j in JOINT_ORDER)  # 44
UP_AXIS, FORWARD_AXIS = "y", "x"

RIG = RigMap(
    "deepmimic humanoid3d",
    sided(
        {
            "pelvis": "root",
            "spine1": "auto",
            "spine2": "auto",
            "spine3": "chest",
            "neck": "neck",
            "head": "head_centre",
            "left_hip": "left_hip",
            "left_knee": "left_knee",
            "left_ankle": "left_ankle",
            "left_foot": "left_toe",
            "left_collar": "left_collar",
            "left_shoulder": "left_shoulder",
            "left_elbow": "left_elbow",
            "left_wrist": "left_wrist",
        }
    ),
    units=1.0,
    up_axis=UP_AXIS,
    forward_axis=FORWARD_AXIS,
    lead_in_frames=0,
)


def load_character(path: str | Path) -> tuple[tuple[str, int, tuple[float, float, float]], ...]:
    """A DeepMimic character file's joints as (name, parent, offset), like ``HUMANOID3D``."""
    data = json.loads(Path(path).read_text())
    try:
        joints = sorted(data["Skeleton"]["Joints"], key=lambda j: j["ID"])
        return tuple(
            (str(j["Name"]), int(j["Parent"]), (float(j["AttachX"]), float(j["AttachY"]), float(j["AttachZ"])))
            for j in joints
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a DeepMimic character file ({error})") from None


def looks_like_deepmimic(path: str | Path) -> bool:
    """Whether the file starts like a DeepMimic clip (a JSON object with "Frames" early on)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    except OSError:
        return False
    return head.startswith("{") and '"Frames"' in head


def parse_frames(text: str | bytes, path: str = "<string>") -> tuple[np.ndarray, str]:
    """(T, 44) frame values and the Loop mode of a clip's JSON text; ValueError when it is none."""
    try:
        data = json.loads(text)
        frames = np.asarray(data["Frames"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a DeepMimic motion clip ({str(error).splitlines()[0]})") from None
    if frames.ndim != 2 or frames.shape[1] != FRAME_WIDTH or len(frames) < 2:
        raise ValueError(f"{path}: DeepMimic humanoid3d frames are (T >= 2, {FRAME_WIDTH}), got {frames.shape}")
    if not np.isfinite(frames).all():
        raise ValueError(f"{path}: the frames hold NaN or infinite values")
    return frames, str(data.get("Loop", "none"))


def frame_time(frames: np.ndarray, path: str) -> float:
    """The clip's one ``dt`` (every frame but the last has it)."""
    dt = frames[:-1, 0]
    if not dt[0] > 0 or np.abs(dt - dt[0]).max() > 1e-6 * max(1.0, dt[0]):
        raise ValueError(f"{path}: frame times must be equal and positive, got {dt.min():g} .. {dt.max():g} s")
    return float(dt[0])


def local_rotations(frames: np.ndarray, path: str = "") -> np.ndarray:
    """(T, 15, 3, 3) local rotations in ``HUMANOID3D`` order (root in the world; wrists identity)."""
    index = {name: j for j, (name, _, _) in enumerate(HUMANOID3D)}
    out = np.broadcast_to(np.eye(3), (len(frames), len(HUMANOID3D), 3, 3)).copy()
    out[:, 0] = _quaternions(frames[:, 4:8], path)
    column = 8
    for name in JOINT_ORDER:
        if name in REVOLUTE:
            out[:, index[name]] = rotations.axis_rotation("Z", frames[:, column])
            column += 1
        else:
            out[:, index[name]] = _quaternions(frames[:, column : column + 4], path)
            column += 4
    return out


def _quaternions(q_wxyz: np.ndarray, path: str) -> np.ndarray:
    norm = np.linalg.norm(q_wxyz, axis=-1, keepdims=True)
    if not (norm > 1e-6).all():
        raise ValueError(f"{path}: a zero quaternion")
    return rotations.quat_to_matrix(q_wxyz / norm)


def read_deepmimic(
    path: str | Path,
    target_fps: float | None = None,
    *,
    text: str | bytes | None = None,
    character: str | Path | None = None,
    name: str | None = None,
    take: str | None = None,
    descriptions: list[str] | None = None,
) -> MotionClip:
    """A DeepMimic ``humanoid3d`` clip -> MotionClip on SMPL-22 (metres, body frame).
    ``text``: the file's content when it does not come from ``path`` (an archive member);
    ``character``: a character file whose offsets replace ``HUMANOID3D``'s (same joints)."""
    path = Path(path)
    if text is None:
        text = path.read_bytes()
    frames, _ = parse_frames(text, str(path))
    skeleton = HUMANOID3D
    if character is not None:
        skeleton = load_character(character)
        if [(n, p) for n, p, _ in skeleton] != [(n, p) for n, p, _ in HUMANOID3D]:
            raise ValueError(f"{character}: its joints are not humanoid3d's ({', '.join(n for n, _, _ in skeleton)})")
    offsets = {name: offset for name, _, offset in skeleton}
    leaves = [("head_centre", "neck", (0.0, HEAD_CENTRE, 0.0))]
    for side in ("left", "right"):
        leaves.append((f"{side}_toe", f"{side}_ankle", toe_offset(side, UP_AXIS, FORWARD_AXIS)))
        shoulder = offsets[f"{side}_shoulder"]
        leaves.append((f"{side}_collar", "chest", collar_offset(shoulder, side, UP_AXIS, FORWARD_AXIS)))
    motion = local_motion(
        str(path),
        [n for n, _, _ in skeleton],
        [p for _, p, _ in skeleton],
        np.array([o for _, _, o in skeleton]),
        local_rotations(frames, str(path)),
        frames[:, 1:4],
        1.0 / frame_time(frames, str(path)),
        tuple(leaves),
    )
    return clip_of(motion, RIG, name=name or path.stem, take=take, descriptions=descriptions, target_fps=target_fps)
