"""Evaluate every capture method: ``ego4o-evaluate`` prints tables (and writes JSON).

Every validation take of the Bandai archive by default (``--sample N`` for a seeded
stratified sample), all 25 combinations of 1-3 IMUs offline, a rotating sample of them
online; see ``ego4o_ros/evaluation/evaluator.py`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import paths
from ..core.wearing import WEAR_PROFILES
from ..evaluation.run import EvaluationConfig, evaluate


def config_of(args: argparse.Namespace, source: Path) -> EvaluationConfig:
    """The evaluation the command line asks for."""
    return EvaluationConfig(
        weights=args.weights,
        source=source,
        split=args.split,
        sample=args.sample,
        seed=args.seed,
        lookahead=args.lookahead,
        max_sites=args.max_sites,
        online_combinations=args.online_combinations,
        tto_clips=args.tto_clips,
        lm_loop=args.lm_loop,
        use_image=not args.no_image,
        jobs=args.jobs,
        lookahead_curve=tuple(args.lookahead_curve),
        curve_clips=args.curve_clips,
        wear=args.wear,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=f"archive or folder of motion files (default: ${paths.DATA_ENV}/bandai/...)",
    )
    parser.add_argument(
        "--split",
        default="validation",
        choices=["validation", "train", "all"],
        help="'all' for folders of non-Bandai files; the ood_motion folder splits by take (CMU trial)",
    )
    parser.add_argument("--weights", type=Path, default=paths.DEFAULT_WEIGHTS)
    parser.add_argument("--sample", type=int, default=None, help="a seeded stratified sample of N takes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lookahead", type=int, default=5, help="online look-ahead frames")
    parser.add_argument(
        "--online-combinations",
        type=int,
        default=1,
        help="IMU combinations per clip evaluated online (rotating over all 25)",
    )
    parser.add_argument("--max-sites", type=int, default=3)
    parser.add_argument(
        "--tto-clips",
        type=int,
        default=0,
        help="add the test-time optimisation row on a seeded sample of N takes, stratified by dataset and action",
    )
    parser.add_argument(
        "--lm-loop",
        action="store_true",
        help="add the closed loop with the language-model captioner (sampled combinations)",
    )
    parser.add_argument(
        "--no-image",
        action="store_true",
        help="skip the camera rows (rendering and encoding each take's egocentric views)",
    )
    parser.add_argument(
        "--lookahead-curve",
        type=int,
        nargs="*",
        default=[],
        help="also online at these look-aheads (frames), the peer and Ego4o from IMUs: e.g. 0 2 5 10",
    )
    parser.add_argument("--curve-clips", type=int, default=0, help="the curve on a seeded sample of N takes (0: all)")
    parser.add_argument(
        "--wear",
        default="clean",
        choices=sorted(WEAR_PROFILES),
        help="readings as synthesised ('clean') or as worn devices give them ('worn': mounting slip, heading "
        "and clock offsets, noise; core/wearing.py)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (per job)")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes sharing the clips"
    )
    parser.add_argument("--json", type=Path, help="write the tables as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    try:
        source = args.source if args.source is not None and args.source.is_dir() else paths.bandai_archive(args.source)
        evaluate(config_of(args, source), progress=not args.quiet, json_path=args.json)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
