"""Scoring a live run against the replayed ground truth, by stamp."""

from __future__ import annotations

import numpy as np

from ..core import frames, metrics


def match_by_stamp(
    predicted: dict[float, np.ndarray], truth: dict[float, np.ndarray], tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (N, 22, 3) of predicted and true joints whose stamps are within ``tolerance`` s."""
    truth_stamps = np.array(sorted(truth))
    pairs_p, pairs_t = [], []
    for stamp, joints in sorted(predicted.items()):
        if not len(truth_stamps):
            break
        i = int(np.clip(np.searchsorted(truth_stamps, stamp), 1, len(truth_stamps) - 1)) if len(truth_stamps) > 1 else 0
        nearest = min({max(i - 1, 0), i}, key=lambda k: abs(truth_stamps[k] - stamp))
        if abs(truth_stamps[nearest] - stamp) <= tolerance:
            pairs_p.append(joints)
            pairs_t.append(truth[truth_stamps[nearest]])
    empty = np.zeros((0, 22, 3))
    return (np.stack(pairs_p), np.stack(pairs_t)) if pairs_p else (empty, empty)


def score(predicted_ros: np.ndarray, truth_ros: np.ndarray) -> dict[str, float]:
    """MPJPE after putting each frame in its canonical frame (root at the origin, facing
    +Z, feet on the floor: the live root drifts, the pose should not) and PA-MPJPE, mm."""
    if not len(predicted_ros):
        return {"frames": 0, "mpjpe_mm": float("nan"), "pa_mpjpe_mm": float("nan")}
    canon = [
        frames.canonical_frame(j[None]).points(j[None])[0]
        for j in np.concatenate([predicted_ros, truth_ros]) @ frames.ROS_FROM_BODY
    ]
    canon = np.stack(canon)
    pred, true = canon[: len(predicted_ros)], canon[len(predicted_ros) :]
    return {
        "frames": len(pred),
        "mpjpe_mm": float(metrics.mpjpe(pred[None], true[None])),
        "pa_mpjpe_mm": float(metrics.pa_mpjpe(pred[None], true[None])),
    }
