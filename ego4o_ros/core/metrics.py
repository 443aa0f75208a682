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
