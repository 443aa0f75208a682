"""poselib ``SkeletonMotion`` files (``.npy``; NVIDIA's AMP / ASE motion format, e.g. ASE's
Reallusion sword-and-shield clips) -> SMPL-22 clips, without running arbitrary pickle.

Format: a 0-d object ``.npy`` whose item is a pickled ``OrderedDict``: ``rotation.arr``
(T, J, 4) local joint rotations as quaternions **(x, y, z, w)** (poselib's order; the root's is
in the world), ``root_translation.arr`` (T, 3) metres, ``skeleton_tree`` with ``node_names``,
``parent_indices.arr`` and ``local_translation.arr`` (J, 3), ``is_local`` True, ``fps``.
``np.load(..., allow_pickle=True)`` would run whatever the pickle asks for; here
:class:`RestrictedUnpickler` resolves only the few names such a file needs (numpy array and
scalar reconstruction, ``numpy.dtype``, ``collections.OrderedDict``) and refuses anything else
with :class:`UnsafePickleError`.

Skeleton: the AMP humanoid's bodies (``pelvis``, ``torso``, ``head``, ``*_upper_arm``,
``*_lower_arm``, ``*_hand``, ``*_thigh``, ``*_shin``, ``*_foot``; props such as ``sword`` and
``shield`` are ignored), Z up, the left side at +Y, so it faces +X: DeepMimic's
``humanoid3d`` turned Z up. Its ``head`` body sits where DeepMimic's neck joint is, so it is
SMPL's neck; the head, toes, collars and spine1/spine2 are filled in as
``readers/skeletons.py`` says.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path

import numpy as np

from ..core import rotations
from ..core.clip import MotionClip
from .rig_maps import RigMap
from .skeletons import HEAD_CENTRE, clip_of, collar_offset, local_motion, sided, toe_offset

UP_AXIS, FORWARD_AXIS = "z", "x"
REQUIRED_BODIES = tuple(
    ["pelvis", "torso", "head"]
    + [f"{side}_{part}" for side in ("left", "right") for part in ("upper_arm", "lower_arm", "hand")]
    + [f"{side}_{part}" for side in ("left", "right") for part in ("thigh", "shin", "foot")]
)

RIG = RigMap(
    "poselib amp humanoid",
    sided(
        {
            "pelvis": "pelvis",
            "spine1": "auto",
            "spine2": "auto",
            "spine3": "torso",
            "neck": "head",
            "head": "head_centre",
            "left_hip": "left_thigh",
            "left_knee": "left_shin",
            "left_ankle": "left_foot",
            "left_foot": "left_toe",
            "left_collar": "left_collar",
            "left_shoulder": "left_upper_arm",
            "left_elbow": "left_lower_arm",
            "left_wrist": "left_hand",
        }
    ),
    units=1.0,
    up_axis=UP_AXIS,
    forward_axis=FORWARD_AXIS,
    lead_in_frames=0,
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that asks for something a poselib motion file does not need."""


def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1
        from numpy.core import multiarray
    return multiarray


