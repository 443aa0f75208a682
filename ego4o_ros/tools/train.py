"""Train the models: ``ego4o-train {vqvae,ego4o,baseline,captioner,lm_captioner} --out DIR``.

Resumable (re-run the same command), with a progress bar and a JSON-lines loss log; runs
unchanged under ``torchrun --nproc_per_node N`` (``ego4o_ros/training/distributed.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .. import paths
from ..models.checkpoint import CheckpointError
from ..training.recipes import KINDS, train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--cache", type=Path, default=paths.default_cache_dir())
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints and logs")
    parser.add_argument("--config", type=Path, default=None, help="training YAML (default: config/train.yaml)")
    parser.add_argument("--steps", type=int, help="override the config's step count")
    parser.add_argument("--vqvae", type=Path, help="trained VQ-VAE (stem) for ego4o and captioner")
    parser.add_argument(
        "--ego4o",
        type=Path,
        help="trained capture model (stem) whose codes lm_captioner also "
        "learns from (default: none, ground-truth codes only)",
    )
    parser.add_argument(
        "--image",
        type=Path,
        help="trained image model (stem, from ego4o-train image) whose view features ego4o learns from "
        "(default: none, the image token stays masked)",
    )
    parser.add_argument(
        "--init",
        type=Path,
        help="vqvae / ego4o / baseline / lm_captioner: start from this trained model (stem, same config): fine-tuning",
    )
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA when present, else CPU"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    started = time.monotonic()
    try:
        path = train(
            args.kind,
            args.cache,
            args.out,
            args.config or paths.config_file("train.yaml"),
            args.steps,
            args.vqvae,
            progress=not args.quiet,
            ego4o=args.ego4o,
            image=args.image,
            init=args.init,
            device=args.device,
        )
    except (ValueError, FileNotFoundError, CheckpointError) as error:
        parser.error(str(error))
    if os.environ.get("RANK", "0") == "0":
        print(f"{args.kind}: {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
