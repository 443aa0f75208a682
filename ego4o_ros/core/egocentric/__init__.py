"""Egocentric views: what a head-worn camera sees, rendered headless on the CPU.

Input: joints ``(T, 22, 3)`` in metres, SMPL-22 order, in the body frame (``frames.py``:
Y up, the rest pose faces +Z, +X is the body's left). Output: ``uint8 (T, H, W, 3)``
images, row 0 at the top, the wearer's left on the image's left (no mirror image).

    renderer = EgocentricRenderer(EgoCameraConfig(projection="fisheye"))
    frames = renderer.render(joints, Appearance.random(seed))

One idea per file; every public name is re-exported here (``egocentric.<Name>``):

* ``camera.py``: ``EgoCameraConfig`` (a glasses camera on the head joint, pinhole or
  equidistant fisheye), the head's orientation from joints (``head_frames``), the camera
  in every frame (``camera_poses``) and where world points land in the image
  (``project_points``).
* ``scene.py``: how a take looks: the body's capsules (``SEGMENTS``), ``Appearance``
  (clothes, floor, room, boxes, light; ``Appearance.random(seed)`` per take) and the room
  laid out around the walk (``build_scene`` -> ``Scene`` with its ``Box`` es).
* ``meshes.py``: the triangles drawn: a unit capsule, a floor disc around the camera,
  the room's walls, ceiling and boxes, tessellated finely enough for the fisheye.
* ``shaders/*.glsl``: the GLSL (package data): the projection into a tile of the atlas,
  the light, and a vertex + fragment shader for each of body, room and floor.
* ``renderer.py``: the process's EGL context (moderngl, llvmpipe on a CPU),
  ``EgocentricRenderer`` (batches of frames as tiles of one atlas, three instanced draw
  calls), ``render_views`` and ``EgocentricRenderError``.
* ``sheets.py``: pictures for people: ``contact_sheet``, ``add_view_row``.
* ``benchmarking.py``: the render benchmark (``benchmark``, ``format_benchmark``).

Never imports rclpy. Create renderers in the process that uses them (a GL context does
not survive ``fork``).
"""

from .benchmarking import benchmark, format_benchmark
from .camera import PROJECTIONS, EgoCameraConfig, J, camera_poses, head_frames, project_points
from .meshes import MATERIAL_PLAIN, MATERIAL_WALL
from .renderer import GL_CLIP_DISTANCE0, MAX_TEXTURE_ROWS, EgocentricRenderer, EgocentricRenderError, render_views
from .scene import (
    FLOOR_PATTERNS,
    LIMB_GROUPS,
    PATH_CLEARANCE_M,
    SEGMENTS,
    SOLE_BELOW_LOWEST_JOINT_M,
    Appearance,
    Box,
    BoxSpec,
    Color,
    Scene,
    build_scene,
)
from .sheets import add_view_row, contact_sheet

__all__ = [
    "FLOOR_PATTERNS",
    "GL_CLIP_DISTANCE0",
    "J",
    "LIMB_GROUPS",
    "MATERIAL_PLAIN",
    "MATERIAL_WALL",
    "MAX_TEXTURE_ROWS",
    "PATH_CLEARANCE_M",
    "PROJECTIONS",
    "SEGMENTS",
    "SOLE_BELOW_LOWEST_JOINT_M",
    "Appearance",
    "Box",
    "BoxSpec",
    "Color",
    "EgoCameraConfig",
    "EgocentricRenderError",
    "EgocentricRenderer",
    "Scene",
    "add_view_row",
    "benchmark",
    "build_scene",
    "camera_poses",
    "contact_sheet",
    "format_benchmark",
    "head_frames",
    "project_points",
    "render_views",
]
