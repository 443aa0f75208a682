"""The clips an evaluation runs on: whole takes of a split, read from an archive or a
folder, retargeted to the template skeleton, with synthesised IMUs, their groups
("all", "dataset N", "unseen pairs"; "ood <archive>" for the ood_motion collection, split
by its takes: CMU trials, ``readers/ood.py``) and, optionally, their rendered camera views."""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import features, imu, wearing
from ..core.dataset import DatasetConfig, pad_clip, split_of
from ..core.wearing import WEAR_PROFILES
from ..readers.ood import OodItem
from ..readers.sources import iter_source, read_item


def site_combinations(max_sites: int = 3) -> list[tuple[int, ...]]:
    """Every combination of 1..``max_sites`` of the five IMU sites (25 for 3)."""
    return [c for k in range(1, max_sites + 1) for c in itertools.combinations(range(imu.NUM_SITES), k)]


@dataclass
class EvalClip:
    name: str
    joints: np.ndarray  # (T, 22, 3) template skeleton, world; padded to a window
    acc: np.ndarray  # (T, 5, 3)
    ori: np.ndarray  # (T, 5, 3, 3)
    length: int  # real frames (the rest holds the last pose)
    text: str
    groups: tuple[str, ...]  # e.g. ("all", "dataset 2", "unseen pairs")
    views: np.ndarray | None = None  # (V, D) image features of the rendered camera views (image_cache)


def attach_views(clips: list[EvalClip], image_encoder, fps: float, progress: bool = True) -> list[EvalClip]:
    """Render each clip's egocentric views (its take's appearance) and encode them, in
    this process (a GL context does not survive the evaluation's fork)."""
    from ..core.camera_views import IMAGE_CAMERA, render_take
    from ..core.egocentric import EgocentricRenderer

    out = []
    with EgocentricRenderer(IMAGE_CAMERA) as renderer:
        for clip in tqdm(clips, desc="camera views", disable=not progress, file=sys.stderr, unit="take"):
            frames = render_take(renderer, clip.joints, clip.name, fps)["frames"]
            out.append(replace(clip, views=image_encoder.encode(frames)))
    return out


def take_labels(name: str) -> tuple | None:
    """(dataset, action, style) of a Bandai take's name; None for any other file."""
    from ..readers import bandai

    try:
        dataset, action, style, _ = bandai.labels_from_name(name)
    except ValueError:
        return None
    return dataset, action, style


def load_clips(
    source: Path,
    split: str,
    config: DatasetConfig,
    sample: int | None = None,
    seed: int = 0,
    progress: bool = True,
    wear: str = "clean",
) -> list[EvalClip]:
    """Clips of ``split`` ("validation", "train" or "all") from an archive or folder.
    ``sample``: a seeded sample stratified by (dataset, action), never "the first N".
    ``wear``: a profile of ``core/wearing.py``, drawn per clip (seeded by its name)."""
    if wear not in WEAR_PROFILES:
        raise ValueError(f"wear profile {wear!r}: one of {sorted(WEAR_PROFILES)}")
    items, train_pairs = [], set()
    for name, payload, label_json in tqdm(
        iter_source(source), desc="reading", disable=not progress, file=sys.stderr, unit="take"
    ):
        take = payload.take if isinstance(payload, OodItem) else Path(name).stem
        labels = take_labels(take)
        in_split = split == "all" or split_of(take, config.validation_percent) == split
        if labels and split_of(take, config.validation_percent) == "train":
            train_pairs.add(labels[1:])
        if in_split:
            items.append((name, payload, label_json, labels))
    if sample is not None and sample < len(items):
        items = stratified_sample(items, sample, seed)
    clips = []
    for name, payload, label_json, labels in items:
        clip = read_item(name, payload, label_json, config.fps)
        clip = replace(clip, joints=features.retarget_to_template(clip.joints))
        length = clip.num_frames
        if length < 4:
            continue
        if length < config.window + 1:
            clip = pad_clip(clip, config.window + 1)
        readings = imu.synthesize_from_clip(clip, imu.ImuSynthesisConfig(gravity=config.gravity))
        if WEAR_PROFILES[wear] is not None:
            rng = np.random.default_rng(int(hashlib.sha1(clip.name.encode()).hexdigest()[:8], 16))
            worn_acc, worn_ori = wearing.wear(readings.acc, readings.ori, WEAR_PROFILES[wear], rng)
            readings = replace(readings, acc=worn_acc, ori=worn_ori)
        groups = ["all"] + ([payload.group] if isinstance(payload, OodItem) else [])
        if labels:
            groups.append(f"dataset {labels[0]}")
            if labels[1:] not in train_pairs:
                groups.append("unseen pairs")
        clips.append(
            EvalClip(
                clip.name,
                clip.joints,
                readings.acc,
                readings.ori,
                length,
                clip.descriptions[0] if clip.descriptions else "",
                tuple(groups),
            )
        )
    return clips


def stratified_sample(items: list, count: int, seed: int, labels_of=lambda item: item[3]) -> list:
    """A seeded sample of ``count`` items, stratified by (dataset, action) of their labels."""
    rng = np.random.default_rng(seed)
    count = min(count, len(items))
    strata = defaultdict(list)
    for item in items:
        labels = labels_of(item)
        strata[labels[:2] if labels else ("other",)].append(item)
    keys = sorted(strata, key=str)
    for key in keys:
        rng.shuffle(strata[key])
    picked = []
    while len(picked) < count:  # round robin over strata: proportional-ish and every stratum seen
        for key in keys:
            if strata[key] and len(picked) < count:
                picked.append(strata[key].pop())
    return picked
