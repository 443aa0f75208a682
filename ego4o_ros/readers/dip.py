"""DIP-IMU takes (``s_XX/NN.pkl``) -> SMPL-22 clips with real IMU readings.

Input: a Python 2 pickle of a dict with ``gt`` (T, 72) SMPL pose, axis-angle radians;
``imu_acc`` (T, 17, 3) m/s^2 and ``imu_ori`` (T, 17, 3, 3) world-from-sensor, at
60 Hz; no translation. Pickles can run code when loaded, so the file is read with
``SafeArrayUnpickler``, which only rebuilds numpy arrays and refuses anything else.

Frames: DIP's world is SMPL-like, Y up, and the IMU readings are already calibrated
to the SMPL segments (TransPose / IMUPoser use them as they are); they are taken as
the body frame without any change. Accelerations are passed through as stored (no
gravity is added or removed). The root stays at the origin (no translation).

Missing samples (NaN) in the IMU data are filled per channel by linear
interpolation in time (held constant before the first / after the last valid
sample); filled orientations are projected back onto rotations. A warning reports
how many samples were filled.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import numpy as np

from ..core.clip import MotionClip
from ..core.imu import IMU_SITES
from .amass import smpl_body_clip
from .smpl_model import SmplJointTemplate

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

DIP_FPS = 60.0
DIP_SENSORS = (
    "head",
    "sternum",
    "pelvis",
    "lshoulder",
    "rshoulder",
    "lupperarm",
    "rupperarm",
    "llowerarm",
    "rlowerarm",
    "lupperleg",
    "rupperleg",
    "llowerleg",
    "rlowerleg",
    "lhand",
    "rhand",
    "lfoot",
    "rfoot",
)
# Our five sites (core.imu.IMU_SITES order) -> DIP sensor index. The wrists take the
# forearm sensors (our wrist sites read the forearm's rotation, joint 18 / 19), the
# pockets the thigh sensors (our pocket sites read the thigh, joint 1 / 2). TransPose
# uses [7, 8, 11, 12, 0, 2] (forearms, lower legs, head, pelvis) from the same order.
DIP_SENSOR_FOR_SITE = {"left_wrist": 7, "right_wrist": 8, "left_pocket": 9, "right_pocket": 10, "head": 0}
DIP_SENSOR_INDICES = tuple(DIP_SENSOR_FOR_SITE[s] for s in IMU_SITES)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1").
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class SafeArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays (and plain containers/scalars)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return {"_reconstruct": _reconstruct, "ndarray": np.ndarray, "dtype": np.dtype}[name]
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        raise pickle.UnpicklingError(
            f"refused to load global {module}.{name}: only numpy arrays may appear in a data pickle"
        )


def safe_load_pickle(data: bytes, name: str = "<bytes>"):
    """Unpickle ``data`` (written by Python 2 or 3) allowing numpy arrays only."""
    try:
        return SafeArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(f"{name}: {error}") from error
    except Exception as error:  # truncated or malformed data
        raise ValueError(f"{name}: not a readable data pickle ({error!r})") from error


def read_dip(path: str | Path, template: SmplJointTemplate | None = None) -> MotionClip:
    """Read one DIP-IMU take; name and take are ``<subject>/<stem>`` (e.g. ``s_01/01``)."""
    path = Path(path)
    data = safe_load_pickle(path.read_bytes(), str(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict, got {type(data).__name__}")
    arrays = {}
    for key, shape in (("gt", (72,)), ("imu_acc", (17, 3)), ("imu_ori", (17, 3, 3))):
        if key not in data:
            raise KeyError(f"{path}: missing key {key!r} (keys are {sorted(map(str, data))})")
        arrays[key] = np.asarray(data[key], dtype=np.float64)
        if arrays[key].shape[1:] != shape or arrays[key].ndim != len(shape) + 1:
            raise ValueError(f"{path}: {key} must be (T, {', '.join(map(str, shape))}), got {arrays[key].shape}")
    pose = arrays["gt"]
    if len(pose) == 0 or not np.isfinite(pose).all():
        raise ValueError(f"{path}: gt is empty or contains NaN or inf")
    if not len(arrays["imu_acc"]) == len(arrays["imu_ori"]) == len(pose):
        raise ValueError(f"{path}: gt, imu_acc and imu_ori have different frame counts")
    acc = arrays["imu_acc"][:, DIP_SENSOR_INDICES]
    ori = arrays["imu_ori"][:, DIP_SENSOR_INDICES]
    acc, acc_filled = fill_nan_linear(acc, str(path))
    ori, ori_filled = fill_nan_linear(ori, str(path))
    if ori_filled:
        ori = nearest_rotations(ori)
    if acc_filled or ori_filled:
        warnings.warn(
            f"{path}: filled {acc_filled} acceleration and {ori_filled} orientation "
            f"values (NaN) by linear interpolation",
            stacklevel=2,
        )
    name = f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem
    template = template or SmplJointTemplate.builtin()
    root_at_origin = np.broadcast_to(-template.pelvis_rest, (len(pose), 3))
    clip = smpl_body_clip(pose, root_at_origin, template, np.eye(3), DIP_FPS, name=name, take=name, source=str(path))
    clip.imu_acc, clip.imu_ori = acc, ori
    return clip


def fill_nan_linear(x: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Fill NaNs along axis 0 per channel by linear interpolation; returns (filled, count)."""
    flat = x.reshape(len(x), -1).copy()
    missing = ~np.isfinite(flat)
    count = int(missing.sum())
    if count:
        frames = np.arange(len(flat))
        for channel in np.flatnonzero(missing.any(0)):
            valid = ~missing[:, channel]
            if not valid.any():
                raise ValueError(f"{name}: an IMU channel has no valid sample at all")
            flat[:, channel] = np.interp(frames, frames[valid], flat[valid, channel])
    return flat.reshape(x.shape), count


def nearest_rotations(m: np.ndarray) -> np.ndarray:
    """Project (..., 3, 3) matrices onto the nearest rotations (SVD)."""
    u, _, vt = np.linalg.svd(m)
    fix = np.ones(m.shape[:-1])
    fix[..., -1] = np.sign(np.linalg.det(u @ vt))
    return (u * fix[..., None, :]) @ vt
