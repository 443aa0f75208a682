"""The data pipeline on the bundled sample (``make demo`` / ``ego4o-demo``): the Bandai-Namco
walk read and mapped onto SMPL-22, retargeted to the template skeleton, its HumanML3D
features and the joints recovered from them, the five synthesised IMUs and the training
windows; pictures of the mapped motion beside the recovered one (GIF + PNG strip) and of
the IMUs."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core import body, features, imu
from ..core.dataset import clip_windows
from ..core.render import plot_imu, render_sequences
from ..paths import SAMPLE_CLIP as SAMPLE
from ..paths import config_file
from ..readers.bandai import read_bandai
from .cache_builder import load_config


def sample_walk_demo(output: Path, config_path: Path | None = None) -> dict:
    """The data pipeline on the bundled walk; pictures into ``output``; a summary (name -> text)."""
    config = load_config(config_path or config_file("dataset.yaml"))
    started = time.monotonic()
    clip = read_bandai(SAMPLE, target_fps=config.fps)
    raw_spread_mm = body.bone_lengths(clip.joints)[:, 1:].std(0).mean() * 1000
    clip = replace(clip, joints=features.retarget_to_template(clip.joints))

    canonical = features.window_frame(clip.joints, config.feature_config).points(clip.joints)
    feats = features.features_from_joints(canonical, config.feature_config, canonicalize=False)
    recovered = features.joints_from_features(feats)
    readings = imu.synthesize_from_clip(clip, imu.ImuSynthesisConfig(gravity=config.gravity))
    windows = clip_windows(clip, config)
    window_error = np.linalg.norm(features.joints_from_features(windows["features"]) - windows["joints"], axis=-1)
    elapsed = time.monotonic() - started

    root_velocity = np.diff(canonical[:, 0], axis=0).mean(0) * config.fps
    output.mkdir(parents=True, exist_ok=True)
    gif, strip, imu_png = output / "sample_walk.gif", output / "sample_walk.png", output / "sample_imu.png"
    render_sequences(
        [canonical[:-1], recovered],
        gif,
        titles=["mapped Bandai walk", "from 263-dim features"],
        fps=config.fps,
        every=2,
    )
    render_sequences(
        [canonical[:-1], recovered], strip, titles=["mapped Bandai walk", "from 263-dim features"], fps=config.fps
    )
    plot_imu(readings, imu_png, title=f"synthesised IMUs: {clip.name}")
    return {
        "clip": clip.name,
        "frames @ fps": f"{clip.num_frames} @ {config.fps:g}",
        "description": clip.descriptions[0],
        "bone-length spread raw (mm)": f"{raw_spread_mm:.3f}",
        "bone-length spread retargeted (mm)": f"{body.bone_lengths(clip.joints)[:, 1:].std(0).mean() * 1000:.2e}",
        "mean root velocity x/y/z (m/s)": " ".join(f"{v:+.2f}" for v in root_velocity),
        "features -> joints max error (mm)": f"{np.linalg.norm(recovered - canonical[:-1], axis=-1).max() * 1000:.4f}",
        "windows (x frames)": f"{len(windows['start'])} x {config.window}",
        "window round-trip max error (mm)": f"{window_error.max() * 1000:.4f}",
        "head IMU at rest-ish |acc| median (m/s^2)": f"{np.median(np.linalg.norm(readings.acc[:, 4], axis=-1)):.2f}",
        "processing time (s)": f"{elapsed:.2f}",
        "animation": str(gif),
        "strip": str(strip),
        "imu plot": str(imu_png),
    }
