"""Default locations, in one place. Nothing here depends on the source checkout's layout:
bundled files are the package's own data (wherever pip or colcon installed it), the
training data comes from a parameter or the ``EGO4O_DATA`` environment variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "ego4o_ros"  # the ROS package name (share/<PACKAGE>)
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = PACKAGE_DIR / "weights"  # default models (safetensors + model cards)
SAMPLE_CLIP = PACKAGE_DIR / "data" / "sample" / "dataset-2_walk_normal_001.bvh"  # the bundled walk
DATA_ENV = "EGO4O_DATA"  # folder holding bandai/bandai_train.tar.xz
BANDAI_ARCHIVE_NAME = Path("bandai") / "bandai_train.tar.xz"


def default_cache_dir() -> Path:
    """Where ``ego4o-build-dataset`` writes and training reads (XDG cache)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ego4o_ros" / "bandai"


def base_lm_cache_dir() -> Path:
    """Where the LM captioner's base model, converted once from its GGUF file, is kept
    (``models/base_lm.py``; XDG cache)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ego4o_ros" / "base_lm"


def bandai_archive(explicit: str | Path | None = None) -> Path:
    """The Bandai-Namco training archive: ``explicit``, else ``$EGO4O_DATA/bandai/...``;
    a clear error when neither names an existing file."""
    if explicit is not None:
        path = Path(explicit)
    elif os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]) / BANDAI_ARCHIVE_NAME
    else:
        raise FileNotFoundError(
            f"no training data given: pass --source PATH, or set {DATA_ENV} to the folder "
            f"holding {BANDAI_ARCHIVE_NAME} (the project's Makefile sets it to ../shared/data)"
        )
    if not path.exists():
        raise FileNotFoundError(f"training data not found: {path}")
    return path


def config_file(name: str) -> Path:
    """A file of the package's config/ folder (source checkout or installed share)."""
    return share_file("config", name)


def share_file(*parts: str) -> Path:
    """A file of the package's share tree: the source checkout, or where pip / colcon put it."""
    source = PACKAGE_DIR.parent.joinpath(*parts)
    if source.exists():
        return source
    installed = Path(sys.prefix, "share", PACKAGE, *parts)
    if installed.exists():
        return installed
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE), *parts)
    except (ImportError, LookupError):
        raise FileNotFoundError(f"{'/'.join(parts)} not found in {source.parent} or {installed.parent}") from None
