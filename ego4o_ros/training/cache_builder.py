"""Build the training cache from motion files (``ego4o-build-dataset`` is the front end).

Reads the Bandai-Namco archive (streamed, never extracted into the repo) or any folder
of BVH / AMASS .npz / HumanML3D .npy / DIP .pkl files, splits train/validation by
take, retargets every clip to the template skeleton, cuts canonical windows, computes
features and synthesises IMUs (see ``core/dataset.py`` for the cache layout).
Re-running skips clips already built with the same configuration.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from ..core import body, features
from ..core.dataset import DatasetConfig, Manifest, MotionCache, clip_windows, save_windows, split_of
from ..readers.sources import count_archive, iter_archive, iter_folder, read_item


def load_config(path: Path | None) -> DatasetConfig:
    """``dataset:`` section of a YAML file -> DatasetConfig (unknown keys are errors; None:
    the defaults; a file named but missing is an error, never silently the defaults)."""
    if path is None:
        return DatasetConfig()
    if not Path(path).is_file():
        raise FileNotFoundError(f"dataset config {path} not found")
    section = (yaml.safe_load(Path(path).read_text()) or {}).get("dataset", {})
    try:
        return DatasetConfig(**section)
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from error


# ---------------------------------------------------------------- one clip
def _bone_moments(joints: np.ndarray) -> np.ndarray:
    """Count, sum and sum of squares of each bone's deviation from the template."""
    deviation = body.bone_lengths(joints)[:, 1:] - body.TEMPLATE_BONE_LENGTHS[1:]
    return np.stack([np.full(21, len(deviation)), deviation.sum(0), (deviation**2).sum(0)])


def build_clip(task) -> tuple[str, dict, dict | None]:
    """Worker: read, retarget, window, save. Returns (name, manifest entry, moments)."""
    name, payload, label_json, config, clips_dir, collection = task
    try:
        clip = read_item(name, payload, label_json, config.fps)
    except (ValueError, KeyError, OSError) as error:
        return name, {"error": str(error)}, None
    raw_moments = _bone_moments(clip.joints)
    clip = replace(clip, joints=features.retarget_to_template(clip.joints))
    split = split_of(clip.take, config.validation_percent)
    entry = {
        "split": split,
        "frames": clip.num_frames,
        "descriptions": clip.descriptions,
        "source": clip.source,
        "take": clip.take,
        "collection": collection,
        "windows": 0,
    }
    windows = clip_windows(clip, config)
    if windows:
        save_windows(clips_dir / f"{clip.name}.npz", windows)
        entry["windows"] = int(len(windows["start"]))
    else:
        entry["skipped"] = f"shorter than {config.min_frames} frames"
    return clip.name, entry, {"raw": raw_moments, "retargeted": _bone_moments(clip.joints)}


def _spread_mm(moments: np.ndarray) -> float:
    count, total, total_sq = moments
    mean = total / count
    return float(np.sqrt(np.maximum(total_sq / count - mean**2, 0)).mean() * 1000)


def compute_statistics(cache_dir: Path) -> features.FeatureNormalizer:
    cache = MotionCache(cache_dir)
    stats = features.FeatureStatistics()
    for name in cache.names("train"):
        stats.update(cache.load_clip(name)["features"])
    normalizer = stats.result()
    normalizer.save(cache_dir / "stats.npz")
    return normalizer


def build(
    source: Path,
    cache_dir: Path,
    config: DatasetConfig,
    workers: int = 2,
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Build (or complete) a cache; returns a summary dict."""
    started = time.monotonic()
    clips_dir = cache_dir / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = cache_dir / "manifest.json"
    manifest = Manifest.load_or_new(manifest_path, config)
    if source.is_dir():
        items, total = iter_folder(source), sum(1 for _ in iter_folder(source))
    elif source.exists():
        items, total = iter_archive(source), count_archive(source)
    else:
        raise FileNotFoundError(f"source not found: {source}")
    total = min(total, limit) if limit else total

    def tasks():
        for count, (name, payload, label_json) in enumerate(items):
            if limit and count >= limit:
                return
            stem = Path(name).stem
            done = manifest.clips.get(stem)
            if done and "error" not in done and (not done["windows"] or (clips_dir / f"{stem}.npz").exists()):
                yield None
                continue
            yield name, payload, label_json, config, clips_dir, collection_name(source)

    moments = {"raw": np.zeros((3, 21)), "retargeted": np.zeros((3, 21))}
    built = errors = 0
    bar = tqdm(total=total, desc="clips", unit="clip", disable=not progress, file=sys.stderr)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for result in pool.imap_unordered(_maybe_build, tasks(), chunksize=4):
            bar.update()
            if result is None:
                continue
            name, entry, clip_moments = result
            manifest.clips[name] = entry
            if clip_moments is None:
                errors += 1
                tqdm.write(f"skipped {name}: {entry['error']}", file=sys.stderr)
            else:
                built += 1
                for key in moments:
                    moments[key] += clip_moments[key]
            if built % 50 == 0:
                manifest.save(manifest_path)
    bar.close()
    manifest.save(manifest_path)
    if built or not (cache_dir / "stats.npz").exists():
        compute_statistics(cache_dir)
    summary = summarize(cache_dir)
    summary.update(built=built, errors=errors, wall_s=time.monotonic() - started)
    if built:
        summary["bone_spread_raw_mm"] = _spread_mm(moments["raw"])
        summary["bone_spread_mm"] = _spread_mm(moments["retargeted"])
    return summary


def collection_name(source: Path) -> str:
    """What a cache calls the clips of one source (``bandai_train``, ``ood_motion``): the
    training's ``collection_weights`` draw windows by it when several sources share a cache."""
    name = Path(source).name
    for suffix in (".tar.xz", ".tar.gz", ".tgz", ".tar", ".zip"):
        name = name.removesuffix(suffix)
    return name


def _maybe_build(task):
    return None if task is None else build_clip(task)


def summarize(cache_dir: Path) -> dict:
    cache = MotionCache(cache_dir)
    size = sum(f.stat().st_size for f in cache_dir.rglob("*") if f.is_file())
    out = {"cache": str(cache_dir), "size_mb": size / 1e6}
    for split in ("train", "validation"):
        names = cache.names(split)
        out[f"{split}_clips"] = len(names)
        out[f"{split}_windows"] = sum(cache.clips[n]["windows"] for n in names)
    return out
