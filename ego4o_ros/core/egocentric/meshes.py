"""The triangle meshes the renderer draws: a unit capsule (instanced per body segment), a
floor disc that follows the camera, and the room (walls, ceiling, boxes) of one take.

**Fisheye** is done in the vertex shader: each vertex is projected with the exact
equidistant model, so all geometry is tessellated finely enough (capsules, floor, walls,
boxes) that straight triangle edges between projected vertices follow the lens's curves.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Appearance, Scene


def _capsule_mesh(around: int = 14, cap_rings: int = 4, length_rings: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Unit capsule: per vertex (direction in the capsule's frame, z along the axis; end 0..1).
    Rings along the length let the fisheye bend long limbs near the camera."""
    rings = [(-math.cos(a), 0.0) for a in np.linspace(0.0, math.pi / 2, cap_rings + 1)]  # cap at end a
    rings += [(0.0, t) for t in np.linspace(0.0, 1.0, length_rings + 1)[1:]]
    rings += [(math.sin(a), 1.0) for a in np.linspace(0.0, math.pi / 2, cap_rings + 1)[1:]]  # cap at end b
    phi = np.linspace(0.0, 2.0 * math.pi, around, endpoint=False)
    verts = []
    for z, end in rings:
        r = math.sqrt(max(0.0, 1.0 - z * z))
        verts += [(r * math.cos(p), r * math.sin(p), z, end) for p in phi]
    idx = []
    for i in range(len(rings) - 1):
        for k in range(around):
            a, b = i * around + k, i * around + (k + 1) % around
            c, d = a + around, b + around
            idx += [a, b, d, a, d, c]
    return np.asarray(verts, np.float32), np.asarray(idx, np.int32)


def _polar_floor(rings: int = 36, around: int = 48, inner: float = 0.03, outer: float = 80.0):
    """A disc of (x, z) offsets around the camera, ring radii growing geometrically so every
    cell spans a similar angle as seen from head height (fisheye needs small cells nearby)."""
    radii = np.concatenate([[0.0], np.geomspace(inner, outer, rings)])
    phi = np.linspace(0.0, 2.0 * math.pi, around, endpoint=False)
    verts = np.stack(np.meshgrid(radii, phi, indexing="ij"), -1).reshape(-1, 2)
    xz = np.stack([verts[:, 0] * np.cos(verts[:, 1]), verts[:, 0] * np.sin(verts[:, 1])], -1)
    idx = []
    for i in range(len(radii) - 1):
        for k in range(around):
            a, b = i * around + k, i * around + (k + 1) % around
            idx += [a, b, b + around, a, b + around, a + around]
    return xz.astype(np.float32), np.asarray(idx, np.int32)


def _grid_quad(origin, edge_u, edge_v, cell_m: float, normal, color, material: float):
    """A quad tessellated into cells of about ``cell_m``: vertices (pos, normal, colour, material)."""
    origin, edge_u, edge_v = (np.asarray(x, np.float64) for x in (origin, edge_u, edge_v))
    nu = int(np.clip(math.ceil(np.linalg.norm(edge_u) / cell_m), 1, 48))
    nv = int(np.clip(math.ceil(np.linalg.norm(edge_v) / cell_m), 1, 48))
    s, t = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    pos = origin + s[..., None] * edge_u + t[..., None] * edge_v
    n = pos.reshape(-1, 3).shape[0]
    attrs = np.concatenate(
        [pos.reshape(-1, 3), np.tile(normal, (n, 1)), np.tile(color, (n, 1)), np.full((n, 1), material)], axis=1
    )
    idx = []
    for i in range(nu):
        for k in range(nv):
            a = i * (nv + 1) + k
            idx += [a, a + nv + 1, a + nv + 2, a, a + nv + 2, a + 1]
    return attrs, np.asarray(idx, np.int64)


MATERIAL_PLAIN, MATERIAL_WALL = 0.0, 1.0


def _room_mesh(scene: Scene, appearance: Appearance) -> tuple[np.ndarray, np.ndarray]:
    """Walls (inward normals), ceiling and boxes as one static triangle mesh in world coordinates."""
    x0, x1, z0, z1 = scene.bounds
    y0, h = scene.floor_y, scene.height
    wall, ceiling = appearance.wall_color, appearance.ceiling_color
    quads = [
        ((x0, y0, z0), (x1 - x0, 0, 0), (0, h, 0), (0, 0, 1), wall, MATERIAL_WALL),
        ((x0, y0, z1), (x1 - x0, 0, 0), (0, h, 0), (0, 0, -1), wall, MATERIAL_WALL),
        ((x0, y0, z0), (0, 0, z1 - z0), (0, h, 0), (1, 0, 0), wall, MATERIAL_WALL),
        ((x1, y0, z0), (0, 0, z1 - z0), (0, h, 0), (-1, 0, 0), wall, MATERIAL_WALL),
        ((x0, y0 + h, z0), (x1 - x0, 0, 0), (0, 0, z1 - z0), (0, -1, 0), ceiling, MATERIAL_PLAIN),
    ]
    parts = [(_grid_quad(o, u, v, 0.4, n, c, m)) for o, u, v, n, c, m in quads]
    for box in scene.boxes:
        sx, sy, sz = box.size
        yaw = math.radians(box.yaw_deg)
        ex = np.array([math.cos(yaw), 0.0, -math.sin(yaw)]) * sx  # the box's x edge after yaw about +Y
        ez = np.array([math.sin(yaw), 0.0, math.cos(yaw)]) * sz
        ey = np.array([0.0, sy, 0.0])
        corner = np.array([box.center[0], y0, box.center[1]]) - 0.5 * ex - 0.5 * ez
        ux, uz = ex / sx, ez / sz
        faces = [
            (corner, ez, ey, -ux),
            (corner + ex, ez, ey, ux),
            (corner, ex, ey, -uz),
            (corner + ez, ex, ey, uz),
            (corner + ey, ex, ez, np.array([0.0, 1.0, 0.0])),
        ]
        parts += [_grid_quad(o, u, v, 0.25, n, box.color, MATERIAL_PLAIN) for o, u, v, n in faces]
    verts, idx, base = [], [], 0
    for attrs, faces in parts:
        verts.append(attrs)
        idx.append(faces + base)
        base += len(attrs)
    return np.concatenate(verts).astype(np.float32), np.concatenate(idx).astype(np.int32)
