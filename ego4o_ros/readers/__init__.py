"""Readers of motion data, each returning ``core.clip.MotionClip`` in the body frame."""
from __future__ import annotations

from pathlib import Path

READABLE_SUFFIXES = (".bvh", ".npz", ".npy", ".pkl")


def read_clip(path: str | Path, target_fps: float | None = None):
    """Read any supported file by its extension: Bandai-Namco BVH, AMASS .npz,
    HumanML3D new_joints .npy, DIP-IMU .pkl."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from .bandai import read_bandai
        return read_bandai(path, target_fps=target_fps)
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
