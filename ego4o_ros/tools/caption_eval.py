"""Evaluate the captioners: ``ego4o-caption-eval`` prints a table (and writes JSON).

Every validation take of the Bandai archive by default (``--sample N`` for a seeded
stratified sample); rows: the code-histogram captioner and the language-model captioner,
each from ground-truth codes and from codes captured with 1, 2 and 3 IMUs; see
``ego4o_ros/evaluation/captions.py`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import paths
from ..evaluation.captions import CaptionEvaluationConfig, evaluate_captions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=f"archive or folder of motion files (default: ${paths.DATA_ENV}/bandai/...)",
    )
    parser.add_argument("--split", default="validation", choices=["validation", "train", "all"])
    parser.add_argument(
        "--weights",
        type=Path,
        default=paths.DEFAULT_WEIGHTS,
        help="folder with vqvae, captioner (and ego4o, lm_captioner)",
    )
    parser.add_argument("--lm", type=Path, default=None, help="LM captioner stem (default: WEIGHTS/lm_captioner)")
    parser.add_argument("--ego4o", type=Path, default=None, help="capture model stem (default: WEIGHTS/ego4o)")
    parser.add_argument("--base-model", default=None, help="LM base model override (.gguf or local directory)")
    parser.add_argument("--sample", type=int, default=None, help="a seeded stratified sample of N takes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, default=2, help="consecutive 64-frame windows per description")
    parser.add_argument("--max-sites", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="descriptions generated together")
    parser.add_argument("--latency-repeats", type=int, default=20, help="single descriptions timed for p50/p99")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="write the table (and every description) as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    try:
        source = args.source if args.source is not None and args.source.is_dir() else paths.bandai_archive(args.source)
        config = CaptionEvaluationConfig(
            weights=args.weights,
            source=source,
            split=args.split,
            sample=args.sample,
            seed=args.seed,
            windows=args.windows,
            max_sites=args.max_sites,
            lm_stem=args.lm,
            ego4o_stem=args.ego4o,
            base_model=args.base_model,
            batch=args.batch,
            latency_repeats=args.latency_repeats,
        )
        evaluate_captions(config, progress=not args.quiet, json_path=args.json)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
