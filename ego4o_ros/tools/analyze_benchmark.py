"""ego4o-analyze-benchmark: speed of ego4o-analyze per stage on a recording like the ones users record."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    parser.add_argument(
        "--bag",
        help="a bag recorded by ego4o-capture, repeated to --minutes (default: IMUs + camera + ground truth "
        "written here)",
    )
    parser.add_argument("--bags", type=int, default=1, help="copies analysed together (with --jobs)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--backend", choices=["onnxruntime", "torch"], default="onnxruntime")
    parser.add_argument("--work", help="folder for the recording and results (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", help="write the table here too")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.bags < 1 or args.jobs < 1:
        parser.error("--minutes must be > 0, --bags and --jobs >= 1")

    from ..analysis import AnalysisConfig
    from ..analysis.benchmark import format_table, run_benchmark

    table = run_benchmark(
        args.minutes,
        args.work,
        AnalysisConfig(backend=args.backend),
        args.bags,
        args.jobs,
        args.keep or bool(args.work),
        args.bag,
    )
    print(format_table(table))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
