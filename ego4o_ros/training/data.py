"""Training batches from the dataset cache, with Ego4o's random modality masking,
left/right mirroring and description variants."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from ..core import imu, mirror, wearing
from ..core.dataset import MotionCache, WindowStore
from ..core.features import FeatureNormalizer
from ..core.rotations import normalize
from ..core.wearing import WEAR_PROFILES
from ..readers import bandai


@dataclass(frozen=True)
class MaskingConfig:
    """Random masking so one model serves every input combination (Ego4o's modality masking)."""

    min_sites: int = 1
    max_sites: int = 3
    text_drop: float = 0.5
    # A kept description is another take's with this probability: generated descriptions
    # are sometimes wrong, and the capture must then fall back on the IMUs, not follow the text.
    wrong_text_probability: float = 0.15
    image_drop: float = 0.3  # (only where the windows have image features: rendered egocentric views)
    # Gaussian noise on the (unit-norm) image features before re-normalising, against
    # over-trusting them: the image model saw the training takes, so their features tell more
    # about the arms than a new take's (probe wrist R^2 0.18 vs 0.09). 0.02 moved no
    # evaluation row by more than 0.1 mm (docs/evaluation_image_noise.txt), so it is off.
    image_noise_std: float = 0.0
    view_drop: float = 0.2  # with several views per window, each kept one is dropped too (late or lost frames)
    vanish_probability: float = 0.15  # a kept sensor drops out for part of the window
    acc_noise_std: float = 0.2  # m/s^2, white noise on synthesised accelerations
    # What wearing real devices does after calibration (core/wearing.py: mounting slip,
    # heading and clock offsets, consumer noise): this fraction of windows gets a fresh draw.
    wear_probability: float = 0.0
    mirror_probability: float = 0.5  # left/right mirrored window (joints, features, IMUs, text)
    # A stream's first two seconds: until a window has filled, online capture puts the frames so
    # far at the window's front and holds the newest after them (models/online.py). This fraction
    # of windows gets such an end: the rows after a random row hold that row's readings and are
    # left out of the loss (``hold_edge``). ``hold_start_probability`` does the same before the
    # row, as the window was filled until session 15 (the first frame held in front).
    hold_end_probability: float = 0.0
    hold_start_probability: float = 0.0
    # Description variants: the take's full description, its action alone or its style
    # alone, so text helps on action+style pairs never seen together in training.
    action_only_probability: float = 0.25
    style_only_probability: float = 0.15


def random_sites(rng: np.random.Generator, batch: int, config: MaskingConfig) -> np.ndarray:
    """(B, 5) bool: a random subset of 1-3 of the five sites per sample."""
    counts = rng.integers(config.min_sites, config.max_sites + 1, size=batch)
    order = rng.random((batch, imu.NUM_SITES)).argsort(axis=1)
    return order < counts[:, None]


def vanish(rng: np.random.Generator, present: np.ndarray, num_frames: int, probability: float) -> np.ndarray:
    """(B, 5) -> (B, T, 5): some kept sensors disappear over a random span of frames."""
    out = np.repeat(present[:, None, :], num_frames, axis=1)
    for b in np.flatnonzero(rng.random(len(present)) < probability):
        site = rng.choice(np.flatnonzero(present[b]))
        start = rng.integers(0, num_frames - 4)
        out[b, start : rng.integers(start + 4, num_frames + 1), site] = False
    return out


def hold_edge(
    rng: np.random.Generator,
    acc: np.ndarray,
    ori: np.ndarray,
    present: np.ndarray,
    valid: np.ndarray,
    probability: float,
    at_end: bool = False,
) -> None:
    """In place, for a ``probability`` of the windows (B, T, ...): the rows on one side of a
    random row k repeat row k's readings and are not valid (no target: online capture never
    reports them). After k (``at_end``) as online capture's window while it warms up
    (``models/online.py``); before k (1 <= k <= T - 3) as its window did before session 15."""
    frames = acc.shape[1]
    for b in np.flatnonzero(rng.random(len(acc)) < probability):
        k = int(rng.integers(2, frames - 1)) if at_end else int(rng.integers(1, frames - 2))
        held = slice(k + 1, None) if at_end else slice(0, k)
        acc[b, held], ori[b, held], present[b, held] = acc[b, k], ori[b, k], present[b, k]
        valid[b, held] = False


def mirror_text(text: str) -> str:
    """The description of the mirrored motion: left and right swap."""
    return re.sub(r"\b(left|right)\b", lambda m: "right" if m.group(1) == "left" else "left", text)


def description_variants(take: str, descriptions: list[str]) -> dict[str, list[str]]:
    """{"full": ..., "action": ..., "style": ...} phrasings of a take; Bandai takes get
    action-only and style-only phrasings from their labels, others only "full"."""
    out = {"full": list(descriptions), "action": [], "style": []}
    try:
        _, action, style, _ = bandai.labels_from_name(take)
    except ValueError:
        return out
    if action in bandai.ACTION_PHRASES and style in bandai.STYLE_PHRASES:
        out["action"] = [f"a person {phrase}." for phrase in bandai.ACTION_PHRASES[action]]
        out["style"] = [f"a person moves{phrase}." for phrase in bandai.STYLE_PHRASES[style] if phrase]
    return out


class WindowRows:
    """One array of a split's windows, read from disk a batch at a time (``rows[index]``,
    ``rows[start:stop]``), normalised on the way when given a normalizer (the features)."""

    def __init__(self, store: WindowStore, array: str, normalizer: FeatureNormalizer | None = None):
        self.store, self.array, self.normalizer = store, array, normalizer
        self.shape = store.shape(array)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        values = self.store.read(self.array, rows)
        return values if self.normalizer is None else self.normalizer.normalize(values).astype(np.float32)


class TrainingWindows:
    """The windows of one split, read from the cache's packed layout a batch at a time (memory
    does not grow with the data), ready to sample batches from; ``device`` where the batch
    tensors go."""

    def __init__(
        self,
        cache: MotionCache,
        split: str,
        normalizer: FeatureNormalizer,
        text_table: dict[str, np.ndarray] | None = None,
        device: torch.device | str = "cpu",
        progress: bool = False,
    ):
        store = cache.windows(split, progress)
        self.names = store.names
        self.features = WindowRows(store, "features", normalizer)
        self.joints = WindowRows(store, "joints")
        self.acc, self.ori = WindowRows(store, "imu_acc"), WindowRows(store, "imu_ori")
        self.valid = np.arange(self.features.shape[1])[None] < store.length[:, None]
        self.clip_index = store.clip_index
        self.start = store.start
        self.collections = [cache.collection(n) for n in self.names]
        self.descriptions = [cache.clips[n]["descriptions"] for n in self.names]
        self.variants = [
            description_variants(cache.clips[n].get("take", n), d) for n, d in zip(self.names, self.descriptions)
        ]
        self.normalizer = normalizer
        self.text_table = text_table
        self.image_table: dict[str, np.ndarray] | None = None  # per clip (views, 2, D): image_cache
        self.image_views = 1  # views per window (the capture model's EncoderConfig.image_views)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.clip_index)

    def draw_probabilities(self, collection_weights: dict[str, float] | None) -> np.ndarray | None:
        """(N,) probability of drawing each window when ``collection_weights`` (collection ->
        weight, default 1) make some sources' windows more frequent; None: uniform. A weight for
        a collection the cache does not hold is an error (a misspelt name would silently do nothing)."""
        if not collection_weights:
            return None
        unknown = set(collection_weights) - set(self.collections)
        if unknown:
            raise ValueError(
                f"collection_weights: {sorted(unknown)} not in the cache (it holds {sorted(set(self.collections))})"
            )
        per_clip = np.array([float(collection_weights.get(c, 1.0)) for c in self.collections])
        if (per_clip < 0).any() or not (per_clip > 0).any():
            raise ValueError("collection_weights must be >= 0 and not all 0")
        weights = per_clip[self.clip_index]
        return weights / weights.sum()

    def texts(
        self,
        rng: np.random.Generator,
        index: np.ndarray,
        masking: MaskingConfig | None = None,
        mirrored: np.ndarray | None = None,
    ) -> list[str]:
        """A random description of each window's take (a variant when ``masking`` says)."""
        out = []
        for k, i in enumerate(index):
            variants = self.variants[self.clip_index[i]]
            kind = "full"
            if masking is not None:
                if rng.random() < masking.wrong_text_probability:
                    variants = self.variants[rng.integers(len(self.variants))]
                draw = rng.random()
                if draw < masking.action_only_probability and variants["action"]:
                    kind = "action"
                elif draw < masking.action_only_probability + masking.style_only_probability and variants["style"]:
                    kind = "style"
            text = str(rng.choice(variants[kind]))
            out.append(mirror_text(text) if mirrored is not None and mirrored[k] else text)
        return out

    def images(
        self, index: np.ndarray, rng: np.random.Generator | None, mirrored: np.ndarray, count: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` views' features per window (B, count, D) float32, the step each falls
        in (B, count) and whether it exists (B, count): the newest view and every
        ``steps / count`` steps back. The newest is the window's last view, or with ``rng``
        one of the last ``steps / count`` (with ``count`` 1: any view of the window).
        Mirrored windows get the flipped views' features (the mirrored motion's view is
        the flipped image)."""
        from ..core.camera_views import VIEW_FRAMES, newest_view, spaced_views, view_frame

        width = self.features.shape[1]
        spacing = max(1, width // VIEW_FRAMES // count)
        image = np.zeros((len(index), count, next(iter(self.image_table.values())).shape[-1]), np.float32)
        steps = np.zeros((len(index), count), np.int64)
        valid = np.zeros((len(index), count), bool)
        for k, i in enumerate(index):
            table, start = self.image_table[self.names[self.clip_index[i]]], int(self.start[i])
            first = newest_view(start - 1) + 1  # the window's first and last views
            last = min(newest_view(start + width - 1), len(table) - 1)
            newest = last - int(rng.integers(0, min(spacing, last - first + 1))) if rng is not None else last
            views = spaced_views(newest, count, spacing)
            valid[k] = views >= first
            views = np.maximum(views, first)
            image[k] = table[views, int(mirrored[k])]
            steps[k] = (view_frame(views) - start) // VIEW_FRAMES
        image = normalize(image)  # float16 storage
        return image, steps, valid

    def mirrored_features(self, start: int, stop: int) -> np.ndarray:
        """Normalised features of windows ``start:stop``, mirrored."""
        return self.normalizer.normalize(
            mirror.mirror_features(self.features.store.read("features", slice(start, stop)))
        ).astype(np.float32)

    def all_texts(self) -> list[str]:
        """Every text ``texts`` can return (for embedding them once)."""
        texts = {t for v in self.variants for kind in v.values() for t in kind}
        return sorted(texts | {mirror_text(t) for t in texts})

    def batch(
        self,
        index: np.ndarray,
        rng: np.random.Generator | None = None,
        masking: MaskingConfig | None = None,
        sites: np.ndarray | None = None,
        with_text: bool | np.ndarray = False,
        with_image: bool | np.ndarray = False,
    ) -> dict[str, torch.Tensor]:
        """Tensors for windows ``index``. With ``masking`` (training) sensors, text and image
        are dropped at random; otherwise ``sites`` (5,) bool, ``with_text`` and ``with_image`` decide."""
        batch, frames = len(index), self.features.shape[1]
        acc, ori = self.acc[index].astype(np.float64), self.ori[index].astype(np.float64)
        features, joints = self.features[index], self.joints[index]
        valid = self.valid[index]
        mirrored = np.zeros(batch, bool)
        if masking is not None:
            mirrored = rng.random(batch) < masking.mirror_probability
            if mirrored.any():
                m = mirrored
                acc[m], ori[m] = mirror.mirror_imu(acc[m], ori[m])
                features, joints = features.copy(), joints.copy()
                features[m] = self.normalizer.normalize(
                    mirror.mirror_features(self.normalizer.denormalize(features[m]))
                ).astype(np.float32)
                joints[m] = mirror.mirror_joints(joints[m])
            present = vanish(rng, random_sites(rng, batch, masking), frames, masking.vanish_probability)
            text_present = rng.random(batch) >= masking.text_drop
            worn = rng.random(batch) < masking.wear_probability
            if worn.any():
                acc[worn], ori[worn] = wearing.wear(acc[worn], ori[worn], WEAR_PROFILES["worn"], rng)
            acc = acc + rng.normal(0.0, masking.acc_noise_std, acc.shape)
            for probability, at_end in ((masking.hold_start_probability, False), (masking.hold_end_probability, True)):
                if probability > 0:
                    present, valid = present.copy(), valid.copy()
                    hold_edge(rng, acc, ori, present, valid, probability, at_end)
        else:
            present = np.broadcast_to(np.asarray(sites, bool), (batch, frames, imu.NUM_SITES))
            text_present = np.broadcast_to(np.asarray(with_text, bool), (batch,))
        out = {
            "features": torch.from_numpy(np.ascontiguousarray(features)),
            "joints": torch.from_numpy(np.ascontiguousarray(joints, np.float32)),
            "valid": torch.from_numpy(np.ascontiguousarray(valid)),
            "imu": torch.from_numpy(imu.network_inputs(acc, ori, present)),
            "present": torch.from_numpy(np.ascontiguousarray(present)),
            "text_present": torch.from_numpy(np.ascontiguousarray(text_present)),
            "mirrored": torch.from_numpy(mirrored),
        }
        if self.image_table is not None:
            count = self.image_views
            image, step, valid = self.images(index, rng if masking is not None else None, mirrored, count)
            if masking is not None:
                image_present = (rng.random(batch) >= masking.image_drop)[:, None] & valid
                if masking.image_noise_std > 0:
                    image = normalize(image + rng.normal(0.0, masking.image_noise_std, image.shape).astype(image.dtype))
                if count > 1:
                    image_present &= rng.random((batch, count)) >= masking.view_drop
            else:
                image_present = np.asarray(with_image, bool).reshape(-1, 1) & valid
            out["image"] = torch.from_numpy(image)
            out["image_step"] = torch.from_numpy(step)
            out["image_present"] = torch.from_numpy(np.ascontiguousarray(image_present))
        if self.text_table is not None:
            texts = self.texts(rng if rng is not None else np.random.default_rng(0), index, masking, mirrored)
            out["text"] = torch.from_numpy(np.stack([self.text_table[t] for t in texts]).astype(np.float32))
        if self.device.type != "cpu":
            out = {k: v.to(self.device, non_blocking=True) for k, v in out.items()}
        return out


def text_table(
    cache: MotionCache, encoder, name: str = "minilm", texts: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Embeddings of every description in the cache (or of ``texts``), computed once
    and kept beside the cache."""
    path = cache.folder / f"text_{name}.npz"
    texts = texts if texts is not None else sorted({t for entry in cache.clips.values() for t in entry["descriptions"]})
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            table = dict(zip(data["texts"].tolist(), data["embeddings"]))
        if all(t in table for t in texts):
            return table
    embeddings = encoder.encode(texts)
    np.savez(path, texts=np.array(texts), embeddings=embeddings.astype(np.float32))
    return dict(zip(texts, embeddings.astype(np.float32)))
