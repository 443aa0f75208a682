"""HumanML3D joint files and captions -> SMPL-22 clips (positions only).

Input: ``new_joints/XXXXXX.npy``, (T, 22, 3) joint positions in metres, already in
the body frame (Y up; HumanML3D's processing puts the floor near y = 0 and the
first frame's root at x = z = 0 facing +Z), at 20 Hz. They carry no segment rotations: ``global_rotations``
is None. Captions come from ``texts/XXXXXX.txt``, one per line as
``caption#tokens#start#end``. The 263-dim features are computed elsewhere
(``core/features.py``).

Take: ``MXXXXXX`` is HumanML3D's mirrored copy of ``XXXXXX``; both get the take
``XXXXXX`` so a clip and its mirror never straddle the train/validation split.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.clip import MotionClip

HUMANML3D_FPS = 20.0


def read_humanml3d_texts(path: str | Path) -> list[str]:
    """Captions of one HumanML3D texts file (the part before the first ``#``)."""
    path = Path(path)
    captions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        caption = line.split("#", 1)[0].strip()
        if caption:
            captions.append(caption)
    return captions


def read_humanml3d_joints(
    path: str | Path, fps: float = HUMANML3D_FPS, texts_path: str | Path | None = None
) -> MotionClip:
    """Read a ``new_joints`` file (T, 22, 3), metres, body frame, at ``fps`` Hz."""
    path = Path(path)
    joints = np.load(path, allow_pickle=False)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) == 0:
        raise ValueError(f"{path}: expected HumanML3D joints (T, 22, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError(f"{path}: joints contain NaN or inf")
    descriptions = [] if texts_path is None else read_humanml3d_texts(texts_path)
    take = re.sub(r"^M(?=\d)", "", path.stem)
    return MotionClip(
        name=path.stem,
        fps=float(fps),
        joints=joints.astype(np.float64),
        descriptions=descriptions,
        take=take,
        source=str(path),
    )
