"""What wearing real devices does to IMU readings after a T-pose calibration (ROS-free).

Synthesised readings are perfect: every device sits exactly as calibrated, all agree about
north and share one clock. Worn devices do not (measured on held-out takes: the mounting
slip costs the most, issue 25):

* **mounting slip**: a device turns on its segment after calibration (a watch on the
  wrist, a phone in a pocket): its orientation reads ``segment @ slip``, a rotation of
  ``slip_deg`` typical size about a random axis; its world-frame acceleration is unchanged
  (the device still knows its own orientation);
* **heading offset**: devices disagree about north by a few degrees: the device's whole
  world turns about vertical (+Y), orientation and world-frame acceleration alike;
* **clock offset**: devices' clocks a frame or so apart: a device's readings shift in time
  by a whole number of frames up to ``time_offset_frames`` (edges held);
* **noise** as consumer devices have it: white acceleration noise, a constant acceleration
  bias per device (sensor frame) and orientation jitter.

Each draw is per window (training) or per clip (evaluation) and per site. ``WEAR_PROFILES``
names the profiles the evaluation reports: ``clean`` (none) and ``worn``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rotations


@dataclass(frozen=True)
class WearConfig:
    slip_deg: float = 10.0  # mean angle of the mounting slip (random axis)
    heading_deg: float = 5.0  # std of each device's heading offset about vertical
    time_offset_frames: int = 1  # each device's clock off by -n..n frames (uniform)
    acc_noise_std: float = 0.2  # m/s^2, white
    acc_bias_std: float = 0.05  # m/s^2 per axis, constant per device, sensor frame
    ori_noise_deg: float = 0.5  # std per axis-angle component, per sample


WEAR_PROFILES: dict[str, WearConfig | None] = {"clean": None, "worn": WearConfig()}


def wear(acc: np.ndarray, ori: np.ndarray, config: WearConfig, rng: np.random.Generator):
    """Worn readings of clean ones: acc (..., T, S, 3) m/s^2 world frame, ori (..., T, S, 3, 3)
    world-from-sensor; one draw per leading index and site. Returns new arrays."""
    acc, ori = np.asarray(acc, np.float64), np.asarray(ori, np.float64)
    lead, (frames, sites) = acc.shape[:-3], acc.shape[-3:-1]
    per_device = lead + (1, sites)
    if config.time_offset_frames > 0:
        shift = rng.integers(-config.time_offset_frames, config.time_offset_frames + 1, size=lead + (sites,))
        index = np.clip(np.arange(frames)[:, None] - shift[..., None, :], 0, frames - 1)  # (..., T, S)
        acc = np.take_along_axis(acc, index[..., None], axis=-3)
        ori = np.take_along_axis(ori, index[..., None, None], axis=-4)
    if config.slip_deg > 0:
        # A 3-D Gaussian axis-angle of std s has mean size s * sqrt(8 / pi).
        std = np.deg2rad(config.slip_deg) / np.sqrt(8.0 / np.pi)
        ori = ori @ rotations.axis_angle_to_matrix(rng.normal(0.0, std, per_device + (3,)))
    if config.acc_bias_std > 0:
        bias = rng.normal(0.0, config.acc_bias_std, per_device + (3,))
        acc = acc + np.einsum("...ij,...j->...i", ori, np.broadcast_to(bias, acc.shape))
    if config.acc_noise_std > 0:
        acc = acc + rng.normal(0.0, config.acc_noise_std, acc.shape)
    error = np.broadcast_to(np.eye(3), acc.shape[:-1] + (3, 3))  # of the device's own estimate
    if config.heading_deg > 0:
        heading = rotations.axis_rotation("Y", rng.normal(0.0, np.deg2rad(config.heading_deg), per_device))
        error = heading @ error
    if config.ori_noise_deg > 0:
        error = rotations.axis_angle_to_matrix(rng.normal(0.0, np.deg2rad(config.ori_noise_deg), acc.shape)) @ error
    # A device turns its sensor-frame acceleration into the world with its own estimate.
    return (error @ acc[..., None])[..., 0], error @ ori