_MULTIARRAY = _numpy_multiarray()
# (module, name) -> the object; numpy.core is numpy._core on numpy 2.
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _MULTIARRAY._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _MULTIARRAY._reconstruct,
    ("numpy.core.multiarray", "scalar"): _MULTIARRAY.scalar,
    ("numpy._core.multiarray", "scalar"): _MULTIARRAY.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only ``ALLOWED`` names (no persistent ids)."""

    def __init__(self, file, path: str = "<pickle>"):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        found = ALLOWED.get((module, name))
        if found is None:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in ALLOWED))
            raise UnsafePickleError(
                f"{self.path}: the pickle asks for {module}.{name}; a poselib motion file only needs {allowed}"
            )
        return found

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.path}: the pickle asks for a persistent object ({pid!r})")


def _header(file) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(file)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(file)
    if version in ((2, 0), (3, 0)):
        return np.lib.format.read_array_header_2_0(file)
    raise ValueError(f"unsupported .npy version {version}")


def is_poselib_npy(path: str | Path) -> bool:
    """Whether a ``.npy`` holds one pickled object (poselib) rather than a plain array
    (HumanML3D joints): read from its header, nothing unpickled."""
    try:
        with open(path, "rb") as f:
            shape, _, dtype = _header(f)
    except (OSError, ValueError):
        return False
    return dtype.hasobject and shape == ()


def load_skeleton_motion(source: str | Path | bytes, path: str | None = None) -> dict:
    """The ``OrderedDict`` of a poselib ``.npy`` (a path or its bytes), through
    :class:`RestrictedUnpickler`. ValueError when it is no such file."""
    name = path or (str(source) if not isinstance(source, bytes) else "<bytes>")
    file = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    with file:
        try:
            shape, _, dtype = _header(file)
        except ValueError as error:
            raise ValueError(f"{name}: not a .npy file ({error})") from None
        if not dtype.hasobject or shape != ():
            raise ValueError(f"{name}: a poselib motion is one pickled object, got an array {shape} of {dtype}")
        array = RestrictedUnpickler(file, name).load()
    item = array.item() if isinstance(array, np.ndarray) and array.shape == () else array
    if not isinstance(item, dict) or item.get("__name__") != "SkeletonMotion":
        raise ValueError(f"{name}: not a poselib SkeletonMotion (got {type(item).__name__})")
    return item


def _array(data: dict, key: str, name: str) -> np.ndarray:
    try:
        return np.asarray(data[key]["arr"], dtype=np.float64)
    except (KeyError, TypeError) as error:
        raise ValueError(f"{name}: missing {key}.arr ({error})") from None


def read_poselib(
    path: str | Path,
    target_fps: float | None = None,
    *,
    data: bytes | None = None,
    name: str | None = None,
    take: str | None = None,
    descriptions: list[str] | None = None,
) -> MotionClip:
    """A poselib ``SkeletonMotion`` of the AMP humanoid -> MotionClip on SMPL-22 (metres,
    body frame). ``data``: the file's bytes when it does not come from ``path``."""
    path = Path(path)
    motion = load_skeleton_motion(path if data is None else data, str(path))
    tree = motion.get("skeleton_tree") or {}
    names = [str(n) for n in tree.get("node_names", [])]
    missing = [b for b in REQUIRED_BODIES if b not in names]
    if missing:
        raise ValueError(f"{path}: not the AMP humanoid: no {', '.join(missing)} (bodies: {', '.join(names)})")
    if not motion.get("is_local", True):
        raise ValueError(f"{path}: global rotations (is_local False) are not supported")
    parents = _array(tree, "parent_indices", str(path)).astype(int)
    offsets = _array(tree, "local_translation", str(path))
    quats = _array(motion, "rotation", str(path))
    root = _array(motion, "root_translation", str(path))
    fps = float(motion.get("fps", 0))
    frames = len(quats)
    if quats.shape != (frames, len(names), 4) or root.shape != (frames, 3) or offsets.shape != (len(names), 3):
        raise ValueError(f"{path}: rotation {quats.shape}, root {root.shape}, offsets {offsets.shape} do not fit")
    if frames < 2 or not fps > 0 or not (np.isfinite(quats).all() and np.isfinite(root).all()):
        raise ValueError(f"{path}: needs >= 2 finite frames and fps > 0 (frames {frames}, fps {fps})")
    norm = np.linalg.norm(quats, axis=-1, keepdims=True)
    if not (norm > 1e-6).all():
        raise ValueError(f"{path}: a zero quaternion")
    leaves = [("head_centre", "head", (0.0, 0.0, HEAD_CENTRE))]
    for side in ("left", "right"):
        leaves.append((f"{side}_toe", f"{side}_foot", toe_offset(side, UP_AXIS, FORWARD_AXIS)))
        shoulder = offsets[names.index(f"{side}_upper_arm")]
        leaves.append((f"{side}_collar", "torso", collar_offset(shoulder, side, UP_AXIS, FORWARD_AXIS)))
    skeleton = local_motion(
        str(path),
        names,
        list(parents),
        offsets,
        rotations.xyzw_to_matrix(quats / norm),
        root,
        fps,
        tuple(leaves),
    )
    return clip_of(skeleton, RIG, name=name or path.stem, take=take, descriptions=descriptions, target_fps=target_fps)
