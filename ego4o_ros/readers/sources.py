"""Where motion comes from in bulk: a tar archive (the Bandai-Namco release, streamed,
never extracted), a folder of motion files, or the ood_motion collection (a folder with
``clips.csv`` beside its archives, ``readers/ood.py``). Each yields ``(name, payload,
label_json)``: ``payload`` is the BVH text for archive members, a ``Path`` for files on
disk, an ``ood.OodItem`` (which knows its take, descriptions and source) for the collection.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from . import is_motion_file, ood


def iter_archive(path: Path):
    """Yield (name, bvh_text, json_text | None) for each take in a tar archive."""
    pending: dict[str, dict] = {}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            stem, _, suffix = member.name.rpartition(".")
            if not member.isfile() or suffix not in ("bvh", "json"):
                continue
            entry = pending.setdefault(stem, {})
            entry[suffix] = archive.extractfile(member).read().decode("utf-8", errors="replace")
            if "bvh" in entry and "json" in entry:
                yield Path(stem).name + ".bvh", pending.pop(stem)["bvh"], entry["json"]
    for stem, entry in pending.items():
        if "bvh" in entry:
            yield Path(stem).name + ".bvh", entry["bvh"], None


def count_archive(path: Path) -> int:
    with tarfile.open(path, "r:*") as archive:
        return sum(1 for m in archive if m.isfile() and m.name.endswith(".bvh"))


def iter_folder(path: Path):
    if ood.is_collection(path):
        for item in ood.items(path):
            yield item.name, item, None
        return
    for file in sorted(Path(path).rglob("*")):
        if file.is_file() and is_motion_file(file):
            yield file.name, file, None


def iter_source(path: Path):
    """Archive or folder, by what ``path`` is."""
    path = Path(path)
    if path.is_dir():
        return iter_folder(path)
    if path.exists():
        return iter_archive(path)
    raise FileNotFoundError(f"motion source not found: {path}")


def read_item(name: str, payload, label_json: str | None, target_fps: float):
    """One yielded item -> MotionClip (Bandai archive members by their label; files by extension)."""
    if isinstance(payload, str):
        from .bandai import read_bandai

        return read_bandai(name, text=payload, label_json=label_json, target_fps=target_fps)
    if isinstance(payload, ood.OodItem):
        return payload.read(target_fps)
    from . import read_clip

    return read_clip(payload, target_fps=target_fps)
