"""The main job on the bundled sample: ``make demo`` / ``ego4o-demo`` (``training/sample_demo.py``).

Reads the bundled Bandai-Namco walk, maps it onto SMPL-22, retargets it to the
template skeleton, computes HumanML3D features and recovers joints from them,
synthesises the five IMUs, cuts training windows, then renders the mapped motion next
to the motion recovered from its features (GIF + PNG strip) and plots the IMUs.
``--full`` also builds the training cache from the whole Bandai archive.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..training.sample_demo import sample_walk_demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("out") / "demo", help="folder for pictures")
    parser.add_argument("--config", type=Path, default=None, help="dataset YAML (default: config/dataset.yaml)")
    parser.add_argument("--full", action="store_true", help="also build the whole Bandai training cache")
    args = parser.parse_args(argv)
    try:
        summary = sample_walk_demo(args.output, args.config)
    except (FileNotFoundError, ValueError) as error:
        print(f"ego4o-demo: {error}", file=sys.stderr)
        return 2
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
