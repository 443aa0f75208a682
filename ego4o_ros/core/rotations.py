"""Rotation conversions, all in one place (numpy, batched over leading dims).

Conventions used across the package:

* quaternions are ``(w, x, y, z)`` (HumanML3D's order), unit norm;
* rotation matrices act on column vectors: ``v_world = R @ v_local``;
* the continuous 6-D representation ("cont6d") is the first two *columns* of the
  matrix, concatenated ``[R[:, 0], R[:, 1]]`` (HumanML3D's ``quaternion_to_cont6d``);
* axis-angle is a 3-vector ``angle * unit_axis`` (SMPL's ``poses``);
* Euler angles follow BVH semantics: the channel order names intrinsic rotations
  applied left to right, ``R = R_first @ R_second @ R_third``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

_EPS = 1e-8


def _flat(x: np.ndarray, tail: int) -> tuple[np.ndarray, tuple]:
    x = np.asarray(x, dtype=np.float64)
    lead = x.shape[: x.ndim - tail]
    return x.reshape((-1,) + x.shape[x.ndim - tail :]), lead


def normalize(v: np.ndarray, axis: int = -1) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=axis, keepdims=True), _EPS)


# ---------------------------------------------------------------- quaternions
def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product q * r (apply r first, then q)."""
    q, r = np.broadcast_arrays(np.asarray(q, np.float64), np.asarray(r, np.float64))
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def qinv(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    q, v = np.asarray(q, np.float64), np.asarray(v, np.float64)
    qvec = q[..., 1:]
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2.0 * (q[..., :1] * uv + uuv)


def qbetween(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc unit quaternion rotating direction u onto direction v."""
    u, v = normalize(np.asarray(u, np.float64)), normalize(np.asarray(v, np.float64))
    u, v = np.broadcast_arrays(u, v)
    w = 1.0 + (u * v).sum(-1, keepdims=True)
    xyz = np.cross(u, v)
    # Opposite vectors: rotate by pi about any axis perpendicular to u.
    opposite = w[..., 0] < 1e-9
    if np.any(opposite):
        alt = np.cross(u[opposite], np.array([1.0, 0.0, 0.0]))
        bad = np.linalg.norm(alt, axis=-1) < 1e-6
        alt[bad] = np.cross(u[opposite][bad], np.array([0.0, 1.0, 0.0]))
        xyz = xyz.copy()
        w = w.copy()
        xyz[opposite] = normalize(alt)
        w[opposite] = 0.0
    return normalize(np.concatenate([w, xyz], axis=-1))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    q = normalize(np.asarray(q, np.float64))
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - z * w),
            2 * (x * z + y * w),
            2 * (x * y + z * w),
            1 - 2 * (x * x + z * z),
            2 * (y * z - x * w),
            2 * (x * z - y * w),
            2 * (y * z + x * w),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Matrix -> (w, x, y, z) with w >= 0."""
    flat, lead = _flat(m, 2)
    xyzw = Rotation.from_matrix(flat).as_quat()
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=-1)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(lead + (4,))


def xyzw_to_matrix(q_xyzw: np.ndarray) -> np.ndarray:
    """(..., 4) quaternion in ROS order (x, y, z, w) -> (..., 3, 3)."""
    q = np.asarray(q_xyzw, np.float64)
    return quat_to_matrix(np.concatenate([q[..., 3:], q[..., :3]], axis=-1))


def matrix_to_xyzw(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) quaternion in ROS order (x, y, z, w), w >= 0."""
    q = matrix_to_quat(m)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


# ---------------------------------------------------------------- axis-angle
def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    flat, lead = _flat(aa, 1)
    return Rotation.from_rotvec(flat).as_matrix().reshape(lead + (3, 3))


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    flat, lead = _flat(m, 2)
    return Rotation.from_matrix(flat).as_rotvec().reshape(lead + (3,))


# ---------------------------------------------------------------- 6-D
def matrix_to_cont6d(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def cont6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """Gram-Schmidt: the nearest rotation whose first two columns span d6."""
    d6 = np.asarray(d6, np.float64)
    a = normalize(d6[..., 0:3])
    b = d6[..., 3:6]
    b = normalize(b - (a * b).sum(-1, keepdims=True) * a)
    c = np.cross(a, b)
    return np.stack([a, b, c], axis=-1)


def quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    return matrix_to_cont6d(quat_to_matrix(q))


# ---------------------------------------------------------------- Euler / yaw
def euler_to_matrix(angles_rad: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (..., len(order)) in the given axis order, e.g. "ZXY".

    This is BVH's convention: ``R = R_Z(a0) @ R_X(a1) @ R_Y(a2)`` for "ZXY".
    """
    order = order.upper()
    if not order or any(c not in "XYZ" for c in order):
        raise ValueError(f"Euler order must be made of X, Y, Z, got {order!r}")
    angles = np.asarray(angles_rad, np.float64)
    if angles.shape[-1] != len(order):
        raise ValueError(f"{angles.shape[-1]} angles for order {order!r}")
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, axis in enumerate(order):
        out = out @ axis_rotation(axis, angles[..., i])
    return out


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about a principal axis ("X", "Y" or "Z")."""
    angle = np.asarray(angle, np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "X": [one, zero, zero, zero, c, -s, zero, s, c],
        "Y": [c, zero, s, zero, one, zero, -s, zero, c],
        "Z": [c, -s, zero, s, c, zero, zero, zero, one],
    }[axis.upper()]
    return np.stack(rows, axis=-1).reshape(angle.shape + (3, 3))


def yaw_quat(angle: np.ndarray) -> np.ndarray:
    """Quaternion of a rotation by ``angle`` about +Y (the body frame's up)."""
    angle = np.asarray(angle, np.float64)
    z = np.zeros_like(angle)
    return np.stack([np.cos(angle / 2), z, np.sin(angle / 2), z], axis=-1)


def slerp_quat(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions; t broadcasts against q0[..., 0]."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    dot = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot).clip(max=1.0)
    t = np.asarray(t, np.float64)[..., None]
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-6
    w0 = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(small, 1.0, sin_theta))
    w1 = np.where(small, t, np.sin(t * theta) / np.where(small, 1.0, sin_theta))
    return normalize(w0 * q0 + w1 * q1)
