"""Reliability benchmark of the live graph: ``ego4o-fault-benchmark`` prints one table.

Runs the capture graph for ``--duration`` seconds while sensors drop out and come back,
malformed messages of every kind and a description flood are injected, and the captioning and
recorder processes are killed and restarted; see ``graph/fault_benchmark.py`` for what is
measured and how.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..graph.fault_benchmark import FaultConfig, run_fault_benchmark
from ..graph.fault_report import table, write_json


def main(argv=None) -> int:
    defaults = FaultConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="s of live data (default 120)")
    parser.add_argument("--malformed", type=int, default=defaults.malformed, help="malformed messages in all")
    parser.add_argument("--flood", type=int, default=defaults.flood, help="valid descriptions in one burst")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="dropout schedule and message choice")
    parser.add_argument("--out", type=Path, default=defaults.out, help="bags and child logs go here")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the environment's, else per run)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    config = FaultConfig(
        duration_s=args.duration,
        malformed=args.malformed,
        flood=args.flood,
        seed=args.seed,
        out=args.out,
        domain_id=args.domain_id,
    )
    results = run_fault_benchmark(config)
    print(table(results))
    if args.json:
        write_json(results, args.json)
    return 0  # the table says which targets are met; non-zero only when the benchmark itself failed


if __name__ == "__main__":
    sys.exit(main())
