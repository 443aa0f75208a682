"""Scoring captured poses against a ground truth by stamp (ROS-free): the one rule the live
graph, its benchmarks and the analysis of recorded bags share.

Predicted and true joints (ROS frame) are paired by the nearest true stamp within a
tolerance, each frame is put in its own canonical frame (root at the origin, facing +Z,
feet on the floor: the live root drifts, the pose should not), then MPJPE and PA-MPJPE."""

from __future__ import annotations

import numpy as np

from ..core import frames, metrics, rotations


def matched_pairs(
    stamps: np.ndarray, joints_ros: np.ndarray, truth_stamps: np.ndarray, truth_ros: np.ndarray, tolerance
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted frames with a true frame within ``tolerance`` (same unit as the stamps; the
    nearest is taken): (stamps (N,), predicted (N, 22, 3), truth (N, 22, 3)). Stamps sorted."""
    stamps, truth_stamps = np.asarray(stamps), np.asarray(truth_stamps)
    empty = (stamps[:0], np.zeros((0, 22, 3)), np.zeros((0, 22, 3)))
    if not len(truth_stamps) or not len(stamps):
        return empty
    upper = np.searchsorted(truth_stamps, stamps).clip(0, len(truth_stamps) - 1)
    lower = (upper - 1).clip(0)
    nearer_lower = np.abs(truth_stamps[lower] - stamps) < np.abs(truth_stamps[upper] - stamps)
    index = np.where(nearer_lower, lower, upper)
    matched = np.abs(truth_stamps[index] - stamps) <= tolerance
    if not matched.any():
        return empty
    return stamps[matched], np.asarray(joints_ros)[matched], np.asarray(truth_ros)[index[matched]]


def match_by_stamp(
    predicted: dict[float, np.ndarray], truth: dict[float, np.ndarray], tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """``matched_pairs`` for poses kept as {stamp s: (22, 3) joints} (the live graph's)."""
    if not predicted or not truth:
        return np.zeros((0, 22, 3)), np.zeros((0, 22, 3))
    stamps, truth_stamps = sorted(predicted), sorted(truth)
    _, pred, true = matched_pairs(
        np.array(stamps),
        np.stack([predicted[s] for s in stamps]),
        np.array(truth_stamps),
        np.stack([truth[s] for s in truth_stamps]),
        tolerance,
    )
    return pred, true


def canonical(joints_ros: np.ndarray) -> np.ndarray:
    """(N, 22, 3) ROS-frame joints -> each frame in its own canonical frame (body axes):
    ``frames.canonical_frame`` of that frame alone, all frames at once."""
    joints = joints_ros @ frames.ROS_FROM_BODY
    turn = rotations.quat_to_matrix(rotations.qbetween(frames.facing_directions(joints), frames.FORWARD))
    origin = np.stack([joints[:, 0, 0], joints[..., 1].min(1), joints[:, 0, 2]], axis=-1)
    return np.einsum("nij,nkj->nki", turn, joints - origin[:, None])


def score(predicted_ros: np.ndarray, truth_ros: np.ndarray) -> dict:
    """MPJPE and PA-MPJPE (mm) of paired (N, 22, 3) ROS-frame joints, each frame canonical."""
    if not len(predicted_ros):
        return {"frames": 0, "mpjpe_mm": float("nan"), "pa_mpjpe_mm": float("nan")}
    pred, true = canonical(np.asarray(predicted_ros)), canonical(np.asarray(truth_ros))
    return {
        "frames": int(len(pred)),
        "mpjpe_mm": float(metrics.mpjpe(pred[None], true[None])),
        "pa_mpjpe_mm": float(metrics.pa_mpjpe(pred[None], true[None])),
    }


def per_frame_errors(predicted_ros: np.ndarray, truth_ros: np.ndarray) -> np.ndarray:
    """MPJPE (mm) of each paired frame."""
    if not len(predicted_ros):
        return np.zeros(0)
    return metrics.mpjpe(canonical(predicted_ros)[None], canonical(truth_ros)[None], per_frame=True)[0]
