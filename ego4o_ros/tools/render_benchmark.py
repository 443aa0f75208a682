"""Egocentric renderer benchmark (the logic is in ``ego4o_ros/core/egocentric/benchmarking.py``): frames
per second of head-mounted views of a motion (default: the bundled sample walk) at a few
resolutions, pinhole and fisheye; ``--sheet PATH`` also writes a contact sheet of the views."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.egocentric import EgocentricRenderError, benchmark, format_benchmark
from ..paths import SAMPLE_CLIP
from ..readers import read_clip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("motion", nargs="?", type=Path, default=SAMPLE_CLIP, help="motion file (default: sample walk)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[96, 128, 256], help="square sizes, pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed renders of the whole clip (the best counts)")
    parser.add_argument(
        "--threads", type=int, default=0, help="llvmpipe threads (0: draw on the calling thread, i.e. one core)"
    )
    parser.add_argument("--seed", type=int, default=0, help="appearance seed")
    parser.add_argument("--sheet", type=Path, help="write a PNG contact sheet of 8 frames per projection here")
    args = parser.parse_args(argv)
    try:
        joints = read_clip(args.motion, target_fps=30).joints
    except (FileNotFoundError, ValueError) as error:
        print(f"render-benchmark: {args.motion}: {error}", file=sys.stderr)
        return 2
    try:
        results = benchmark(
            joints, args.resolutions, repeats=args.repeats, threads=args.threads, seed=args.seed, sheet=args.sheet
        )
    except EgocentricRenderError as error:
        print(f"render-benchmark: {error}", file=sys.stderr)
        return 1
    print(format_benchmark(results))
    if args.sheet:
        print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
