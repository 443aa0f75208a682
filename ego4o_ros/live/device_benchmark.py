"""A real recording through the real device path: ``ego4o-device-benchmark``.

A recording is turned into the packets its devices would send (or read as such), fed
through ``devices.Bridge`` exactly as the wearable bridge node does (parsing, conventions,
clock mapping), and the samples it publishes go into the live capture loop the fusion node
runs (``LiveCapture``, ROS-free). Per recording it prints frames out, NaN frames, the
median spread of the output's bone lengths, how high the feet stay above the model's floor
(p95 of the lower foot), and per worn wrist the correlation between the forearm's measured
elevation (its sensor's orientation, the forearm's rest direction) and the output forearm's.

Recordings read here (from a local copy the user points to; none ships with the package):

* a folder with TransPose's ``acc.pt`` / ``ori.pt`` (Xinyu-Yi/TransPose ``data/example``:
  6 real Noitom IMUs at 60 Hz, calibrated: orientations are the segments' (identity in the
  T-pose), accelerations in m/s^2 with gravity taken out, in the SMPL frame = our body
  frame). Its forearms and head are our ``left_wrist``, ``right_wrist`` and ``head``; its
  lower legs and pelvis have no site of ours. They are sent as an Apple Watch on each
  wrist and AirPods would send them through the IMUPoser app.
* a file of IMUPoser app lines (one datagram per line, e.g. saved with ``nc -lu 8001``), with
  a profile of ``config/devices.yaml`` saying which device is which site.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core import body, features, frames, imu, rotations
from ..devices import Bridge, DeviceConfig, Profile, load_profile
from ..devices.config import default_devices_file
from ..devices.recordings import imuposer_datagrams, read_lines
from ..paths import DEFAULT_WEIGHTS, SAMPLE_CLIP
from .capture import LiveCaptureConfig, LiveFrame, load_live_capture

TRANSPOSE_SITES = {0: "left_wrist", 1: "right_wrist", 4: "head"}  # its sensor order -> ours
TRANSPOSE_RATE = 60.0
FOREARMS = {"left_wrist": (18, 20), "right_wrist": (19, 21)}  # elbow -> wrist joints
FEET = (7, 8, 10, 11)
ARRIVAL_DELAY_S = 0.02  # network delay given to a recording without arrival times
# How each site is sent: the IMUPoser app's key and the devices.yaml convention.
DEVICES = {
    "left_wrist": ("left;watch", "coremotion"),
    "right_wrist": ("right;watch", "coremotion"),
    "left_pocket": ("left;phone", "coremotion"),
    "right_pocket": ("right;phone", "coremotion"),
    "head": ("left;headphone", "coremotion_earbuds"),
}


@dataclass
class DeviceRecording:
    name: str
    profile: Profile
    datagrams: list[tuple[float, bytes]]  # (arrival on the receiver's clock, packet), in arrival order


@dataclass
class BenchmarkRow:
    name: str
    sites: tuple[str, ...]
    duration_s: float
    samples: int  # samples the bridge published
    refused: int  # packets it refused
    frames: int
    nan_frames: int
    bone_spread_mm: float  # median over bones of a bone's length spread (p95 - p5)
    foot_p95_mm: float  # p95 over frames of the lower foot joint's height above the model's floor
    foot_min_mm: float
    wrist_correlation: dict[str, float] = field(default_factory=dict)  # forearm elevation, measured vs output


def _profile(sites, name: str = "benchmark") -> Profile:
    import yaml

    from ..devices.config import _conventions

    path = default_devices_file()
    conventions = _conventions(path, yaml.safe_load(path.read_text())["conventions"])
    devices = tuple(DeviceConfig(site, DEVICES[site][0], site, conventions[DEVICES[site][1]]) for site in sites)
    return Profile(name, "imuposer", devices)


def readings_recording(name: str, times: np.ndarray, acc: dict, ori: dict, start: float = 1.7e9) -> DeviceRecording:
    """Body-frame readings per site (acc (T, 3) m/s^2 with gravity, ori (T, 3, 3)) at
    ``times`` -> the IMUPoser lines their devices would send, arriving ``ARRIVAL_DELAY_S``
    after they were measured on a receiver whose clock reads ``start`` at the first."""
    profile = _profile(tuple(acc), name)
    datagrams = []
    for k, device in enumerate(profile.devices):
        # each device its own boot time (CoreMotion's clock); the phone's wall clock is the receiver's
        lines = imuposer_datagrams(
            device.key, times, acc[device.site], ori[device.site], device.convention, 1000.0 * (k + 1), start
        )
        datagrams += [(start + t + ARRIVAL_DELAY_S, line) for t, line in zip(times, lines)]
    datagrams.sort(key=lambda d: d[0])
    return DeviceRecording(name, profile, datagrams)


def transpose_recording(folder: str | Path) -> DeviceRecording:
    import torch

    folder = Path(folder)
    acc = torch.load(folder / "acc.pt", weights_only=True).double().numpy().reshape(-1, 6, 3)
    ori = torch.load(folder / "ori.pt", weights_only=True).double().numpy().reshape(-1, 6, 3, 3)
    times = np.arange(len(acc)) / TRANSPOSE_RATE
    specific_force = acc + imu.GRAVITY * frames.UP  # gravity back in: what a device measures
    return readings_recording(
        folder.name,
        times,
        {site: specific_force[:, i] for i, site in TRANSPOSE_SITES.items()},
        {site: ori[:, i] for i, site in TRANSPOSE_SITES.items()},
    )


def sample_walk_recording(sites=("left_wrist", "right_pocket", "head"), rate: float = 50.0) -> DeviceRecording:
    """The bundled walk, synthesised (``core/imu.py``) and sent as the IMUPoser app would."""
    from ..readers import read_clip

    clip = read_clip(SAMPLE_CLIP, target_fps=30)
    clip = replace(clip, joints=features.retarget_to_template(clip.joints))
    readings = imu.resample_imu(imu.synthesize_from_clip(clip), rate)
    times = np.arange(readings.num_frames) / rate
    index = {site: imu.IMU_SITES.index(site) for site in sites}
    return readings_recording(
        "bundled walk (synthesised)",
        times,
        {s: readings.acc[:, i] for s, i in index.items()},
        {s: readings.ori[:, i] for s, i in index.items()},
    )


def load_recording(path: str | Path, devices: str | Path | None = None, profile: str = "imuposer") -> DeviceRecording:
    path = Path(path)
    if path.is_dir():
        if not (path / "acc.pt").exists() or not (path / "ori.pt").exists():
            raise FileNotFoundError(f"{path}: expected TransPose's acc.pt and ori.pt in it")
        return transpose_recording(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such recording")
    return DeviceRecording(path.name, load_profile(devices, profile), read_lines(path))


def replay(recording: DeviceRecording, capture) -> tuple[list[LiveFrame], dict, Bridge]:
    """Every packet through the bridge, every sample it publishes into ``capture``; returns
    the frames, the measured orientations per site ((stamps, world-from-sensor (N, 3, 3)
    in the body frame)) and the bridge (its counts)."""
    bridge = Bridge(recording.profile)
    out: list[LiveFrame] = []
    measured: dict[str, tuple[list, list]] = {d.site: ([], []) for d in recording.profile.devices}
    arrival = None
    for arrival, data in recording.datagrams:
        for sample in bridge.feed(data, arrival):
            if capture.push_imu(sample.site, sample.stamp, sample.acc, sample.quat_xyzw, now=arrival) is None:
                measured[sample.site][0].append(sample.stamp)
                measured[sample.site][1].append(sample.quat_xyzw)
        out += capture.advance(now=arrival)
    if arrival is not None:
        out += capture.advance(now=arrival + 1.0)
    orientations = {
        site: (np.array(stamps), frames.BODY_FROM_ROS @ rotations.xyzw_to_matrix(np.array(quats)))
        for site, (stamps, quats) in measured.items()
        if stamps
    }
    return out, orientations, bridge


def score(recording: DeviceRecording, frames_out: list[LiveFrame], measured: dict, bridge: Bridge) -> BenchmarkRow:
    joints = np.array([f.joints for f in frames_out]).reshape(-1, body.NUM_JOINTS, 3)
    finite = np.isfinite(joints).all(axis=(1, 2))
    good = joints[finite]
    stamps = np.array([f.stamp for f in frames_out])[finite]
    if len(good):
        lengths = np.stack([np.linalg.norm(good[:, j] - good[:, p], axis=-1) for p, j in _bones()], axis=1)
        spread = float(np.median(np.percentile(lengths, 95, axis=0) - np.percentile(lengths, 5, axis=0))) * 1000
        lower_foot = good[:, FEET, 1].min(axis=1)
        foot_p95, foot_min = float(np.percentile(lower_foot, 95)) * 1000, float(lower_foot.min()) * 1000
    else:
        spread = foot_p95 = foot_min = float("nan")
    correlation = {}
    for site, (elbow, wrist) in FOREARMS.items():
        if site in measured and len(good) > 2:
            times, ori = measured[site]
            rest = np.array(imu.SITES[imu.IMU_SITES.index(site)].rest_direction)
            measured_up = np.interp(stamps, times, (ori @ rest)[:, 1])
            forearm = good[:, wrist] - good[:, elbow]
            output_up = forearm[:, 1] / np.linalg.norm(forearm, axis=-1)
            correlation[site] = float(np.corrcoef(measured_up, output_up)[0, 1])
    duration = recording.datagrams[-1][0] - recording.datagrams[0][0] if recording.datagrams else 0.0
    refused = sum(bridge.refused.values()) + sum(sum(d.refused.values()) for d in bridge.devices.values())
    return BenchmarkRow(
        name=recording.name,
        sites=tuple(d.site for d in recording.profile.devices),
        duration_s=float(duration),
        samples=sum(d.published for d in bridge.devices.values()),
        refused=refused,
        frames=int(finite.sum()),
        nan_frames=int((~finite).sum()) + 0,
        bone_spread_mm=spread,
        foot_p95_mm=foot_p95,
        foot_min_mm=foot_min,
        wrist_correlation=correlation,
    )


def _bones():
    return [(int(body.PARENTS[j]), j) for j in range(1, body.NUM_JOINTS)]


def run_recording(recording: DeviceRecording, weights: Path = DEFAULT_WEIGHTS, lookahead: int = 2) -> BenchmarkRow:
    capture, _ = load_live_capture(weights, lookahead, config=LiveCaptureConfig(max_catchup_frames=10**9))
    capture.warm_up()
    frames_out, measured, bridge = replay(recording, capture)
    row = score(recording, frames_out, measured, bridge)
    row.nan_frames += capture.stats.non_finite  # frames the loop refused to publish for NaN
    return row


def format_table(rows: list[BenchmarkRow]) -> str:
    header = (
        "| recording | sites | s | samples (refused) | frames out | NaN frames | bone spread p50 (mm) "
        "| foot p95 / min above floor (mm) | forearm elevation r (left, right) |"
    )
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        corr = ", ".join(f"{r.wrist_correlation[s]:.2f}" if s in r.wrist_correlation else "-" for s in FOREARMS)
        lines.append(
            f"| {r.name} | {' '.join(r.sites)} | {r.duration_s:.1f} | {r.samples} ({r.refused}) | {r.frames} "
            f"| {r.nan_frames} | {r.bone_spread_mm:.1f} | {r.foot_p95_mm:.0f} / {r.foot_min_mm:.0f} | {corr} |"
        )
    return "\n".join(lines)
