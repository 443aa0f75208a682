"""Retargeting benchmark: ``ego4o-retarget-benchmark`` (the logic is in
``ego4o_ros/retarget/benchmark.py``): every Bandai validation take retargeted to a robot,
frame by frame; prints a table (time per frame, limit violations, tracking error, joint
speed against the URDF limits, frames not converged)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..paths import DATA_ENV, bandai_archive
from ..retarget.benchmark import format_table, run_benchmark
from ..retarget.retargeter import RetargetOptions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", default="g1", help="bundled map name (config/robots/) or a map YAML path")
    parser.add_argument(
        "--archive", type=Path, help=f"Bandai-Namco archive (.tar.xz; default ${DATA_ENV}/bandai/bandai_train.tar.xz)"
    )
    parser.add_argument("--max-takes", type=int, help="stop after this many validation takes (a quick look)")
    parser.add_argument("--no-smoothing", action="store_true", help="publish the IK solution unfiltered")
    parser.add_argument("--velocity-limits", action="store_true", help="cap joint speeds at the URDF limits")
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    args = parser.parse_args(argv)
    try:
        archive = bandai_archive(args.archive)
    except FileNotFoundError as error:
        parser.error(str(error))
    options = RetargetOptions(smoothing=not args.no_smoothing, velocity_limits=args.velocity_limits)
    summary = run_benchmark(archive, args.robot, options, max_takes=args.max_takes)
    print(format_table(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
