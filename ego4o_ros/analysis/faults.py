"""The array side of the fault benchmark (``nodes/fault_benchmark.py`` is its ROS shell):
the dropout schedule, junk texts, and the measures taken from what the graph published
(output continuity, stamp grid residual, pose offset against the ground truth, memory
growth, what a killed recorder lost). ROS-free: plain arrays and bag files."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CAMERA = "camera"


@dataclass(frozen=True)
class Dropout:
    start: float  # s after the first sample
    end: float
    sites: tuple[str, ...]  # IMU sites, and "camera"


# ---------------------------------------------------------------------------------------------
# The plan (ROS-free)


def dropout_schedule(
    duration: float,
    sites: tuple[str, ...],
    seed: int = 0,
    warmup: float = 3.0,
    tail: float = 3.0,
    span: tuple[float, float] = (0.5, 3.0),
    between: tuple[float, float] = (1.0, 4.0),
    all_probability: float = 0.3,
) -> list[Dropout]:
    """Non-overlapping dropouts between ``warmup`` and ``duration - tail``: each a random
    subset of the IMU sites (the camera half the time) or, with ``all_probability``, every
    sensor at once."""
    rng = np.random.default_rng(seed)
    out, t = [], warmup
    while True:
        t += rng.uniform(*between)
        length = rng.uniform(*span)
        if t + length > duration - tail:
            return out
        if len(sites) == 1 or rng.random() < all_probability:
            chosen = (*sites, CAMERA)
        else:
            count = int(rng.integers(1, len(sites)))
            picked = set(rng.choice(len(sites), count, replace=False).tolist())
            chosen = tuple(s for i, s in enumerate(sites) if i in picked)
            chosen += (CAMERA,) if rng.random() < 0.5 else ()
        out.append(Dropout(round(t, 3), round(t + length, 3), chosen))
        t += length


def dropped(schedule: list[Dropout], site: str, t: float) -> bool:
    return any(d.start <= t < d.end and site in d.sites for d in schedule)


def junk_text(kind: str, rng: np.random.Generator) -> str:
    if kind == "text_emoji":
        return "".join(chr(c) for c in rng.integers(0x1F300, 0x1F64F, int(rng.integers(1, 40))))
    if kind == "text_random_unicode":  # no surrogates (ROS strings are UTF-8)
        return "".join(chr(c) for c in rng.integers(0xA0, 0x9FFF, int(rng.integers(5, 200))))
    if kind == "text_control_chars":
        # No NUL: a ROS string ends at the first one ("walk\x00junk" arrives as "walk").
        return "a person walks\x01\x1b[2J forward\x07\x7f"
    if kind == "text_100kB":
        return ("a person walks forward " * 4400)[:100_000]
    if kind == "text_empty":
        return "" if rng.random() < 0.5 else "   \n\t "
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# Analysis (ROS-free)


def covered_intervals(forwarded: dict[str, np.ndarray], max_gap: float) -> list[tuple[float, float]]:
    """Spans where at least one sensor had samples no further apart than ``max_gap`` (the
    fusion node's ``max_sensor_age``: it never interpolates across a wider hole), merged."""
    spans = []
    for stamps in forwarded.values():
        stamps = np.sort(np.asarray(stamps, np.float64))
        if not len(stamps):
            continue
        cuts = np.flatnonzero(np.diff(stamps) > max_gap)
        starts, ends = np.r_[stamps[0], stamps[cuts + 1]], np.r_[stamps[cuts], stamps[-1]]
        spans += list(zip(starts.tolist(), ends.tolist()))
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + max_gap:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def output_continuity(intervals, stamps: np.ndarray, fps: float, lookahead: int, eps: float = 1e-4) -> dict:
    """Grid frames expected over ``intervals`` (on the output's own grid phase; the last
    ``lookahead`` frames of each span are never made: their look-ahead data does not exist)
    vs outputs published there; the longest gap in the output inside a span; outputs outside
    every span (motion invented with no sensor present)."""
    stamps = np.unique(np.asarray(stamps, np.float64))
    dt = 1.0 / fps
    inside = np.zeros(len(stamps), bool)
    expected = published = missing = 0
    longest, worst_at = 0.0, None
    for a, b in intervals:
        end = b - lookahead * dt
        in_span = (stamps >= a - eps) & (stamps <= b + eps)
        inside |= in_span
        s = stamps[in_span]
        if end < a:
            continue
        phase = s[0] if len(s) else a
        first = math.ceil((a - phase) * fps - eps * fps)
        last = math.floor((end - phase) * fps + eps * fps)
        n_expected = max(0, last - first + 1)
        n_published = int((s <= end + eps).sum())
        expected += n_expected
        published += min(n_published, n_expected)
        missing += max(0, n_expected - n_published)
        edges = np.r_[a, s[s <= end + eps], end]
        gaps = np.diff(edges)
        if len(gaps) and gaps.max() > longest:
            longest, worst_at = float(gaps.max()), float(edges[int(np.argmax(gaps))])
    return {
        "expected": expected,
        "published": published,
        "missing": missing,
        "longest_gap_s": longest,
        "longest_gap_at": worst_at,
        "outside": int((~inside).sum()),
    }


def grid_residual(stamps: np.ndarray, inputs: np.ndarray, fps: float, split_frames: float = 1.5) -> dict:
    """How far output stamps are from the data's grid. Streams are runs of outputs without a
    gap; within one every stamp must be ``first + k / fps``; its first stamp must be the stamp
    of a forwarded input sample, or continue the grid of the stream before (a stream restarted
    after a short hole or skipped frames keeps its grid)."""
    stamps = np.unique(np.asarray(stamps, np.float64))
    inputs = np.unique(np.asarray(inputs, np.float64))
    if not len(stamps):
        return {"streams": 0, "within_s": float("nan"), "anchor_s": float("nan"), "max_s": float("nan")}
    dt = 1.0 / fps
    streams = np.split(stamps, np.flatnonzero(np.diff(stamps) > split_frames * dt) + 1)
    within = anchor = 0.0
    previous = None
    for s in streams:
        s0 = s[0]
        k = np.round((s - s0) * fps)
        within = max(within, float(np.abs(s - s0 - k * dt).max()))
        candidates = []
        if len(inputs):
            i = int(np.clip(np.searchsorted(inputs, s0), 1, max(len(inputs) - 1, 1)))
            candidates.append(float(np.min(np.abs(inputs[max(i - 1, 0) : i + 1] - s0))))
        if previous is not None:
            x = (s0 - previous) * fps
            candidates.append(abs(x - round(x)) * dt)
        anchor = max(anchor, min(candidates) if candidates else float("inf"))
        previous = s0
    return {"streams": len(streams), "within_s": within, "anchor_s": anchor, "max_s": max(within, anchor)}


def canonical(joints_ros: np.ndarray) -> np.ndarray:
    """(N, 22, 3) REP-103 joints -> each frame in its canonical frame (root at the origin,
    facing +Z, feet on the floor), as ``live.scoring.score`` compares them."""
    from ..core import frames

    body = np.asarray(joints_ros, np.float64) @ frames.ROS_FROM_BODY
    return np.stack([frames.canonical_frame(j[None]).points(j[None])[0] for j in body]) if len(body) else body


def _interpolate(stamps: np.ndarray, values: np.ndarray, at: np.ndarray, fps: float):
    """``values`` (M, ...) at sorted ``stamps``, linearly at ``at``; and where that is valid
    (inside the data, no hole wider than 1.5 frames around)."""
    i = np.clip(np.searchsorted(stamps, at), 1, len(stamps) - 1)
    lo, hi = stamps[i - 1], stamps[i]
    valid = (at >= stamps[0]) & (at <= stamps[-1]) & (hi - lo < 1.5 / fps)
    w = np.clip((at - lo) / np.maximum(hi - lo, 1e-9), 0, 1).reshape(-1, *[1] * (values.ndim - 1))
    return values[i - 1] + w * (values[i] - values[i - 1]), valid


def pose_offsets(
    intervals,
    predicted: tuple[np.ndarray, np.ndarray],
    truth: tuple[np.ndarray, np.ndarray],
    fps: float,
    max_k: int = 10,
    min_frames: int = 60,
) -> list[dict]:
    """Per span: the frame offset k in -max_k..max_k whose ground truth (at s + k / fps,
    interpolated) best matches the output pose at stamp s (median over the span of the
    per-frame mean joint error, each frame in its canonical frame). 0 when outputs carry the
    time of their pose; ``margin_mm``: how much worse the best k != 0 is. ``mpjpe_mm``: the
    project's score (``live.scoring.score``) of the span at k = 0."""
    from ..live.scoring import score

    p_stamps, p_joints = predicted
    t_stamps, t_joints = truth
    if len(t_stamps) < 2 or not len(p_stamps):
        return []
    order = np.argsort(t_stamps)
    t_stamps, t_joints = np.asarray(t_stamps, np.float64)[order], np.asarray(t_joints, np.float64)[order]
    t_canon = canonical(t_joints)
    p_stamps, p_joints = np.asarray(p_stamps, np.float64), np.asarray(p_joints, np.float64)
    p_canon = canonical(p_joints)
    out = []
    for a, b in intervals:
        sel = (p_stamps >= a) & (p_stamps <= b)
        if sel.sum() < min_frames:
            continue
        s, pred = p_stamps[sel], p_canon[sel]
        errors = []
        for k in range(-max_k, max_k + 1):
            gt, valid = _interpolate(t_stamps, t_canon, s + k / fps, fps)
            per_frame = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
            errors.append(float(np.median(per_frame[valid])) if valid.any() else float("inf"))
        best = int(np.argmin(errors)) - max_k
        gt, valid = _interpolate(t_stamps, t_joints, s, fps)
        out.append(
            {
                "start": a,
                "end": b,
                "frames": int(sel.sum()),
                "offset_frames": best,
                "error_mm_at_0": 1000 * errors[max_k],
                "margin_mm": 1000 * (min(e for j, e in enumerate(errors) if j != max_k) - errors[max_k]),
                "mpjpe_mm": score(p_joints[sel][valid], gt[valid])["mpjpe_mm"],
            }
        )
    return out


def memory_growth(samples: list[tuple[float, float]], duration: float, baseline_at: float = 0.2) -> dict:
    """RSS (bytes) samples (t s from the start, rss): the RSS around ``baseline_at`` of the
    run (the load and warm-up before it are not growth) -> the end (median of the last 5)."""
    if len(samples) < 3:
        return {"baseline_mb": float("nan"), "end_mb": float("nan"), "growth_pct": float("nan")}
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples])
    near = np.abs(t - baseline_at * duration) <= max(0.05 * duration, 1.0)
    baseline = float(np.median(rss[near])) if near.any() else float(rss[np.argmin(np.abs(t - baseline_at * duration))])
    end = float(np.median(rss[-5:]))
    return {
        "baseline_mb": baseline / 2**20,
        "end_mb": end / 2**20,
        "peak_mb": float(rss.max()) / 2**20,
        "growth_pct": 100 * (end - baseline) / baseline,
    }


def recorder_loss(bag: Path, killed_at: float, work: Path) -> dict:
    """A bag whose recorder got SIGKILL at ``killed_at`` (s, the recorder's clock): read back
    with the project's reader (repaired on a copy when torn); the seconds between the kill and
    its last message are what the kill lost."""
    from ..core.bag import read_bag
    from .reading import readable_copy

    try:
        path, notes = readable_copy(Path(bag), Path(work))
        count, last, topics = 0, None, set()
        for message in read_bag(path):
            count += 1
            topics.add(message.topic)
            last = message.timestamp_ns if last is None else max(last, message.timestamp_ns)
    except Exception as error:  # the point is to find out
        return {"readable": False, "error": f"{type(error).__name__}: {str(error)[:200]}"}
    return {
        "readable": True,
        "repaired": bool(notes),
        "messages": count,
        "topics": len(topics),
        "lost_s": float("nan") if last is None else killed_at - last * 1e-9,
    }


# ---------------------------------------------------------------------------------------------
# The run (ROS)


def stamp_of(cdr: bytes) -> float:
    """header.stamp of a serialized message that starts with a std_msgs/Header."""
    endian = "<" if cdr[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", cdr, 4)
    return sec + nanosec * 1e-9
