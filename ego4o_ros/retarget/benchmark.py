"""The retargeting benchmark (``ego4o-retarget-benchmark``): every validation take of the
Bandai-Namco archive (ground-truth motion), retargeted frame by frame as live.

Inputs are what the fusion node publishes: joint positions on the template skeleton
(``core.features.retarget_to_template``) with the rotations fitted to them
(``core.joint_angles``, carried by ``joint_poses``), so the per-frame time covers
targets + IK + filters, not that fit. Reported: per-frame time p50/p99 (one thread; wall
clock, and the thread's CPU time, which leaves out waiting for a core on a busy machine),
joint-limit violations, keypoint tracking error after scaling (hands, feet, elbows,
knees, head; robot proportions) of the IK solution and of the smoothed output, joint
speed against the URDF's velocity limits, and the frames where the IK did not converge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import features, joint_angles
from ..core.dataset import split_of
from .retargeter import Retargeter, RetargetOptions

# Keypoint groups of the tracking error, by SMPL joint.
TRACKED = {
    "hands": ("left_wrist", "right_wrist"),
    "feet": ("left_ankle", "right_ankle", "left_foot", "right_foot"),
    "elbows": ("left_elbow", "right_elbow"),
    "knees": ("left_knee", "right_knee"),
    "head": ("head",),
}
LIMIT_SLACK = 1e-9  # rad: numerical noise, not a violation


def validation_takes(archive: Path, validation_percent: float = 10.0, fps: float = 30.0, progress=None):
    """Yield (take, joints (T, 22, 3) on the template skeleton) for the validation takes."""
    from ..readers.bandai import read_bandai
    from ..readers.sources import iter_archive

    for name, text, label_json in iter_archive(archive):
        if progress is not None:
            progress.update(1)
        if split_of(Path(name).stem, validation_percent) != "validation":
            continue
        clip = read_bandai(name, text=text, label_json=label_json, target_fps=fps)
        yield clip.take, features.retarget_to_template(clip.joints)


@dataclass
class Accumulator:
    times_ms: list = field(default_factory=list)  # warm frames (every frame after a take's first)
    cold_times_ms: list = field(default_factory=list)  # each take's first frame: no warm start
    cpu_times_ms: list = field(default_factory=list)  # warm frames, CPU time of the thread
    errors_ik: dict = field(default_factory=lambda: {g: [] for g in TRACKED})
    errors_out: dict = field(default_factory=lambda: {g: [] for g in TRACKED})
    speed_ratio: list = field(default_factory=list)  # |joint speed| / URDF limit, per joint and frame
    speed: list = field(default_factory=list)  # |joint speed|, rad/s
    violations: int = 0
    not_converged: int = 0
    frames: int = 0
    takes: int = 0
    iterations: list = field(default_factory=list)


def run_take(retargeter: Retargeter, joints: np.ndarray, fps: float, acc: Accumulator) -> None:
    rotations = joint_angles.global_rotations_from_joints(joints)  # what joint_poses carries
    result = retargeter.retarget_clip(joints, fps, rotations)
    robot = retargeter.robot
    q = result.joint_positions
    acc.violations += int(((q < robot.lower - LIMIT_SLACK) | (q > robot.upper + LIMIT_SLACK)).sum())
    acc.not_converged += int((~result.converged).sum())
    acc.frames += len(q)
    acc.takes += 1
    acc.times_ms.append(result.solve_time_s[1:] * 1e3)
    acc.cold_times_ms.append(result.solve_time_s[:1] * 1e3)
    acc.cpu_times_ms.append(result.cpu_time_s[1:] * 1e3)
    acc.iterations.append(result.iterations)
    for group, joints_of_group in TRACKED.items():
        columns = [i for i, j in enumerate(result.keypoint_joints) if j in joints_of_group]
        if columns:
            acc.errors_ik[group].append(np.linalg.norm(result.reached_ik - result.targets, axis=-1)[:, columns].ravel())
            acc.errors_out[group].append(np.linalg.norm(result.reached - result.targets, axis=-1)[:, columns].ravel())
    if len(q) > 1:
        speed = np.abs(np.diff(q, axis=0)) * fps
        acc.speed.append(speed.ravel())
        acc.speed_ratio.append((speed / robot.velocity_limits).ravel())


def summarize(acc: Accumulator, retargeter: Retargeter) -> dict:
    cat = lambda parts: np.concatenate(parts) if parts else np.array([np.nan])
    times, ratio, speed, cpu = cat(acc.times_ms), cat(acc.speed_ratio), cat(acc.speed), cat(acc.cpu_times_ms)
    tracking = {}
    for group in TRACKED:
        ik, out = cat(acc.errors_ik[group]) * 1000, cat(acc.errors_out[group]) * 1000
        tracking[group] = {
            "ik_mean_mm": float(np.mean(ik)),
            "ik_p95_mm": float(np.percentile(ik, 95)),
            "output_mean_mm": float(np.mean(out)),
            "output_p95_mm": float(np.percentile(out, 95)),
        }
    every_ik = cat([e for g in TRACKED for e in acc.errors_ik[g]]) * 1000
    every_out = cat([e for g in TRACKED for e in acc.errors_out[g]]) * 1000
    tracking["all"] = {
        "ik_mean_mm": float(np.mean(every_ik)),
        "ik_p95_mm": float(np.percentile(every_ik, 95)),
        "output_mean_mm": float(np.mean(every_out)),
        "output_p95_mm": float(np.percentile(every_out, 95)),
    }
    options = retargeter.options
    return {
        "robot": retargeter.map.name,
        "takes": acc.takes,
        "frames": acc.frames,
        "joints": len(retargeter.joint_names),
        "smoothing": options.smoothing,
        "velocity_limits": options.velocity_limits,
        "time_p50_ms": float(np.percentile(times, 50)),
        "time_p99_ms": float(np.percentile(times, 99)),
        "time_max_ms": float(np.max(times)),
        "time_over_5ms": int((times > 5).sum()),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "cpu_p99_ms": float(np.percentile(cpu, 99)),
        "cpu_max_ms": float(np.max(cpu)),
        "cold_start_median_ms": float(np.median(cat(acc.cold_times_ms))),
        "iterations_mean": float(np.mean(cat(acc.iterations))),
        "joint_limit_violations": acc.violations,
        "not_converged_frames": acc.not_converged,
        "speed_p99_rad_s": float(np.percentile(speed, 99)),
        "speed_over_limit_p99": float(np.percentile(ratio, 99)),
        "speed_over_limit_max": float(np.max(ratio)),
        "samples_over_velocity_limit": int((ratio > 1.0).sum()),
        "tracking": tracking,
    }


def run_benchmark(
    archive: Path,
    robot: str = "g1",
    options: RetargetOptions | None = None,
    fps: float = 30.0,
    validation_percent: float = 10.0,
    max_takes: int | None = None,
) -> dict:
    from tqdm import tqdm

    from ..readers.sources import count_archive
    from . import single_threaded_blas

    single_threaded_blas()
    retargeter = Retargeter(robot, options)
    acc = Accumulator()
    started = time.monotonic()
    with tqdm(total=count_archive(archive), unit="take", desc="retargeting validation takes") as progress:
        for _take, joints in validation_takes(archive, validation_percent, fps, progress):
            run_take(retargeter, joints, fps, acc)
            progress.set_postfix(validation=acc.takes, frames=acc.frames)
            if max_takes is not None and acc.takes >= max_takes:
                break
    summary = summarize(acc, retargeter)
    summary["wall_s"] = time.monotonic() - started
    return summary


def format_table(s: dict) -> str:
    lines = [
        f"robot {s['robot']} ({s['joints']} joints): {s['takes']} validation takes, {s['frames']} frames at "
        f"30 Hz; smoothing {'on' if s['smoothing'] else 'off'}, velocity limits "
        f"{'on' if s['velocity_limits'] else 'off'}",
        "",
        "metric | value",
        "--- | ---",
        f"per-frame time p50 / p99 (one thread, warm-started) | {s['time_p50_ms']:.2f} / {s['time_p99_ms']:.2f} ms",
        f"per-frame CPU time p50 / p99 / max (same frames) | {s['cpu_p50_ms']:.2f} / {s['cpu_p99_ms']:.2f} / "
        f"{s['cpu_max_ms']:.2f} ms",
        f"frames over 5 ms (wall clock) | {s['time_over_5ms']}",
        f"first frame of a take (cold start), median | {s['cold_start_median_ms']:.2f} ms",
        f"IK iterations per frame (mean) | {s['iterations_mean']:.1f}",
        f"joint-limit violations | {s['joint_limit_violations']}",
        f"frames not converged | {s['not_converged_frames']}",
        f"joint speed p99 | {s['speed_p99_rad_s']:.2f} rad/s",
        f"joint speed / URDF velocity limit: p99, max | {s['speed_over_limit_p99']:.3f}, "
        f"{s['speed_over_limit_max']:.3f}",
        f"joint speed samples over the URDF limit | {s['samples_over_velocity_limit']}",
        "",
        "tracking error after scaling (mm) | IK mean | IK p95 | output mean | output p95",
        "--- | --- | --- | --- | ---",
    ]
    for group, t in s["tracking"].items():
        lines.append(
            f"{group} | {t['ik_mean_mm']:.1f} | {t['ik_p95_mm']:.1f} | {t['output_mean_mm']:.1f} | "
            f"{t['output_p95_mm']:.1f}"
        )
    lines.append("")
    lines.append("(output = after the smoothing filter: it includes the filter's lag of up to one frame)")
    return "\n".join(lines)
