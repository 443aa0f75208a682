"""Readers of motion data, each returning ``core.clip.MotionClip`` in the body frame."""

from __future__ import annotations

from pathlib import Path

READABLE_SUFFIXES = (".bvh", ".npz", ".npy", ".pkl")


def read_clip(path: str | Path, target_fps: float | None = None, *, rig_map=None):
    """Read any supported file by its extension: BVH of any rig (Bandai-Namco, CMU /
    MotionBuilder, Mixamo, Daz/Poser, Xsens MVN, Rokoko, or a user ``rig_map`` YAML;
    ``readers/rigs.py``), AMASS .npz, HumanML3D new_joints .npy, DIP-IMU .pkl."""
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
        from .humanml3d import read_humanml3d_joints

        clip = read_humanml3d_joints(path)
        return clip if target_fps is None else resample(clip, target_fps)
    if suffix == ".pkl":
        from ..core.clip import resample
        from .dip import read_dip

        clip = read_dip(path)
        return clip if target_fps is None else resample(clip, target_fps)
    raise ValueError(f"{path}: unsupported motion file (expected one of {READABLE_SUFFIXES})")
