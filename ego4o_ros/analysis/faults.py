"""The array side of the fault benchmark (``graph/fault_benchmark.py``; ``graph/fault_run.py`` is
its ROS side, ``graph/fault_report.py`` its table): the plan (dropout schedule, the malformed
kinds and the reason each must be refused for, junk texts), what a run records
(``FaultRecord``), and the measures taken from what the graph published (output continuity,
stamp grid residual, pose offset against the ground truth, memory growth, what a killed
recorder lost), put together by ``measure_run``. ROS-free: plain arrays and bag files."""

from __future__ import annotations

import math
import shutil
import struct
from array import array
from dataclasses import asdict, dataclass, field
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


# name -> (input, the reason the fusion node should give)
KINDS = {
    "imu_acc_nan": ("imu", "not_finite"),
    "imu_acc_inf": ("imu", "not_finite"),
    "imu_orientation_nan": ("imu", "not_finite"),
    "imu_orientation_inf": ("imu", "not_finite"),
    # The model does not use angular velocity: a NaN there is harmless, so such a message is
    # sent as an otherwise valid copy of a past sample (it cannot add data): stamp_backwards.
    "imu_angular_velocity_nan": ("imu", "stamp_backwards"),
    "imu_zero_quaternion": ("imu", "bad_orientation"),
    "imu_non_unit_quaternion": ("imu", "bad_orientation"),
    "imu_orientation_not_provided": ("imu", "bad_orientation"),  # orientation_covariance[0] = -1
    "imu_acceleration_not_provided": ("imu", "no_acceleration"),  # linear_acceleration_covariance[0] = -1
    "imu_huge_acceleration": ("imu", "out_of_range"),
    "imu_wrong_frame_id": ("imu", "wrong_frame"),
    "imu_stamp_future": ("imu", "stamp_in_future"),
    "imu_stamp_backwards": ("imu", "stamp_backwards"),
    "imu_stamp_zero": ("imu", "stamp_backwards"),
    "image_wrong_encoding": ("image", "unsupported_encoding"),
    "image_wrong_data_size": ("image", "bad_size"),
    "image_zero_size": ("image", "bad_size"),
    "image_stamp_future": ("image", "stamp_in_future"),
    "image_stamp_backwards": ("image", "stamp_backwards"),
    "compressed_corrupt": ("image", "corrupt"),
    "compressed_unknown_format": ("image", "unsupported_encoding"),
    "text_emoji": ("text", "not_text"),
    "text_random_unicode": ("text", "not_text"),
    "text_control_chars": ("text", "not_text"),
    "text_100kB": ("text", "too_long"),
    "text_empty": ("text", "empty"),
}


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
# What a run records (ROS-free)


@dataclass
class FaultRecord:
    """What one fault run recorded; ``graph/fault_run.py`` fills it in as the run goes, and
    ``fusion`` (the fusion node's own counters, ``fault_run.fusion_counters``) at its end."""

    config: dict  # the run's settings, as plain values
    sites: tuple[str, ...]
    duration_s: float
    schedule: list[Dropout]
    bags: tuple[Path, Path]  # the recorder's bag, then the restarted recorder's
    repair_dir: Path  # where a torn bag is repaired (on a copy, removed after reading)
    origin: float | None = None  # stamp of the first forwarded sample
    forwarded: dict[str, array] = field(default_factory=dict)  # stamps the relay forwarded, per sensor
    received: dict[str, array] = field(default_factory=dict)  # stamps of the IMU samples the fusion node took
    dropped_by_relay: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in KINDS})  # malformed, by kind
    flood_sent: int = 0
    flood_window: list[float] = field(default_factory=list)  # s after the origin
    captions: list[float] = field(default_factory=list)  # arrival, s after the origin
    joint_states: list[tuple[float, float]] = field(default_factory=list)  # (stamp, received)
    predicted: dict[float, np.ndarray] = field(default_factory=dict)  # stamp -> (22, 3) joints
    truth: dict[float, np.ndarray] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)  # the first 100 of crash_count
    crash_count: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (s after the origin, bytes)
    kills: dict[str, float] = field(default_factory=dict)  # name -> ROS time of the kill
    fusion: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in (*self.sites, CAMERA):
            self.forwarded.setdefault(name, array("d"))
            self.received.setdefault(name, array("d"))
            self.dropped_by_relay.setdefault(name, 0)

    def bookkeeping_bytes(self) -> int:
        """About what the benchmark keeps in memory (outputs, ground truth, forwarded stamps):
        part of the RSS growth that is not the fusion node's."""
        poses = (len(self.predicted) + len(self.truth)) * (22 * 3 * 4 + 112 + 100)
        stamps = sum(len(a) * 8 for a in (*self.forwarded.values(), *self.received.values()))
        return poses + len(self.joint_states) * 150 + stamps


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


