"""The main job on the bundled sample: ``make demo`` / ``ego4o-demo``.

Reads the bundled Bandai-Namco walk, maps it onto SMPL-22, retargets it to the
template skeleton, computes HumanML3D features and recovers joints from them,
synthesises the five IMUs, cuts training windows, then renders the mapped motion next
to the motion recovered from its features (GIF + PNG strip) and plots the IMUs.
``--full`` also builds the training cache from the whole Bandai archive.
"""

from __future__ import annotations

import argparse
import sys
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
from ..training.cache_builder import load_config


def run(output: Path, config_path: Path | None) -> dict:
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("out") / "demo", help="folder for pictures")
    parser.add_argument("--config", type=Path, default=None, help="dataset YAML (default: config/dataset.yaml)")
    parser.add_argument("--full", action="store_true", help="also build the whole Bandai training cache")
    args = parser.parse_args(argv)
    summary = run(args.output, args.config)
    width = max(map(len, summary))
    print("ego4o_ros demo: bundled sample (Bandai Namco Research Inc., CC BY-NC 4.0)")
    for key, value in summary.items():
        print(f"  {key:<{width}}  {value}")
    if args.full:
        from .build_dataset import main as build_main

        build_main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
