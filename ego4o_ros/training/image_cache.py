"""Egocentric views of the cached takes, and their image features (ROS-free).

The Bandai takes have no video, so the camera modality is rendered from the motion
(``core/egocentric.py``): the whole take in its world frame, one appearance per take
(seeded by its name), one frame per model step (the step's last frame, ``f % 4 == 3``).
One frame per step is enough: a step is the encoder's time resolution, and a window of
64 frames then offers 16 views to train with, at any position the live camera can have.

Layout beside the motion cache (``core/dataset.py``)::

    images/<clip>.npz          frames (S, H, W, 3) uint8, frame_index (S,) int32 (clip
                               frames at the model rate), camera_joints (S, 22, 3) float32
                               (the joints in the camera's frame: the image model's pose target)
    images/camera.json         the EgoCameraConfig the frames were drawn with
    image_features_<tag>.npz   per clip (S, 2, D) float16: features of each frame and of
                               its left/right flip (the mirrored motion's view)

Re-runs skip clips already rendered with the same camera.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import egocentric, features
from ..core.camera_views import IMAGE_CAMERA, render_take
from ..core.dataset import MotionCache, pad_clip
from ..readers.sources import iter_source, read_item


def render_cache_images(
    source: Path,
    cache_dir: Path,
    camera: egocentric.EgoCameraConfig = IMAGE_CAMERA,
    progress: bool = True,
    limit: int | None = None,
) -> dict:
    """Render every cached clip's views from the motion ``source`` the cache was built from."""
    started = time.monotonic()
    cache = MotionCache(cache_dir)
    folder = Path(cache_dir) / "images"
    folder.mkdir(exist_ok=True)
    camera_file = folder / "camera.json"
    if camera_file.exists() and json.loads(camera_file.read_text()) != _camera_dict(camera):
        for stale in folder.glob("*.npz"):  # drawn with another camera: redo
            stale.unlink()
    camera_file.write_text(json.dumps(_camera_dict(camera), indent=1))
    todo = {n for n in cache.names() if not (folder / f"{n}.npz").exists()}
    if limit is not None:
        todo = set(sorted(todo)[:limit])
    rendered = frames = 0
    config = cache.config
    bar = tqdm(total=len(todo), desc="views", unit="take", disable=not progress, file=sys.stderr)
    with egocentric.EgocentricRenderer(camera) as renderer:
        for name, payload, label_json in iter_source(source):
            stem = Path(name).stem
            if stem not in todo:
                continue
            clip = read_item(name, payload, label_json, config.fps)
            clip = replace(clip, joints=features.retarget_to_template(clip.joints))
            if clip.num_frames < config.window + 1:  # as the cache pads it
                clip = pad_clip(clip, config.window + 1)
            views = render_take(renderer, clip.joints, clip.take or stem, config.fps)
            tmp = folder / f"{stem}.tmp.npz"
            np.savez(tmp, **views)
            os.replace(tmp, folder / f"{stem}.npz")
            rendered, frames = rendered + 1, frames + len(views["frames"])
            bar.update()
            todo.discard(stem)
            if not todo:
                break
    bar.close()
    if todo:
        raise FileNotFoundError(f"{len(todo)} cached clips are not in {source}, e.g. {sorted(todo)[0]}")
    return {"rendered_takes": rendered, "views": frames, "render_s": time.monotonic() - started}


def _camera_dict(camera: egocentric.EgoCameraConfig) -> dict:
    return json.loads(json.dumps(asdict(camera)))


def load_views(cache_dir: Path, name: str) -> dict[str, np.ndarray]:
    path = Path(cache_dir) / "images" / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"no rendered views for {name} ({path}); run ego4o-build-dataset --images")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def features_path(cache_dir: Path, tag: str) -> Path:
    return Path(cache_dir) / f"image_features_{tag}.npz"


def encode_cache_images(cache_dir: Path, encoder, tag: str, progress: bool = True, batch: int = 512) -> Path:
    """Image features of every rendered view and of its flip, saved once per image model ``tag``."""
    path = features_path(cache_dir, tag)
    cache = MotionCache(cache_dir)
    names = cache.names()
    done: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            done = {key: data[key] for key in data.files}
    for name in tqdm(names, desc="image features", unit="take", disable=not progress, file=sys.stderr):
        if name in done:
            continue
        frames = load_views(cache_dir, name)["frames"]
        rows = []
        for start in range(0, len(frames), batch):
            chunk = frames[start : start + batch]
            both = encoder.encode(np.concatenate([chunk, chunk[:, :, ::-1]]))
            rows.append(np.stack([both[: len(chunk)], both[len(chunk) :]], axis=1))
        done[name] = np.concatenate(rows).astype(np.float16)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **done)
    os.replace(tmp, path)
    return path


def load_image_features(cache_dir: Path, tag: str) -> dict[str, np.ndarray]:
    path = features_path(cache_dir, tag)
    if not path.exists():
        raise FileNotFoundError(f"no image features {path}; run ego4o-train image (it encodes the views)")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
