"""Scores of an analysed recording against the ground truth it holds (ROS-free).

Predicted and true joints (ROS frame) are matched by stamp, each put in its own
canonical frame, and compared per frame (MPJPE, PA-MPJPE, jitter)."""

from __future__ import annotations

import numpy as np

from ..core import frames, metrics, rotations


def score(analysis) -> dict:
    """MPJPE / PA-MPJPE and jitter of an analysis (``pipeline.Analysis``): of the offline motion
    and, when recorded, of the live one, against the bag's ground truth: the rule of ``live/scoring.score`` (pairs
    matched by stamp within half a frame, each frame in its own canonical frame),
    computed for all frames at once."""
    recording, motion = analysis.recording, analysis.motion
    if recording.truth is None:
        return {}
    fps = motion.grid.fps
    out = {"truth_frames": int(len(recording.truth[0]))}
    candidates = {"offline": (motion.grid.stamps_ns[motion.valid], motion.positions_ros[motion.valid])}
    if recording.live is not None:
        candidates["live"] = recording.live
    for name, (stamps, joints) in candidates.items():
        pred, true = matched_pairs(stamps, joints, recording.truth, fps)[1:]
        result = score_pairs(pred, true)
        result["jitter_kms3"] = metrics.jitter(joints, fps) if len(joints) >= 4 else float("nan")
        result["frames_total"] = int(len(stamps))
        out[name] = result
    if len(recording.truth[1]) >= 4:
        out["truth_jitter_kms3"] = metrics.jitter(recording.truth[1], fps)
    return out


def score_pairs(predicted_ros: np.ndarray, truth_ros: np.ndarray) -> dict:
    """``live/scoring.score`` for many frames at once (the same numbers: a test holds them equal)."""
    if not len(predicted_ros):
        return {"frames": 0, "mpjpe_mm": float("nan"), "pa_mpjpe_mm": float("nan")}
    pred, true = _canonical(predicted_ros), _canonical(truth_ros)
    return {
        "frames": int(len(pred)),
        "mpjpe_mm": float(metrics.mpjpe(pred[None], true[None])),
        "pa_mpjpe_mm": float(metrics.pa_mpjpe(pred[None], true[None])),
    }


def matched_pairs(stamps_ns: np.ndarray, joints_ros: np.ndarray, truth: tuple, fps: float):
    """Predicted frames with a ground-truth frame within half a frame (the nearest):
    (stamps ns, predicted (N, 22, 3), truth (N, 22, 3))."""
    truth_ns = truth[0]
    empty = (np.zeros(0, np.int64), np.zeros((0, 22, 3)), np.zeros((0, 22, 3)))
    if not len(truth_ns) or not len(stamps_ns):
        return empty
    upper = np.searchsorted(truth_ns, stamps_ns).clip(0, len(truth_ns) - 1)
    lower = (upper - 1).clip(0)
    index = np.where(np.abs(truth_ns[lower] - stamps_ns) < np.abs(truth_ns[upper] - stamps_ns), lower, upper)
    matched = np.abs(truth_ns[index] - stamps_ns) <= 0.5e9 / fps
    return (stamps_ns[matched], joints_ros[matched], truth[1][index[matched]]) if matched.any() else empty


def _canonical(joints_ros: np.ndarray) -> np.ndarray:
    """Each frame in its own canonical frame (``frames.canonical_frame`` of that frame
    alone, as ``live/scoring.score`` does), all frames at once; body axes."""
    joints = joints_ros @ frames.ROS_FROM_BODY
    turn = rotations.quat_to_matrix(rotations.qbetween(frames.facing_directions(joints), frames.FORWARD))
    origin = np.stack([joints[:, 0, 0], joints[..., 1].min(1), joints[:, 0, 2]], axis=-1)
    return np.einsum("nij,nkj->nki", turn, joints - origin[:, None])


def per_frame_errors(stamps_ns: np.ndarray, joints_ros: np.ndarray, truth: tuple, fps: float):
    """(stamps ns, MPJPE mm per frame) of the frames that have ground truth (the report's plot)."""
    stamps, pred, true = matched_pairs(stamps_ns, joints_ros, truth, fps)
    if not len(stamps):
        return stamps, np.zeros(0)
    return stamps, metrics.mpjpe(_canonical(pred)[None], _canonical(true)[None], per_frame=True)[0]