def transport_loss(forwarded: dict[str, np.ndarray], received: dict[str, np.ndarray], origin: float) -> dict:
    """IMU samples the relay sent that never reached the fusion node (best-effort transport):
    how many, and the longest run of consecutive sent samples lost (its span and when, s
    after ``origin``)."""
    lost = total = 0
    longest, longest_at = 0.0, None
    for site, sent in forwarded.items():
        sent = np.asarray(sent, np.float64)
        missing = ~np.isin(sent, received.get(site, np.zeros(0)))
        lost, total = lost + int(missing.sum()), total + len(sent)
        if not missing.any():
            continue
        edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            before = sent[a - 1] if a > 0 else sent[a]
            after = sent[b] if b < len(sent) else sent[b - 1]
            if after - before > longest:
                longest, longest_at = float(after - before), float(before - origin)
    return {"lost": lost, "sent": total, "longest_hole_s": longest, "longest_hole_at_s": longest_at}


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
    min_gain_mm: float = 1.0,
    warm_up_s: float = 0.0,
) -> list[dict]:
    """Per span: the frame offset k in -max_k..max_k whose ground truth (at s + k / fps,
    interpolated) best matches the output pose at stamp s (median over the span of the
    per-frame mean joint error, each frame in its canonical frame). 0 when outputs carry the
    time of their pose; ``margin_mm``: how much worse the best k != 0 is. ``mpjpe_mm``: the
    project's score (``live.scoring.score``) of the span at k = 0. A k != 0 that fits better
    than k = 0 by less than ``min_gain_mm`` counts as 0: within that, a slow span's poses
    cannot tell a mis-stamped output from the model's own lag (seen: k = -1 better by
    0.6 mm in one span of six, the run before passing with the same weights). The offset is
    fitted on the frames ``warm_up_s`` after a span's start and later: a span starts a fresh
    stream, whose first window the model sees with its newest frame held, and there its pose
    lags the stamps' by up to a frame (a model lag, not a stamp's: docs/evaluation.md)."""
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
        fit = sel & (p_stamps >= a + warm_up_s)
        if fit.sum() < min_frames:
            continue
        s, pred = p_stamps[fit], p_canon[fit]
        errors = []
        for k in range(-max_k, max_k + 1):
            gt, valid = _interpolate(t_stamps, t_canon, s + k / fps, fps)
            per_frame = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
            errors.append(float(np.median(per_frame[valid])) if valid.any() else float("inf"))
        best = int(np.argmin(errors)) - max_k
        if best and 1000 * (errors[max_k] - errors[best + max_k]) < min_gain_mm:
            best = 0
        gt, valid = _interpolate(t_stamps, t_joints, p_stamps[sel], fps)
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


