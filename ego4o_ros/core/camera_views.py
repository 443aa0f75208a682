"""Which clip frames the head camera sees, and how they are drawn (ROS-free).

The camera modality gets one view per model step (the VQ-VAE's chunk of 4 frames): the
step's last frame, ``f % 4 == 3``. Live capture, the training cache, the analysis and the
evaluation all index views the same way through these helpers. ``render_take`` draws a
take's views with its own seeded look (``core/egocentric``).
"""

from __future__ import annotations

import hashlib

import numpy as np

from . import egocentric

VIEW_FRAMES = 4  # one view per model step (the VQ-VAE's chunk): frame 4v + 3 is view v
IMAGE_CAMERA = egocentric.EgoCameraConfig(width=64, height=64)  # the image modality's default camera


def view_frames(num_frames: int) -> np.ndarray:
    """Clip frames that get a view: the last frame of every model step."""
    return np.arange(VIEW_FRAMES - 1, num_frames, VIEW_FRAMES)


def view_frame(view):
    """The clip frame view ``view`` was taken at (int or array)."""
    return VIEW_FRAMES * view + VIEW_FRAMES - 1


def newest_view(frame):
    """The newest view taken at or before clip frame ``frame`` (int or array; -1: none yet)."""
    return (frame - (VIEW_FRAMES - 1)) // VIEW_FRAMES


def spaced_views(newest, count: int, spacing: int) -> np.ndarray:
    """(..., count) view indices, oldest first: ``newest`` (int or array) and every
    ``spacing`` views back (negative: before the first view)."""
    return np.asarray(newest)[..., None] - spacing * np.arange(count - 1, -1, -1)


def take_appearance(take: str) -> egocentric.Appearance:
    """The take's look (clothes, room, light), the same on every run."""
    return egocentric.Appearance.random(int(hashlib.sha1(take.encode()).hexdigest()[:8], 16))


def camera_joints(joints: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Joints (S, 22, 3) in the camera's frame (x right, y up, z backward) of ``poses`` (S, 4, 4)."""
    rotation, position = poses[:, :3, :3], poses[:, :3, 3]
    return np.einsum("sji,snj->sni", rotation, joints - position[:, None])


def render_take(renderer: egocentric.EgocentricRenderer, joints: np.ndarray, take: str, fps: float) -> dict:
    """Views of one take's world joints (T, 22, 3) at ``view_frames``."""
    index = view_frames(len(joints))
    frames = renderer.render(joints, take_appearance(take), fps=fps, frames=index)
    poses = egocentric.camera_poses(joints, renderer.config, fps)[index]
    return {
        "frames": frames,
        "frame_index": index.astype(np.int32),
        "camera_joints": camera_joints(joints[index], poses).astype(np.float32),
    }
