"""Readers of motion data, each returning ``core.clip.MotionClip`` in the body frame."""

from __future__ import annotations

from pathlib import Path

# .json / .txt count only when their content is a DeepMimic clip (``is_motion_file``): a
# Bandai label .json or a description .txt beside a BVH is no motion.
READABLE_SUFFIXES = (".bvh", ".npz", ".npy", ".pkl", ".json", ".txt")
SNIFFED_SUFFIXES = (".json", ".txt")


def is_motion_file(path: str | Path) -> bool:
    """Whether ``read_clip`` reads this file: by its suffix, and by its content for
    ``SNIFFED_SUFFIXES`` (a DeepMimic clip)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        return False
    if suffix in SNIFFED_SUFFIXES:
        from .deepmimic import looks_like_deepmimic

        return looks_like_deepmimic(path)
    return True


def read_clip(path: str | Path, target_fps: float | None = None, *, rig_map=None):
    """Read any supported file: BVH of any rig (Bandai-Namco, iClone Character Creator, CMU /
    MotionBuilder, Mixamo, Daz/Poser, Xsens MVN, Rokoko, or a user ``rig_map`` YAML;
    ``readers/rigs.py``), AMASS .npz, DIP-IMU .pkl, a DeepMimic ``humanoid3d`` clip (.json,
    or .txt as DeepMimic names them), and .npy by content: a poselib ``SkeletonMotion``
    (AMP / ASE; restricted unpickling) or HumanML3D new_joints."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from .rigs import read_bvh_clip

        return read_bvh_clip(path, target_fps=target_fps, rig_map=rig_map)
    if rig_map is not None:
        raise ValueError(f"{path}: a rig map only applies to BVH files")
    if suffix == ".npz":
        from .amass import read_amass

        return read_amass(path, target_fps=target_fps)
    if suffix == ".npy":
        from ..core.clip import resample
        from .poselib import is_poselib_npy, read_poselib

        if is_poselib_npy(path):
            return read_poselib(path, target_fps=target_fps)
        from .humanml3d import read_humanml3d_joints

        clip = read_humanml3d_joints(path)
        return clip if target_fps is None else resample(clip, target_fps)
    if suffix == ".pkl":
        from ..core.clip import resample
        from .dip import read_dip

        clip = read_dip(path)
        return clip if target_fps is None else resample(clip, target_fps)
    if suffix in SNIFFED_SUFFIXES:
        from .deepmimic import looks_like_deepmimic, read_deepmimic

        if suffix == ".json" or looks_like_deepmimic(path):
            return read_deepmimic(path, target_fps=target_fps)
        raise ValueError(f"{path}: a .txt is read only when it holds a DeepMimic clip (JSON with 'Frames')")
    raise ValueError(f"{path}: unsupported motion file (expected one of {READABLE_SUFFIXES})")