def measure_run(record: FaultRecord) -> dict:
    """The results of a run (``graph/fault_report.py`` tables them). ``record.fusion``: ``fps``,
    ``lookahead_frames``, ``window_frames``, ``max_sensor_age_s``, ``imu`` (site -> accepted, rejected by reason,
    clock_resets), ``images_received``, ``image_rejected``, ``camera_clock_resets``,
    ``text_accepted``, ``text_rejected``, ``text_superseded``, ``text_errors``,
    ``publish_errors`` and ``stats`` (texts, dropped, gap_frames, restarts, non_finite)."""
    from ..live.scoring import match_by_stamp, score

    f, sites = record.fusion, record.sites
    fps, lookahead = f["fps"], f["lookahead_frames"]
    imu_forwarded = {s: np.frombuffer(record.forwarded[s], np.float64) for s in sites}
    imu_received = {s: np.frombuffer(record.received[s], np.float64) for s in sites}
    intervals = covered_intervals(imu_forwarded, f["max_sensor_age_s"])
    out_stamps = np.array(sorted({s for s, _ in record.joint_states}))
    # The node is judged on what reached it: best-effort transport on a loaded machine may lose
    # samples the relay sent (counted apart, ``transport``); normally the two are the same.
    received_intervals = covered_intervals(imu_received, f["max_sensor_age_s"])
    continuity = output_continuity(received_intervals, out_stamps, fps, lookahead)
    continuity_forwarded = output_continuity(intervals, out_stamps, fps, lookahead)
    for measured in (continuity, continuity_forwarded):
        at = measured["longest_gap_at"]
        measured["longest_gap_at_s"] = None if at is None else at - (record.origin or 0.0)
    inputs = np.concatenate(list(imu_forwarded.values())) if imu_forwarded else np.zeros(0)
    grid = grid_residual(out_stamps, inputs, fps)
    predicted = sorted(record.predicted.items())
    truth = sorted(record.truth.items())
    offsets = pose_offsets(
        intervals,
        (np.array([s for s, _ in predicted]), np.array([j for _, j in predicted]).reshape(-1, 22, 3)),
        (np.array([s for s, _ in truth]), np.array([j for _, j in truth]).reshape(-1, 22, 3)),
        fps,
        warm_up_s=f.get("window_frames", 0) / fps,
    )
    worst_k = max((abs(o["offset_frames"]) for o in offsets), default=float("nan"))
    stamp_error = grid["max_s"] + (worst_k if offsets else 0) / fps
    imu = f["imu"]
    imu_rejected = {r: sum(b["rejected"][r] for b in imu.values()) for r in next(iter(imu.values()))["rejected"]}
    expected_reasons: dict[str, dict[str, int]] = {"imu": {}, "image": {}, "text": {}}
    for kind, n in record.sent.items():
        group, reason = KINDS[kind]
        expected_reasons[group][reason] = expected_reasons[group].get(reason, 0) + n
    accepted_vs_forwarded = {s: (imu[s]["accepted"], len(imu_forwarded[s])) for s in sites if s in imu}
    malformed_accepted = sum(max(0, a - n) for a, n in accepted_vs_forwarded.values())
    malformed_accepted += max(0, f["images_received"] - len(record.forwarded[CAMERA]))
    stats = f["stats"]
    captioner_kill = record.kills.get("captioning")
    caption_after = None
    if captioner_kill is not None:
        kill_rel = captioner_kill - record.origin
        after = [t for t in record.captions if t > kill_rel]
        caption_after = after[0] - kill_rel if after else None
    recorder = {}
    if "recorder" in record.kills:
        recorder = recorder_loss(record.bags[0], record.kills["recorder"], record.repair_dir)
        shutil.rmtree(record.repair_dir, ignore_errors=True)  # a copy, read
        recorder["killed_at_s"] = record.kills["recorder"] - record.origin
        try:  # the restarted recorder's bag: when it recorded again
            from ..core.bag import read_bag

            first = next(iter(read_bag(record.bags[1])), None)
            recorder["recording_again_after_s"] = (
                None if first is None else first.timestamp_ns * 1e-9 - record.kills["recorder"]
            )
        except Exception as error:
            recorder["second_bag_error"] = f"{type(error).__name__}: {str(error)[:200]}"
    return {
        "config": record.config,
        "duration_s": record.duration_s,
        "crashes": record.crash_count,
        "crash_messages": record.crashes,
        "fusion_publish_errors": f["publish_errors"],
        "fusion_text_errors": f["text_errors"],
        "malformed_sent": sum(record.sent.values()),
        "malformed_by_kind": record.sent,
        "kinds": len(KINDS),
        "malformed_accepted": malformed_accepted,
        "imu_accepted_vs_forwarded": accepted_vs_forwarded,
        "images_accepted_vs_forwarded": (f["images_received"], len(record.forwarded[CAMERA])),
        "rejected": {"imu": imu_rejected, "image": dict(f["image_rejected"]), "text": dict(f["text_rejected"])},
        "expected_reasons": expected_reasons,
        "imu_clock_resets": sum(b["clock_resets"] for b in imu.values()),
        "camera_clock_resets": f["camera_clock_resets"],
        "descriptions": {
            "accepted": f["text_accepted"],
            "rejected": sum(f["text_rejected"].values()),
            "superseded": f["text_superseded"],
            "encoded": stats["texts"],
            "flood_sent": record.flood_sent,
            "flood_window_s": record.flood_window,
            "captions": len(record.captions),
            "caption_after_captioner_restart_s": caption_after,
        },
        "dropouts": [asdict(d) for d in record.schedule],
        "total_outages": sum(all(s in d.sites for s in sites) for d in record.schedule),
        "messages_dropped_by_relay": record.dropped_by_relay,
        "covered_spans": len(intervals),
        "covered_s": sum(b - a for a, b in intervals),
        "continuity": continuity,
        "continuity_forwarded": continuity_forwarded,
        "transport": transport_loss(imu_forwarded, imu_received, record.origin or 0.0),
        "frames_published_total": len(out_stamps),
        "fusion_dropped": stats["dropped"],
        "fusion_gap_frames": stats["gap_frames"],
        "fusion_restarts": stats["restarts"],
        "fusion_non_finite": stats["non_finite"],
        "grid": grid,
        "pose_offsets": offsets,
        "worst_offset_frames": worst_k,
        "stamp_error_ms": 1000 * stamp_error,
        "mpjpe_mm": float(np.median([o["mpjpe_mm"] for o in offsets])) if offsets else float("nan"),
        # As ego4o-graph-benchmark scores: each output against the ground truth frame nearest its stamp.
        "mpjpe_nearest_stamp_mm": score(*match_by_stamp(record.predicted, record.truth, 0.5 / fps))["mpjpe_mm"],
        "offset_margin_mm": min((o["margin_mm"] for o in offsets), default=float("nan")),
        "recorder": recorder,
        "memory": memory_growth(record.rss, record.duration_s),
        "bookkeeping_mb": record.bookkeeping_bytes() / 2**20,
        "events": [(round(t, 3), e) for t, e in record.events],
    }


# ---------------------------------------------------------------------------------------------
# Reading relayed messages (ROS-free: serialized bytes)


def stamp_of(cdr: bytes) -> float:
    """header.stamp of a serialized message that starts with a std_msgs/Header."""
    endian = "<" if cdr[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", cdr, 4)
    return sec + nanosec * 1e-9
