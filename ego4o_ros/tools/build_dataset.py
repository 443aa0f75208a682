"""Build the training cache from motion files: ``ego4o-build-dataset``.

Reads the Bandai-Namco archive (``--source``, or ``$EGO4O_DATA/bandai/bandai_train.tar.xz``)
or any folder of BVH / AMASS .npz / HumanML3D .npy / DIP .pkl files; see
``ego4o_ros/readers/cache_builder.py`` and ``core/dataset.py`` for what it writes.
Re-running skips clips already built with the same configuration. ``--images`` also
renders the head-worn camera's views of every take (``models/image_cache.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import paths
from ..training.cache_builder import build, load_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=f"archive (.tar.xz) or folder of motion files (default: ${paths.DATA_ENV}/bandai/...)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="output folder")
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML with a dataset: section (default: config/dataset.yaml)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N takes")
    parser.add_argument(
        "--images",
        action="store_true",
        help="also render every take's head-camera views into the cache (the camera modality's training data)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        source = args.source if args.source is not None and args.source.is_dir() else paths.bandai_archive(args.source)
        config = load_config(args.config or paths.config_file("dataset.yaml"))
        cache = args.cache or paths.default_cache_dir()
        summary = build(source, cache, config, args.workers, args.limit, progress=not args.quiet)
        if args.images:
            from ..training.image_cache import render_cache_images

            summary.update(render_cache_images(source, cache, progress=not args.quiet, limit=args.limit))
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
