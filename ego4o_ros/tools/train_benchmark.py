"""How training scales: ``ego4o-train-benchmark`` prints steps/s and peak RSS of the Ego4o
training for 1 and 2 processes, on a cache and on one 20x its size
(``training/scale_benchmark.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import paths
from ..training.scale_benchmark import scale_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=paths.default_cache_dir())
    parser.add_argument("--vqvae", type=Path, default=paths.DEFAULT_WEIGHTS / "vqvae")
    parser.add_argument("--work", type=Path, required=True, help="folder for the big cache and the runs")
    parser.add_argument("--factor", type=int, default=20, help="the big cache holds the training clips this often")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--config", type=Path, help="training YAML (default: config/train.yaml)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.factor < 1 or args.steps < 1:
        parser.error("--factor and --steps must be >= 1")
    try:
        print(
            scale_table(
                args.cache,
                args.vqvae,
                args.work,
                args.factor,
                tuple(args.processes),
                args.steps,
                not args.quiet,
                args.config,
            )
        )
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
