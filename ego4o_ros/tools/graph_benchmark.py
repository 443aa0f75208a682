"""End-to-end benchmark of the capture graph: ``ego4o-graph-benchmark`` prints two tables.

Live capture for ``--duration`` seconds (3 IMUs at 100 Hz + a 30 Hz camera; ``--robot g1``
adds the retarget node, ``--sonic 3`` its SONIC stream), then bag replays at ``--speeds``;
see ``graph/benchmark.py`` for what is measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..graph.benchmark import dropped, print_tables, run_benchmark


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="s of live capture (default 5 min)")
    parser.add_argument(
        "--speeds",
        type=lambda s: [float(v) for v in s.split(",") if v],
        default=[1.0, 2.0, 4.0],
        help="bag replay speeds, comma separated ('' = skip the bag part)",
    )
    parser.add_argument("--bag-seconds", type=float, default=60.0, help="s of the live bag to replay per speed")
    parser.add_argument("--robot", help="also retarget to this robot (g1): latency to robot/joint_states")
    parser.add_argument(
        "--sonic", type=int, choices=(2, 3), help="also stream to SONIC over ZMQ (protocol 2 or 3): latency to it"
    )
    parser.add_argument("--out", type=Path, default=Path("out/graph_benchmark"))
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the environment's, else per run)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    live, bags = run_benchmark(args)
    print_tables(live, bags)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"live": live, "bag": bags}, indent=1))
    return 0 if dropped(live) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
