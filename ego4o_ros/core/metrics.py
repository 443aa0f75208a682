"""Motion-capture metrics on SMPL-22 joint positions, as the Ego4o paper reports them.

Inputs are joint positions in the body frame (``frames.py``: metres, Y up), shaped
(T, 22, 3) or a batch (..., T, 22, 3); a scalar result is the mean over everything
(batch, frames, joints). Units are in every name: MPJPE-like errors in **mm**, jitter
in **km/s^3**, root drift in **m**. ROS-free, numpy only.
"""

from __future__ import annotations

import numpy as np

from . import body, frames

_ROOT = 0


def _check(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 3 or x.shape[-2:] != (body.NUM_JOINTS, 3):
        raise ValueError(f"{name} must be (..., T, {body.NUM_JOINTS}, 3) joint positions, got shape {x.shape}")
    if x.shape[-3] < 1:
        raise ValueError(f"{name} has no frames (shape {x.shape})")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _check_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _check(pred, "pred"), _check(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {pred.shape} vs {gt.shape}")
    return pred, gt


def _pelvis_centred(x: np.ndarray) -> np.ndarray:
    return x - x[..., _ROOT : _ROOT + 1, :]


def mpjpe(pred, gt, per_frame: bool = False):
    """Mean per-joint position error in **mm**, pelvis-centred per frame, no alignment.

    Joint 0 is subtracted from every joint of each frame (in both), then the Euclidean
    error is averaged over the 22 joints (the root's is 0) and frames. ``per_frame=True``
    returns the (..., T) per-frame means in mm instead of a float.
    """
    pred, gt = _check_pair(pred, gt)
    err = np.linalg.norm(_pelvis_centred(pred) - _pelvis_centred(gt), axis=-1).mean(-1)
    return err * 1000.0 if per_frame else float(err.mean() * 1000.0)


def procrustes_align(pred, gt, return_transform: bool = False):
    """Per-frame similarity Procrustes (Umeyama) of ``pred`` onto ``gt``.

    For every frame finds scale s, proper rotation R (det +1, the reflection case is
    corrected) and translation t minimising sum_j |s R p_j + t - g_j|^2; vectorised
    over (..., T) with a batched SVD. Returns the aligned pred (..., T, J, 3) in gt's
    units, and with ``return_transform`` also s (..., T), R (..., T, 3, 3), t (..., T, 3).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"need equal (..., J, 3) shapes, got {pred.shape} and {gt.shape}")
    mu_p, mu_g = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    var_p = (p**2).sum((-2, -1)) / p.shape[-2]
    cov = np.einsum("...ji,...jk->...ik", g, p) / p.shape[-2]  # sum_j g_j p_j^T / J
    u, d, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign = np.where(sign == 0, 1.0, sign)
    fix = np.ones(d.shape)
    fix[..., -1] = sign  # flip the weakest axis if needed
    rot = u @ (fix[..., :, None] * vt)  # U diag(fix) V^T
    scale = (d * fix).sum(-1) / np.maximum(var_p, 1e-12)
    rot_mu_p = np.einsum("...ik,...k->...i", rot, mu_p[..., 0, :])
    trans = mu_g[..., 0, :] - scale[..., None] * rot_mu_p
    aligned = scale[..., None, None] * np.einsum("...ik,...jk->...ji", rot, pred) + trans[..., None, :]
    return (aligned, scale, rot, trans) if return_transform else aligned


def pa_mpjpe(pred, gt, per_frame: bool = False):
    """Procrustes-aligned MPJPE in **mm**: per-frame similarity alignment
    (``procrustes_align``) of pred onto gt, then the mean joint error.
    ``per_frame=True`` returns the (..., T) per-frame means in mm."""
    pred, gt = _check_pair(pred, gt)
    err = np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean(-1)
    return err * 1000.0 if per_frame else float(err.mean() * 1000.0)


def jitter(joints, fps: float) -> float:
    """Mean jerk of the *global* joint positions in **km/s^3**.

    |third finite difference along time| * fps^3 (m/s^3), averaged over joints and the
    T-3 difference frames (and any batch), divided by 1000. ``fps`` must be the true
    frame rate of ``joints`` (the result scales with fps^3). Needs T >= 4.
    """
    joints = _check(joints, "joints")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if joints.shape[-3] < 4:
        raise ValueError(f"jitter needs at least 4 frames (third difference), got T = {joints.shape[-3]}")
    jerk = np.linalg.norm(np.diff(joints, n=3, axis=-3), axis=-1) * fps**3
    return float(jerk.mean() / 1000.0)


def per_part_mpjpe(pred, gt) -> dict[str, float]:
    """MPJPE in **mm** for each part of ``body.BODY_PARTS``, pelvis-centred like ``mpjpe``.

    Exception: the "root" part's pelvis-centred error is 0 by construction, so for
    "root" the *global* (uncentred, unaligned) root position error in mm is reported.
    """
    pred, gt = _check_pair(pred, gt)
    global_err = np.linalg.norm(pred - gt, axis=-1)
    centred_err = np.linalg.norm(_pelvis_centred(pred) - _pelvis_centred(gt), axis=-1)
    out = {}
    for name, joints in body.BODY_PARTS.items():
        err = global_err if name == "root" else centred_err
        out[name] = float(err[..., list(joints)].mean() * 1000.0)
    return out


def root_drift(pred, gt, horizontal: bool = False) -> dict[str, float]:
    """Global root (joint 0) position error in **m** after moving both trajectories so
    their first-frame root sits at the origin (a constant offset is no drift).

    Returns {"final_m": error at the last frame, "mean_m": mean over frames} (each
    averaged over any batch). ``horizontal=True`` drops the vertical (``frames.UP``)
    component of the error first.
    """
    pred, gt = _check_pair(pred, gt)
    rp, rg = pred[..., :, _ROOT, :], gt[..., :, _ROOT, :]
    diff = (rp - rp[..., :1, :]) - (rg - rg[..., :1, :])
    if horizontal:
        diff = diff - (diff @ frames.UP)[..., None] * frames.UP
    err = np.linalg.norm(diff, axis=-1)
    return {"final_m": float(err[..., -1].mean()), "mean_m": float(err.mean())}


def evaluate_sequence(pred, gt, fps: float) -> dict[str, float]:
    """All metrics of a sequence (or batch) as one flat dict, units in the key names:
    mpjpe_mm, pa_mpjpe_mm, jitter_pred_kms3, jitter_gt_kms3, part_mpjpe_mm/<part>,
    root_drift_{final,mean}_m and root_drift_h_{final,mean}_m (horizontal only)."""
    pred, gt = _check_pair(pred, gt)
    out = {
        "mpjpe_mm": mpjpe(pred, gt),
        "pa_mpjpe_mm": pa_mpjpe(pred, gt),
        "jitter_pred_kms3": jitter(pred, fps),
        "jitter_gt_kms3": jitter(gt, fps),
    }
    out.update({f"part_mpjpe_mm/{k}": v for k, v in per_part_mpjpe(pred, gt).items()})
    for tag, horizontal in (("", False), ("_h", True)):
        drift = root_drift(pred, gt, horizontal=horizontal)
        out[f"root_drift{tag}_final_m"] = drift["final_m"]
        out[f"root_drift{tag}_mean_m"] = drift["mean_m"]
    return out


# ---------------------------------------------------------------- feet
# The foot joints, in HumanML3D's contact order: left ankle, left foot (toe), right ankle, right foot.
FOOT_JOINTS = body.FOOT_JOINTS_LEFT + body.FOOT_JOINTS_RIGHT
# A foot joint is in contact when it moves slower than this (m/s, 3-D) ...: HumanML3D's rule
# (squared displacement below 0.002 m^2 per frame at 20 fps, i.e. 0.894 m/s).
FOOT_CONTACT_SPEED = float(np.sqrt(0.002) * 20.0)
# ... and is nearer the floor than this (m; ankle, toe, ankle, toe). On the template skeleton a
# planted ankle is 0.09-0.11 m above the floor and a planted toe joint 0-0.015 m.
FOOT_CONTACT_HEIGHT = (0.15, 0.05, 0.15, 0.05)
# A frame penetrates when its lowest foot joint is deeper than this below the floor (m).
PENETRATION_TOLERANCE = 0.005


def _foot_heights(joints: np.ndarray, floor: float) -> np.ndarray:
    return joints[..., list(FOOT_JOINTS), :] @ frames.UP - floor


def foot_contact(
    joints,
    fps: float,
    floor: float = 0.0,
    max_speed: float = FOOT_CONTACT_SPEED,
    max_height=FOOT_CONTACT_HEIGHT,
) -> np.ndarray:
    """Contact of each foot joint in each frame, from the motion alone: (..., T, 4) bool in
    ``FOOT_JOINTS`` order. Frame t of a joint is a contact when the joint's 3-D speed from
    t to t+1 is below ``max_speed`` (m/s) and its height above ``floor`` (m, along
    ``frames.UP``) is below ``max_height`` (m, per joint) at both t and t+1. The last frame
    repeats the one before (HumanML3D's rule, plus the height test). Needs T >= 2."""
    joints = _check(joints, "joints")
    if joints.shape[-3] < 2:
        raise ValueError(f"foot contact needs at least 2 frames, got T = {joints.shape[-3]}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    feet = joints[..., list(FOOT_JOINTS), :]
    speed = np.linalg.norm(np.diff(feet, axis=-3), axis=-1) * fps
    height = _foot_heights(joints, floor)
    low = height < np.asarray(max_height, np.float64)
    contact = (speed < max_speed) & low[..., 1:, :] & low[..., :-1, :]
    return np.concatenate([contact, contact[..., -1:, :]], axis=-2)


def _horizontal_speed(joints: np.ndarray, fps: float) -> np.ndarray:
    """(..., T-1, 4) horizontal speed (m/s) of the foot joints from each frame to the next."""
    step = np.diff(joints[..., list(FOOT_JOINTS), :], axis=-3)
    step = step - (step @ frames.UP)[..., None] * frames.UP
    return np.linalg.norm(step, axis=-1) * fps


def foot_skate(joints, contact, fps: float, per_frame: bool = False):
    """Foot-skate in **mm/s**: the horizontal speed of each foot joint from frame t to t+1,
    averaged over the (joint, t) where ``contact`` (..., T, 4), usually the *ground truth's*
    ``foot_contact``, says the joint is in contact (the last frame has no step and is left
    out). NaN when there is no contact. ``per_frame=True`` returns the (..., T-1, 4) speeds
    in mm/s with NaN where there is no contact."""
    joints = _check(joints, "joints")
    contact = np.asarray(contact, bool)
    if contact.shape != joints.shape[:-2] + (len(FOOT_JOINTS),):
        raise ValueError(f"contact must be {joints.shape[:-2] + (len(FOOT_JOINTS),)}, got {contact.shape}")
    speed = _horizontal_speed(joints, fps) * 1000.0
    mask = contact[..., :-1, :]
    if per_frame:
        return np.where(mask, speed, np.nan)
    return float(speed[mask].mean()) if mask.any() else float("nan")


def lowest_foot_height(joints, floor: float = 0.0) -> np.ndarray:
    """(..., T) height (m) of the lowest foot joint above ``floor``; negative below it."""
    return _foot_heights(_check(joints, "joints"), floor).min(-1)


def floor_penetration(joints, floor: float = 0.0, tolerance: float = PENETRATION_TOLERANCE) -> dict[str, float]:
    """How far the feet go through the floor: {"depth_mm": the depth of the lowest foot joint
    below ``floor`` averaged over all frames (frames above the floor count as 0), "frac": the
    fraction of frames deeper than ``tolerance`` (m)}."""
    depth = np.maximum(-lowest_foot_height(joints, floor), 0.0)
    return {"depth_mm": float(depth.mean() * 1000.0), "frac": float((depth > tolerance).mean())}


def floating(joints, contact, floor: float = 0.0) -> float:
    """Floating in **mm**: the height of the lowest foot joint above ``floor`` (0 below it),
    averaged over the frames where ``contact`` (..., T, 4), usually the ground truth's, has
    any foot joint in contact. NaN when there is none."""
    contact = np.asarray(contact, bool).any(-1)
    height = np.maximum(lowest_foot_height(joints, floor), 0.0)
    if contact.shape != height.shape:
        raise ValueError(f"contact must cover the same frames as joints: {contact.shape} vs {height.shape}")
    return float(height[contact].mean() * 1000.0) if contact.any() else float("nan")


def foot_metrics(pred, gt, fps: float, floor: float = 0.0) -> dict[str, float]:
    """Feet of ``pred`` judged by the ground truth's contacts (``foot_contact(gt)``), beside
    the ground truth's own figures on the same frames: skate_mm_s, penetration_mm,
    penetration_frac, floating_mm and gt_* of each. Both in metres with the floor at
    ``floor`` (Y up); their horizontal frames may differ (only speeds are compared)."""
    pred, gt = _check_pair(pred, gt)
    contact = foot_contact(gt, fps, floor)
    out = {}
    for prefix, joints in (("", pred), ("gt_", gt)):
        penetration = floor_penetration(joints, floor)
        out[f"{prefix}skate_mm_s"] = foot_skate(joints, contact, fps)
        out[f"{prefix}penetration_mm"] = penetration["depth_mm"]
        out[f"{prefix}penetration_frac"] = penetration["frac"]
        out[f"{prefix}floating_mm"] = floating(joints, contact, floor)
    return out
