"""Choose how sure the LM captioner must be before its description is fed back into
capture: ``ego4o-calibrate-feedback`` measures the loop on a seeded sample of training
takes, prints the table and writes the threshold into ``lm_captioner.json``
(see ``ego4o_ros/evaluation/feedback_calibration.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import paths
from ..evaluation.feedback_calibration import CalibrationConfig, calibrate_feedback


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help=f"archive (default: ${paths.DATA_ENV}/bandai/...)")
    parser.add_argument("--split", default="train", choices=["train", "validation"])
    parser.add_argument("--weights", type=Path, default=paths.DEFAULT_WEIGHTS)
    parser.add_argument("--sample", type=int, default=240, help="a seeded stratified sample of N takes (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true", help="print the table, leave the card as it is")
    parser.add_argument("--json", type=Path, help="write the per-take records and the table here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        source = args.source if args.source is not None and args.source.is_dir() else paths.bandai_archive(args.source)
        config = CalibrationConfig(args.weights, source, args.split, args.sample or None, args.seed)
        calibrate_feedback(config, write=not args.dry_run, progress=not args.quiet, json_path=args.json)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
