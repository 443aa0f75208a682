"""A clip's ground truth as the scoring needs it (``ClipTruth``, computed once per clip)
and the scores of a capture against it, offline (per window, blended) and online (per
reported pose).

Offline, each frame is compared with the ground truth in the canonical frame
(``features.window_frame``) of the window where the frame sits most central, as that
window predicted it; jitter is measured on the whole blended, stitched clip. Online,
each reported pose is scored in the frame of the window that produced it; jitter on the
streamed root-integrated joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import features, metrics
from ..models.online import blend_weights, offline_starts, reported_rows, stream_index
from .clips import EvalClip


@dataclass
class ClipTruth:
    """Everything about a clip's ground truth the scoring needs, computed once."""

    starts: np.ndarray  # offline window starts
    owner: np.ndarray  # (T,) index into starts of the window that scores each frame
    windows: np.ndarray  # (K, W, 22, 3) ground truth in each window's frame
    features: np.ndarray  # (K, W, 263) ground-truth features of each window
    online: np.ndarray | None  # (T - lookahead, 22, 3) truth of each online frame in its window's frame


def clip_truth(clip: EvalClip, window: int, config: features.FeatureConfig, lookahead: int | None) -> ClipTruth:
    T = len(clip.joints)
    starts = offline_starts(T, window, window // 2)  # the windows StreamingCapture.offline blends
    held = np.concatenate([clip.joints, clip.joints[-1:]])  # W feature rows need W + 1 poses
    windows, feats = [], []
    for s in starts:
        canonical, window_features = canonical_window(held[s : s + window + 1], config)
        windows.append(canonical[:window])
        feats.append(window_features)
    weights = blend_weights(window)
    score = np.full((len(starts), T), -1.0)
    for k, s in enumerate(starts):
        score[k, s : s + window] = weights
    online = None if lookahead is None else online_truth(clip, window, config, lookahead)
    return ClipTruth(starts, score.argmax(0), np.stack(windows), np.stack(feats), online)


def online_truth(clip: EvalClip, window: int, config: features.FeatureConfig, lookahead: int) -> np.ndarray:
    """The true pose of every frame an online step with ``lookahead`` reports, in the frame of
    the window that reported it (T - lookahead, 22, 3)."""
    ends = np.arange(lookahead, len(clip.joints))
    rows = reported_rows(window, lookahead, ends)
    return np.stack(
        [
            features.window_frame(clip.joints[i], config).points(clip.joints[i][row])
            for i, row in zip(stream_index(window, ends), rows)
        ]
    )


def canonical_window(poses: np.ndarray, config: features.FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """W + 1 poses (W + 1, 22, 3) -> (the poses in the window's own canonical frame,
    the window's W feature rows (W, 263)), as in training and live."""
    canonical = features.window_frame(poses, config).points(poses)
    return canonical, features.features_from_joints(canonical, config, canonicalize=False)


def score_offline(windows: np.ndarray, blended: np.ndarray, truth: ClipTruth, clip: EvalClip, fps: float) -> dict:
    """Per-window features (K, W, 263) at ``truth.starts`` and their blend (T, 263) ->
    per-frame errors and the stitched jitter."""
    per_window = features.joints_from_features(windows)
    frames = np.arange(clip.length)
    owner = truth.owner[frames]
    row = frames - truth.starts[owner]
    pred, true = per_window[owner, row], truth.windows[owner, row]
    stitched = features.joints_from_features(blended[: clip.length])
    return _errors(pred, true) | {
        "jitter": metrics.jitter(stitched, fps) if clip.length >= 4 else np.nan,
        "feet": _feet(stitched, _ground(clip, true), fps),
    }


def score_online(window_joints: np.ndarray, stream: np.ndarray, truth: np.ndarray, clip: EvalClip, fps: float) -> dict:
    """An online stream's frames (each in the frame of the window that reported it) against
    ``truth`` (``online_truth`` at the same look-ahead)."""
    keep = min(clip.length, len(window_joints))
    out = _errors(window_joints[:keep], truth[:keep])
    return out | {
        "jitter": metrics.jitter(stream[:keep], fps) if keep >= 4 else np.nan,
        "feet": _feet(stream[:keep], _ground(clip, truth[:keep]), fps),
    }


def through_stage(stage, stream: np.ndarray, window_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An online stream through a live output stage (``live.feet.FootContactStage``: ``step``
    per frame, in order) -> the corrected stream, and the corrected poses in the frames of the
    windows that reported them (each frame's rigid map from the stream to its window, found on
    the uncorrected poses, applied to the corrected ones)."""
    corrected = np.stack([stage.step(joints, i) for i, joints in enumerate(stream)])
    _, scale, rotation, shift = metrics.procrustes_align(stream, window_joints, return_transform=True)
    mapped = scale[:, None, None] * np.einsum("tik,tjk->tji", rotation, corrected) + shift[:, None, :]
    return corrected, mapped


def world_jitter(clip: EvalClip, fps: float) -> float:
    """The jitter of the clip's own world-frame ground truth."""
    return metrics.jitter(clip.joints[: clip.length], fps) if clip.length >= 4 else np.nan


def _errors(pred: np.ndarray, true: np.ndarray) -> dict:
    parts = metrics.per_part_mpjpe(pred, true)
    return {
        "mpjpe": metrics.mpjpe(pred[None], true[None], per_frame=True)[0],
        "pa_mpjpe": metrics.pa_mpjpe(pred[None], true[None], per_frame=True)[0],
        "parts": {p: v * len(pred) for p, v in parts.items() if p != "root"},
        "frames": len(pred),
    }


def _ground(clip: EvalClip, scored: np.ndarray) -> np.ndarray:
    """The ground truth the feet are judged on: the clip's own (world) motion, with the heights
    of ``scored`` (the truth in the frames the poses are scored in, where the floor is y = 0:
    the ground truth's lowest joint over the window, ``frames.py``)."""
    ground = clip.joints[: len(scored)].copy()
    ground[..., 1] = scored[..., 1]
    return ground


def _feet(pred: np.ndarray, ground: np.ndarray, fps: float) -> dict:
    """Feet of an output trajectory ``pred`` (T, 22, 3; the floor at y = 0) and of the ground
    truth on the same frames, judged by the ground truth's contacts (``metrics.foot_contact``),
    as sums and counts that ``tables.summarise`` adds up over clips: foot-skate (mm/s over
    contact steps), penetration depth (mm over frames) and penetrating frames, floating (mm
    over contact frames)."""
    if len(pred) < 2:
        return {}
    contact = metrics.foot_contact(ground, fps)
    touching = contact.any(-1)
    out = {"frames": len(pred), "contact_steps": int(contact[:-1].sum()), "contact_frames": int(touching.sum())}
    for prefix, joints in (("", pred), ("gt_", ground)):
        height = metrics.lowest_foot_height(joints)
        depth = np.maximum(-height, 0.0)
        out |= {
            f"{prefix}skate_mm_s": float(np.nansum(metrics.foot_skate(joints, contact, fps, per_frame=True))),
            f"{prefix}penetration_mm": float(depth.sum() * 1000.0),
            f"{prefix}penetrating_frames": int((depth > metrics.PENETRATION_TOLERANCE).sum()),
            f"{prefix}floating_mm": float(np.maximum(height, 0.0)[touching].sum() * 1000.0),
        }
    return out
