"""Scores of an analysed recording against the ground truth it holds (ROS-free), by the
rule of ``live/scoring`` (pairs matched by stamp within half a frame, each frame in its
own canonical frame): MPJPE, PA-MPJPE and jitter."""

from __future__ import annotations

import numpy as np

from ..core import metrics
from ..live.scoring import matched_pairs
from ..live.scoring import per_frame_errors as pair_errors
from ..live.scoring import score as score_pairs


def score(analysis) -> dict:
    """Of the offline motion of an analysis (``pipeline.Analysis``) and, when recorded, of the
    live one, against the bag's ground truth."""
    recording, motion = analysis.recording, analysis.motion
    if recording.truth is None:
        return {}
    fps = motion.grid.fps
    out = {"truth_frames": int(len(recording.truth[0]))}
    candidates = {"offline": (motion.grid.stamps_ns[motion.valid], motion.positions_ros[motion.valid])}
    if recording.live is not None:
        candidates["live"] = recording.live
    for name, (stamps, joints) in candidates.items():
        pred, true = matched_pairs(stamps, joints, *recording.truth, 0.5e9 / fps)[1:]
        result = score_pairs(pred, true)
        result["jitter_kms3"] = metrics.jitter(joints, fps) if len(joints) >= 4 else float("nan")
        result["frames_total"] = int(len(stamps))
        out[name] = result
    if len(recording.truth[1]) >= 4:
        out["truth_jitter_kms3"] = metrics.jitter(recording.truth[1], fps)
    return out


def per_frame_errors(stamps_ns: np.ndarray, joints_ros: np.ndarray, truth: tuple, fps: float):
    """(stamps ns, MPJPE mm per frame) of the frames that have ground truth (the report's plot)."""
    stamps, pred, true = matched_pairs(stamps_ns, joints_ros, *truth, 0.5e9 / fps)
    return stamps, pair_errors(pred, true)
