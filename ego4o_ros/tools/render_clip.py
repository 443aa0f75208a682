"""Render motion to an animated GIF/MP4 or a PNG strip: ``ego4o-render``.

Inputs: a motion file (BVH of any rig: Bandai, CMU, Mixamo, Daz, Xsens, Rokoko, or
``--rig map.yaml``; AMASS .npz, HumanML3D .npy, DIP .pkl), or one
window of a built cache (``--cache DIR --clip NAME --window K``). ``--compare``
adds a second sequence side by side: a prediction (.npy of (T, 22, 3) joints) or
``features`` (the joints recovered from the window's cached 263-dim features).
``--egocentric`` adds the head-worn camera's view under a PNG strip.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core import features
from ..core.dataset import MotionCache
from ..core.render import render_sequences
from ..readers import read_clip


def load_sequences(args) -> tuple[list[np.ndarray], list[str], float]:
    if args.cache is not None:
        if args.clip is None:
            raise SystemExit("--cache needs --clip NAME (see the cache's manifest.json)")
        if not (args.cache / "manifest.json").is_file():
            raise SystemExit(
                f"{args.cache}: no dataset cache there (no manifest.json); build one with "
                "ego4o-build-dataset --cache DIR"
            )
        cache = MotionCache(args.cache)
        if args.clip not in cache.clips:
            raise SystemExit(f"{args.clip!r} is not in {args.cache}")
        windows = cache.load_clip(args.clip)
        if not 0 <= args.window < len(windows["start"]):
            raise SystemExit(f"{args.clip} has windows 0..{len(windows['start']) - 1}")
        truth = windows["joints"][args.window].astype(np.float64)
        sequences, titles, fps = [truth], [f"{args.clip} #{args.window}"], cache.config.fps
        if args.compare == "features":
            sequences.append(features.joints_from_features(windows["features"][args.window]))
            titles.append("from features")
    else:
        if args.input is None:
            raise SystemExit("give a motion file, or --cache with --clip")
        if not args.input.is_file():
            raise SystemExit(f"{args.input}: no such file")
        info: list = []
        try:
            if args.input.suffix.lower() == ".bvh":
                from ..readers.rigs import read_bvh_clip

                clip = read_bvh_clip(args.input, rig_map=args.rig, info=info)
            else:
                clip = read_clip(args.input, rig_map=args.rig)
        except ValueError as error:  # BvhError, RigError: one line that says what is wrong
            raise SystemExit(f"ego4o-render: {error}") from None
        for rig in info:
            print(
                f"{args.input.name}: rig {rig.rig}, {rig.metres_per_unit:g} m per unit ({rig.units}), "
                f"up {rig.up_axis}, facing {rig.forward_axis}, {rig.lead_in_frames} lead-in frame(s) dropped, "
                f"{rig.frames} frames"
            )
        sequences, titles, fps = [clip.joints], [clip.name], clip.fps
    if args.compare not in (None, "features"):
        predicted = np.load(args.compare, allow_pickle=False)
        if predicted.ndim != 3 or predicted.shape[1:] != (22, 3):
            raise SystemExit(f"--compare {args.compare}: expected (T, 22, 3) joints, got {predicted.shape}")
        if len(predicted) != len(sequences[0]) and not args.allow_length_mismatch:
            raise SystemExit(
                f"--compare {args.compare}: {len(predicted)} frames, but the motion has "
                f"{len(sequences[0])} (at {fps:g} fps); resample it, or --allow-length-mismatch "
                "to cut both to the shorter one"
            )
        sequences.append(predicted)
        titles.append(Path(args.compare).stem)
    return sequences, titles, fps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", type=Path, help="motion file")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".gif, .mp4 or .png (strip)")
    parser.add_argument("--cache", type=Path, help="dataset cache folder")
    parser.add_argument("--clip", help="clip name in the cache")
    parser.add_argument("--window", type=int, default=0, help="window index within the clip")
    parser.add_argument("--compare", help="'features' or a .npy of predicted joints (T, 22, 3)")
    parser.add_argument("--rig", type=Path, help="rig map (YAML) for a BVH whose rig is not recognised")
    parser.add_argument(
        "--allow-length-mismatch", action="store_true", help="render --compare sequences of different lengths anyway"
    )
    parser.add_argument("--every", type=int, default=1, help="render every n-th frame")
    parser.add_argument(
        "--egocentric",
        action="store_true",
        help="PNG strip: add a row with what the head-worn camera sees at the same frames (the image model's view)",
    )
    args = parser.parse_args(argv)
    sequences, titles, fps = load_sequences(args)
    if args.egocentric and args.output.suffix.lower() != ".png":
        raise SystemExit("--egocentric needs a .png strip output")
    render_sequences(sequences, args.output, titles=titles, fps=fps, every=args.every)
    if args.egocentric:
        from PIL import Image

        from ..core.camera_views import IMAGE_CAMERA, take_appearance
        from ..core.egocentric import EgocentricRenderer, add_view_row
        from ..core.render import strip_indices

        index = strip_indices(len(sequences[0]))
        with EgocentricRenderer(IMAGE_CAMERA) as renderer:
            views = renderer.render(sequences[0], take_appearance(titles[0]), fps=fps, frames=index)
        Image.fromarray(add_view_row(np.asarray(Image.open(args.output)), views)).save(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
