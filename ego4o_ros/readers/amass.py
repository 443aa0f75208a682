"""AMASS motion files (SMPL / SMPL-H / SMPL-X parameters, ``.npz``) -> SMPL-22 clips.

Input (one take per file): ``poses`` (T, 72 | 156 | 165) axis-angle in radians, of
which the first 66 numbers are the 22 body joints (root orientation, then 21 joints
relative to their parents); ``trans`` (T, 3) metres; ``mocap_framerate`` (or
``mocap_frame_rate`` in newer releases) Hz; ``betas`` optional.

Frames: AMASS's world is Z up. ``BODY_FROM_AMASS``, a rotation of -90 degrees about
X (det +1, never a mirror), maps it to the body frame (Y up): +Z -> +Y and
+Y -> -Z. The heading it leaves does not matter: windows are canonicalised later.
SMPL's rest pose is defined in the model frame, which is already Y up, facing +Z,
+X = left, so ``body_from_amass @ G_smpl`` is the segment rotation relative to the
T-pose in the body frame. The pelvis is at ``body_from_amass @ (trans + J0)`` (see
``smpl_model.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import body, rotations
from ..core.clip import MotionClip, resample
from .smpl_model import SmplJointTemplate

BODY_FROM_AMASS = rotations.axis_rotation("X", -np.pi / 2)  # Z up -> Y up, det +1
POSE_WIDTHS = (66, 72, 156, 165)  # body only, SMPL, SMPL-H, SMPL-X
FRAME_RATE_KEYS = ("mocap_framerate", "mocap_frame_rate")


def smpl_body_clip(
    poses: np.ndarray,
    trans: np.ndarray,
    template: SmplJointTemplate,
    world_to_body: np.ndarray,
    fps: float,
    name: str,
    take: str,
    source: str,
) -> MotionClip:
    """SMPL parameters -> MotionClip (body frame).

    poses: (T, >=66) axis-angle, radians; trans: (T, 3) metres in the data's world;
    world_to_body: (3, 3) proper rotation from the data's world to the body frame.
    """
    local = rotations.axis_angle_to_matrix(poses[:, :66].reshape(-1, body.NUM_JOINTS, 3))
    local[:, 0] = world_to_body @ local[:, 0]
    root = (trans + template.pelvis_rest) @ world_to_body.T
    joints, global_rotations = body.forward_kinematics(local, root, template.offsets)
    return MotionClip(
        name=name, fps=float(fps), joints=joints, global_rotations=global_rotations, take=take, source=source
    )


def read_amass(
    path: str | Path, template: SmplJointTemplate | str | Path | None = None, target_fps: float | None = None
) -> MotionClip:
    """Read one AMASS ``.npz`` take into the body frame.

    template: a ``SmplJointTemplate``; or a path to a SMPL model ``.npz`` (then the
        file's own ``betas`` shape the skeleton); or None for the built-in neutral
        skeleton (betas ignored).
    target_fps: resample to this rate (Hz); None keeps the capture rate.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        poses = _array(npz, "poses", path).astype(np.float64)
        trans = _array(npz, "trans", path).astype(np.float64)
        rate_key = next((k for k in FRAME_RATE_KEYS if k in npz.files), None)
        if rate_key is None:
            raise KeyError(f"{path}: no frame rate (needs one of {FRAME_RATE_KEYS}); keys are {sorted(npz.files)}")
        fps = float(npz[rate_key])
        betas = npz["betas"].astype(np.float64) if "betas" in npz.files else None
    if poses.ndim != 2 or poses.shape[1] not in POSE_WIDTHS:
        raise ValueError(f"{path}: poses must be (T, {' | '.join(map(str, POSE_WIDTHS))}), got {poses.shape}")
    if trans.shape != (len(poses), 3):
        raise ValueError(f"{path}: trans must be ({len(poses)}, 3), got {trans.shape}")
    if len(poses) == 0:
        raise ValueError(f"{path}: no frames")
    if not (np.isfinite(poses[:, :66]).all() and np.isfinite(trans).all()):
        raise ValueError(f"{path}: poses or trans contain NaN or inf")
    if template is None:
        template = SmplJointTemplate.builtin()
    elif not isinstance(template, SmplJointTemplate):
        template = SmplJointTemplate.from_model_file(template, betas)
    clip = smpl_body_clip(
        poses, trans, template, BODY_FROM_AMASS, fps, name=path.stem, take=path.stem, source=str(path)
    )
    return clip if target_fps is None else resample(clip, target_fps)


def _array(npz, key: str, path: Path) -> np.ndarray:
    if key not in npz.files:
        raise KeyError(
            f"{path}: missing key {key!r} (keys are {sorted(npz.files)}); is it an AMASS motion file (not a shape.npz)?"
        )
    return npz[key]
