"""Per-step latency of online capture: ``ego4o-benchmark`` prints a table
(``evaluation/latency.py``: torch and onnxruntime, 1-3 IMUs, p50/p99/max ms)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..evaluation.latency import latency_table
from ..models import CheckpointError
from ..paths import DEFAULT_WEIGHTS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lookahead", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and onnxruntime")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    torch.set_num_threads(args.threads)
    try:
        print(latency_table(args.weights, args.steps, args.lookahead, args.threads))
    except (CheckpointError, FileNotFoundError) as error:
        print(f"ego4o-benchmark: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
