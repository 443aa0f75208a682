"""IMU readings synthesised from motion, as TransPose / IMUPoser do from AMASS.

Frames and units (see ``frames.py``):

* world = the body frame: metres, Y up, the body faces +Z in its rest pose, +X is
  the body's left. Time in seconds, rates in Hz.
* ``acc`` (T, 5, 3): acceleration in m/s^2 expressed in the world frame. With
  ``gravity="included"`` it is the specific force ``a - g`` with
  ``g = (0, -GRAVITY, 0)``, i.e. what a phone / ROS ``sensor_msgs/Imu`` reports once
  rotated into the world: a sensor at rest reads ``(0, +9.80665, 0)``. With
  ``gravity="removed"`` it is the kinematic acceleration ``a`` (zero at rest).
* ``ori`` (T, 5, 3, 3): world-from-sensor rotation (``v_world = ori @ v_sensor``),
  calibrated so that every sensor reads identity when the wearer stands in SMPL's
  T-pose facing +Z. It equals the global rotation of the segment the sensor is
  strapped to.

The five sites are fixed, in the order of ``IMU_SITES``; every array with a site
axis uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import rotations
from .clip import MotionClip, resample_times

GRAVITY = 9.80665  # m/s^2, standard gravity
ACC_SCALE = 30.0  # IMUPoser divides accelerations by this before the network


@dataclass(frozen=True)
class ImuSite:
    """Where a sensor sits on the SMPL-22 body.

    ori_joint: the joint whose global rotation is the sensor's orientation (the
        segment below that joint carries the sensor).
    pos_joints, blend: the sensor is at ``(1 - blend) * p[a] + blend * p[b]``.
    segment, rest_direction: joints (from, to) of the carrying segment and its unit
        direction in the T-pose, used for swing-only orientations from positions.
    """

    name: str
    ori_joint: int
    pos_joints: tuple[int, int]
    blend: float
    segment: tuple[int, int]
    rest_direction: tuple[float, float, float]


SITES = (
    ImuSite("left_wrist", 18, (20, 20), 0.0, (18, 20), (1.0, 0.0, 0.0)),
    ImuSite("right_wrist", 19, (21, 21), 0.0, (19, 21), (-1.0, 0.0, 0.0)),
    ImuSite("left_pocket", 1, (1, 4), 0.4, (1, 4), (0.0, -1.0, 0.0)),
    ImuSite("right_pocket", 2, (2, 5), 0.4, (2, 5), (0.0, -1.0, 0.0)),
    ImuSite("head", 15, (15, 15), 0.0, (12, 15), (0.0, 1.0, 0.0)),
)
IMU_SITES = tuple(s.name for s in SITES)
NUM_SITES = len(SITES)


@dataclass
class ImuReadings:
    """IMU readings at the five sites (see the module doc for frames and units).

    acc: (T, 5, 3) m/s^2, world frame. ori: (T, 5, 3, 3) world-from-sensor.
    mask: (5,) bool, which sites are present (all True for synthesised data).
    """

    acc: np.ndarray
    ori: np.ndarray
    fps: float
    sites: tuple[str, ...] = IMU_SITES
    mask: np.ndarray = field(default_factory=lambda: np.ones(NUM_SITES, dtype=bool))

    def __post_init__(self):
        self.acc = np.asarray(self.acc, np.float64)
        self.ori = np.asarray(self.ori, np.float64)
        self.mask = np.asarray(self.mask, dtype=bool)
        n = len(self.sites)
        if self.acc.shape[1:] != (n, 3) or self.ori.shape != self.acc.shape[:2] + (3, 3) or self.mask.shape != (n,):
            raise ValueError(
                f"bad IMU shapes: acc {self.acc.shape}, ori {self.ori.shape}, mask {self.mask.shape} for {n} sites"
            )

    @property
    def num_frames(self) -> int:
        return len(self.acc)


@dataclass(frozen=True)
class ImuSynthesisConfig:
    """How to synthesise readings; the defaults give clean data at the motion rate.

    gravity: "included" (specific force, +9.81 up at rest) or "removed".
    smoothing_n: span n of the second difference at 60 fps; scaled with the rate.
    acc_noise_std: white noise on every sample, m/s^2 (isotropic).
    acc_bias_std: a constant bias per site and sequence, drawn in the sensor frame,
        m/s^2 per axis.
    ori_noise_std_deg: a random small rotation per sample (axis-angle, std per
        component, degrees), an error of the device's orientation estimate.
    yaw_drift_std_deg_per_s: per site and sequence a yaw drift rate about world +Y
        is drawn with this std (degrees per second); the error grows linearly in time.
    sensor_rate: if set, readings are resampled to this rate (Hz) before noise is
        added, to mimic a real device's rate.

    Orientation errors (noise and drift) are errors of the device's estimate, and a
    device rotates its sensor-frame acceleration into the world with that estimate,
    so they rotate ``acc`` too: ``ori_sensor^T @ acc`` is unchanged by them.
    """

    gravity: str = "included"
    smoothing_n: int = 4
    acc_noise_std: float = 0.0
    acc_bias_std: float = 0.0
    ori_noise_std_deg: float = 0.0
    yaw_drift_std_deg_per_s: float = 0.0
    sensor_rate: float | None = None

    def __post_init__(self):
        if self.gravity not in ("included", "removed"):
            raise ValueError(f"gravity must be 'included' or 'removed', got {self.gravity!r}")
        if self.smoothing_n < 1:
            raise ValueError("smoothing_n must be >= 1")


# ------------------------------------------------------------------ clean synthesis
def site_positions(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joints -> (T, 5, 3) sensor positions."""
    joints = np.asarray(joints, np.float64)
    return np.stack(
        [(1.0 - s.blend) * joints[:, s.pos_joints[0]] + s.blend * joints[:, s.pos_joints[1]] for s in SITES], axis=1
    )


