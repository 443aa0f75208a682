"""What a device sends -> what ``sensor_msgs/Imu`` carries (REP-145), and back.

The bridge publishes every worn site in **one convention, the message standard**, which
is also the fusion node's default ``ImuConvention`` (``live/sensors.py``): acceleration
is the specific force in m/s^2 in the sensor's own axes (gravity included: a still
sensor reads +9.81 along its up axis), orientation the xyzw quaternion of the sensor in a
z-up world whose x points east (ENU, REP-103). So the fusion node needs no ``imu.<site>.*``
parameters for a bridged device, and any ROS tool (RViz's Imu display, a bag) reads the
topics right. Everything a device does differently is undone here, declared per device
in ``config/devices.yaml``:

* ``acc_unit``: ``g`` (CoreMotion, Sensor Logger's watch and earbuds) or ``m/s^2``;
* ``acc_sign``: -1 where the device reports inertial force instead of specific force
  (iOS: a phone flat on a table reads z = -1 g; awesome-sensor-logger#20), +1 otherwise
  (Android, Sensor Logger with "Standardise Units & Frames");
* ``gravity_included``: false for CoreMotion's ``userAcceleration`` and Sensor Logger's
  accelerometer; gravity is then added back from the device's own orientation;
* ``quaternion_order`` (``xyzw`` / ``wxyz``) and ``quaternion`` (``world_from_device``,
  CoreMotion's attitude, or ``device_from_world``);
* ``world_frame``: ``nwu`` for CoreMotion's x-north-z-vertical reference frame (y then
  points west), ``enu`` for Android's rotation vector;
* ``sensor_axes`` / ``world_axes``: a signed permutation of the device's axes and of its
  world, e.g. ``[-x, z, y]`` (the IMUPoser receiver's remap of the earbuds: roll negated,
  pitch and yaw swapped, the same for acceleration). Both must be proper rotations.

Heading (which way is north) and mounting (how the device sits on its segment) are left
to the fusion node's calibration; only gravity must be right, so the world's z is up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core import rotations
from ..core.imu import GRAVITY

# CoreMotion's x-north-z-vertical world (y = z x x = west) -> ENU: north -> +y, west -> -x.
ENU_FROM_NWU = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
WORLD_FRAMES = {"enu": np.eye(3), "nwu": ENU_FROM_NWU}
UP = np.array([0.0, 0.0, 1.0])


def axes_matrix(spec: Sequence[str]) -> np.ndarray:
    """["-x", "z", "y"] -> P with ``out = P @ in``: out x = -in x, out y = in z, out z = in y.
    Each axis once, and a proper rotation (a mirror would turn a right-handed device left)."""
    spec = [str(s).strip().lower() for s in spec]
    if len(spec) != 3:
        raise ValueError(f"axes: three entries like [x, y, z] or [-x, z, y], got {spec}")
    matrix = np.zeros((3, 3))
    for row, entry in enumerate(spec):
        sign, name = (-1.0, entry[1:]) if entry.startswith("-") else (1.0, entry.lstrip("+"))
        if name not in ("x", "y", "z"):
            raise ValueError(f"axes: {entry!r} is not x, y or z (with an optional '-')")
        matrix[row, "xyz".index(name)] = sign
    if not np.allclose(np.abs(matrix).sum(0), 1.0):
        raise ValueError(f"axes {spec}: every axis exactly once")
    if np.linalg.det(matrix) < 0:
        raise ValueError(f"axes {spec} mirror the device (determinant -1): flip one more sign")
    return matrix


@dataclass(frozen=True)
class DeviceConvention:
    """How one device reports (see the module doc). Defaults: the message standard."""

    acc_unit: str = "m/s^2"
    acc_sign: float = 1.0
    gravity_included: bool = True
    quaternion_order: str = "xyzw"
    quaternion: str = "world_from_device"
    world_frame: str = "enu"
    sensor_axes: tuple[str, ...] = ("x", "y", "z")
    world_axes: tuple[str, ...] = ("x", "y", "z")

    def __post_init__(self):
        for name, allowed in (
            ("acc_unit", ("m/s^2", "g")),
            ("acc_sign", (1.0, -1.0)),
            ("quaternion_order", ("xyzw", "wxyz")),
            ("quaternion", ("world_from_device", "device_from_world")),
            ("world_frame", tuple(WORLD_FRAMES)),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"convention {name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        axes_matrix(self.sensor_axes)  # raises on a bad remap
        axes_matrix(self.world_axes)

    @property
    def scale(self) -> float:
        return self.acc_sign * (GRAVITY if self.acc_unit == "g" else 1.0)

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, W): device axes -> sensor axes, device world -> ENU."""
        return axes_matrix(self.sensor_axes), WORLD_FRAMES[self.world_frame] @ axes_matrix(self.world_axes)


def as_xyzw(quat: np.ndarray, order: str) -> np.ndarray:
    quat = np.asarray(quat, np.float64)
    return quat if order == "xyzw" else np.concatenate([quat[..., 1:], quat[..., :1]], axis=-1)


def to_ros(acc, quat, convention: DeviceConvention) -> tuple[np.ndarray, np.ndarray]:
    """Device numbers (..., 3), (..., 4) -> (acceleration (..., 3) m/s^2, specific force in
    the sensor's axes; quaternion (..., 4) xyzw of the sensor in ENU)."""
    P, W = convention.matrices()
    world_from_device = rotations.xyzw_to_matrix(as_xyzw(quat, convention.quaternion_order))
    if convention.quaternion == "device_from_world":
        world_from_device = np.swapaxes(world_from_device, -1, -2)
    world_from_sensor = W @ world_from_device @ P.T
    acc = np.einsum("ij,...j->...i", P, np.asarray(acc, np.float64) * convention.scale)
    if not convention.gravity_included:  # add back what the device took out: +g along its up
        acc = acc + GRAVITY * np.einsum("...ji,j->...i", world_from_sensor, UP)
    return acc, rotations.matrix_to_xyzw(world_from_sensor)


def from_ros(acc, quat_xyzw, convention: DeviceConvention) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``to_ros``: what such a device would send for a standard reading (a
    recording made here in a device's wire format, and the tests)."""
    P, W = convention.matrices()
    world_from_sensor = rotations.xyzw_to_matrix(quat_xyzw)
    acc = np.asarray(acc, np.float64)
    if not convention.gravity_included:
        acc = acc - GRAVITY * np.einsum("...ji,j->...i", world_from_sensor, UP)
    acc_device = np.einsum("ji,...j->...i", P, acc) / convention.scale
    world_from_device = W.T @ world_from_sensor @ P
    if convention.quaternion == "device_from_world":
        world_from_device = np.swapaxes(world_from_device, -1, -2)
    quat = rotations.matrix_to_xyzw(world_from_device)
    if convention.quaternion_order == "wxyz":
        quat = np.concatenate([quat[..., 3:], quat[..., :3]], axis=-1)
    return acc_device, quat
