"""Real recordings through the real device path: ``ego4o-device-benchmark --recording PATH``
(the logic is in ``ego4o_ros/live/device_benchmark.py``). PATH: a folder with TransPose's
``acc.pt``/``ori.pt`` (Xinyu-Yi/TransPose ``data/example``, from your own copy), or a file of
IMUPoser app lines (``--profile``/``--devices`` say which device is which site); several
``--recording`` flags make several rows. Prints per recording: frames out, NaN frames, the
median bone-length spread, foot height p95 above the floor and the correlation of measured
and output forearm elevation. ``--sample`` adds the bundled walk sent as IMUPoser lines."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..live.device_benchmark import format_table, load_recording, run_recording, sample_walk_recording
from ..paths import DEFAULT_WEIGHTS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", type=Path, action="append", default=[], help="a recording (folder or file)")
    parser.add_argument("--sample", action="store_true", help="also the bundled walk, synthesised, as IMUPoser lines")
    parser.add_argument("--devices", type=Path, help="devices file for line recordings (default config/devices.yaml)")
    parser.add_argument("--profile", default="imuposer", help="its profile (default imuposer)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="model folder (default: bundled)")
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    args = parser.parse_args(argv)
    if not args.recording and not args.sample:
        parser.error("give --recording PATH (TransPose's data/example folder, or a file of IMUPoser lines) or --sample")
    try:
        recordings = [load_recording(p, args.devices, args.profile) for p in args.recording]
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error).splitlines()[0])
    if args.sample:
        recordings.append(sample_walk_recording())
    rows = [run_recording(r, args.weights) for r in recordings]
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