def site_orientations(joints: np.ndarray, global_rotations: np.ndarray | None) -> np.ndarray:
    """(T, 5, 3, 3) world-from-sensor orientations.

    With global rotations, the rotation of each site's segment. Without them
    (position-only sources), a swing-only rotation: the shortest arc from the
    segment's T-pose direction to its current direction. Twist about the segment is
    then unknown (taken as zero).
    """
    if global_rotations is not None:
        return np.asarray(global_rotations, np.float64)[:, [s.ori_joint for s in SITES]]
    joints = np.asarray(joints, np.float64)
    current = np.stack([joints[:, s.segment[1]] - joints[:, s.segment[0]] for s in SITES], axis=1)
    rest = np.array([s.rest_direction for s in SITES])
    return rotations.quat_to_matrix(rotations.qbetween(np.broadcast_to(rest, current.shape), current))


def smoothing_span(fps: float, n_at_60: int = 4) -> int:
    """The second-difference span at ``fps`` matching ``n_at_60`` frames at 60 fps."""
    return max(1, int(round(n_at_60 * fps / 60.0)))


def kinematic_acceleration(positions: np.ndarray, fps: float, n: int) -> np.ndarray:
    """Smoothed second difference ``(p[t-n] + p[t+n] - 2 p[t]) * fps^2 / n^2``.

    Exact for quadratic trajectories. Frames within ``n`` of either end take the
    nearest valid value (edge padding). Clips shorter than ``2n + 1`` frames use the
    largest span that fits; with fewer than 3 frames the acceleration is zero.
    """
    T = len(positions)
    n = min(n, (T - 1) // 2)
    if n < 1:
        return np.zeros_like(positions)
    valid = (positions[: -2 * n] + positions[2 * n :] - 2.0 * positions[n:-n]) * (fps / n) ** 2
    pad = [(n, n)] + [(0, 0)] * (positions.ndim - 1)
    return np.pad(valid, pad, mode="edge")


def _clean(joints, global_rotations, fps, config: ImuSynthesisConfig) -> ImuReadings:
    joints = np.asarray(joints, np.float64)
    acc = kinematic_acceleration(site_positions(joints), fps, smoothing_span(fps, config.smoothing_n))
    if config.gravity == "included":
        acc = acc + np.array([0.0, GRAVITY, 0.0])  # a - g, g = (0, -GRAVITY, 0)
    return ImuReadings(acc=acc, ori=site_orientations(joints, global_rotations), fps=float(fps))


# ------------------------------------------------------------------ augmentation
def _augment(r: ImuReadings, config: ImuSynthesisConfig, rng: np.random.Generator) -> ImuReadings:
    T, S = r.acc.shape[:2]
    acc, ori = r.acc.copy(), r.ori.copy()
    if config.acc_bias_std > 0:  # constant, in the sensor frame
        bias = rng.normal(0.0, config.acc_bias_std, size=(S, 3))
        acc += np.einsum("tsij,sj->tsi", r.ori, bias)
    if config.acc_noise_std > 0:
        acc += rng.normal(0.0, config.acc_noise_std, size=acc.shape)
    err = np.broadcast_to(np.eye(3), (T, S, 3, 3))  # world-frame error of the estimate
    if config.yaw_drift_std_deg_per_s > 0:
        rate = np.deg2rad(rng.normal(0.0, config.yaw_drift_std_deg_per_s, size=S))
        err = rotations.axis_rotation("Y", (np.arange(T) / r.fps)[:, None] * rate) @ err
    if config.ori_noise_std_deg > 0:
        aa = rng.normal(0.0, np.deg2rad(config.ori_noise_std_deg), size=(T, S, 3))
        err = rotations.axis_angle_to_matrix(aa) @ err
    acc = (err @ acc[..., None])[..., 0]
    return replace(r, acc=acc, ori=err @ ori)


def synthesize_imu(
    joints: np.ndarray,
    global_rotations: np.ndarray | None,
    fps: float,
    config: ImuSynthesisConfig = ImuSynthesisConfig(),
    rng: np.random.Generator | int | None = None,
) -> ImuReadings:
    """Readings of the five sites from joints (T, 22, 3) and global rotations.

    ``global_rotations`` (T, 22, 3, 3) or None (swing-only orientations, twist
    unknown). Synthesised at ``fps``, optionally resampled to ``config.sensor_rate``,
    then noise is added. ``rng``: a Generator, or a seed for one; unused for clean
    data. No global random state is touched.
    """
    readings = _clean(joints, global_rotations, fps, config)
    if config.sensor_rate is not None:
        readings = resample_imu(readings, config.sensor_rate)
    noisy = (config.acc_noise_std, config.acc_bias_std, config.ori_noise_std_deg, config.yaw_drift_std_deg_per_s)
    if any(v > 0 for v in noisy):
        readings = _augment(readings, config, np.random.default_rng(rng))
    return readings


def synthesize_from_clip(
    clip: MotionClip, config: ImuSynthesisConfig = ImuSynthesisConfig(), rng: np.random.Generator | int | None = None
) -> ImuReadings:
    """``synthesize_imu`` on a clip's joints, global rotations and rate."""
    return synthesize_imu(clip.joints, clip.global_rotations, clip.fps, config, rng)


# ------------------------------------------------------------------ utilities
def resample_imu(readings: ImuReadings, rate: float) -> ImuReadings:
    """Resample to ``rate`` Hz over the same duration: acc linearly, ori by slerp."""
    if abs(readings.fps - rate) < 1e-6:
        return readings
    T = readings.num_frames
    t = resample_times(T, readings.fps, rate)
    i0 = np.minimum(np.floor(t).astype(int), T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    w = t - i0
    acc = readings.acc[i0] * (1 - w)[:, None, None] + readings.acc[i1] * w[:, None, None]
    q = rotations.matrix_to_quat(readings.ori)
    ori = rotations.quat_to_matrix(rotations.slerp_quat(q[i0], q[i1], w[:, None]))
    return replace(readings, acc=acc, ori=ori, fps=float(rate))


def apply_world_rotation(readings: ImuReadings, R: np.ndarray) -> ImuReadings:
    """Express readings in a rotated world frame: ``acc -> R @ acc``, ``ori -> R @ ori``.

    R: (3, 3), or (T, 3, 3) for one rotation per frame.
    """
    R = np.asarray(R, np.float64)
    Rb = (R[None] if R.ndim == 2 else R)[:, None]  # (T or 1, 1, 3, 3)
    return replace(readings, acc=(Rb @ readings.acc[..., None])[..., 0], ori=Rb @ readings.ori)


def model_inputs(readings: ImuReadings) -> np.ndarray:
    """(T, 5, 9) network input of one reading set, see ``network_inputs`` (no heading
    alignment, absent sites from ``readings.mask``)."""
    present = np.broadcast_to(readings.mask, readings.acc.shape[:-1])
    return network_inputs(readings.acc, readings.ori, present, align_heading=False)


def sensor_heading(ori: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Yaw (radians about +Y) of the present sensors' mean horizontal forward axis.

    ori (..., T, 5, 3, 3), present (..., T, 5) -> (...,). A sensor's forward axis is
    ``ori @ +Z``: the body's forward when it stood in the calibration pose. 0 when no
    sensor is present. Used to put a window in a frame that needs no ground truth.
    """
    forward = ori[..., :, 2] * present[..., None]
    return np.arctan2(forward[..., 0].sum((-1, -2)), forward[..., 2].sum((-1, -2)))


def network_inputs(acc: np.ndarray, ori: np.ndarray, present: np.ndarray, align_heading: bool = True) -> np.ndarray:
    """Network input (..., T, 5, 9): ``acc / ACC_SCALE`` and the 6-D rotation of ``ori``.

    IMUPoser's scaling; with gravity-included data nothing is subtracted, so a sensor at
    rest gives (0, 0.327, 0). Absent sites (``present`` False) are all zeros. With
    ``align_heading`` the window is first turned about +Y so that ``sensor_heading``
    is 0: the same rule in training and online, no ground truth needed.
    """
    present = np.asarray(present, dtype=bool)
    if align_heading:
        turn = rotations.axis_rotation("Y", -sensor_heading(ori, present))
        acc = np.einsum("...ij,...tsj->...tsi", turn, acc)
        ori = np.einsum("...ij,...tsjk->...tsik", turn, ori)
    x = np.concatenate([acc / ACC_SCALE, rotations.matrix_to_cont6d(ori)], axis=-1)
    return (x * present[..., None]).astype(np.float32)
