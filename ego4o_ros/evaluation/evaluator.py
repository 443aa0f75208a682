"""Evaluation of every capture method on whole clips (``ego4o-evaluate`` is the front end).

What is measured, per clip and per combination of 1-3 of the five IMUs:

* **Offline**: windows every half window, blended, root integrated once over the clip
  (``StreamingCapture.offline``). MPJPE / PA-MPJPE / per-part errors compare each frame
  with the ground truth in the canonical frame (``features.window_frame``) of the window
  where the frame sits most central, as that window predicted it (facing drift counts
  over at most one window, as online). Blending itself is not scored: each window has
  its own smoothed facing convention, so even ground-truth features blended across
  windows differ from the truth by ~10 mm at window borders. Jitter is measured on the
  whole blended, stitched clip, beside the ground truth's.
* **Online**: ``StreamingCapture.forward_online`` (exactly what ``step`` computes, what
  the ROS node runs), on a seeded sample of combinations (``online_combinations`` per
  clip, rotating so that every combination is covered); each reported pose is scored
  in the frame of the window that produced it; jitter on the streamed root-integrated
  joints.
* Rows: the VQ-VAE ceiling (ground truth in and out), the LSTM peer, Ego4o from IMUs
  alone, with the ground-truth description, with a generated description (closed
  loop: the code captioner describes the IMU-only capture, the description is fed
  back), optionally test-time optimisation on a sample; plus the ground truth through
  the offline stitching path (its jitter must match the world ground truth's). With the
  language-model captioner (``lm_loop``), on each clip's sampled combination: its gated
  loop from IMUs and from IMUs + camera, each beside the capture without text, and the
  loop with a perfect gate (the ceiling of gating with this captioner).
* Groups: all clips; Bandai dataset 1 and 2; takes whose action+style pair no
  training take has ("unseen pairs"); and by the number of IMUs.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core import body, features, imu, metrics
from ..core.camera_views import newest_view
from ..core.dataset import DatasetConfig, pad_clip, split_of
from ..models.online import StreamingCapture, blend_weights, blend_windows, offline_starts, sliding_index
from ..readers.sources import iter_source, read_item

ROWS = (
    "ground_truth_stitched",
    "vqvae_reconstruction",
    "baseline_lstm",
    "ego4o_imu",
    "ego4o_imu_tto",
    "ego4o_generated_text",
    "ego4o_imu_lm_reference",
    "ego4o_lm_text",
    "ego4o_lm_text_oracle_gate",
    "ego4o_gt_text",
    "ego4o_image",
    "ego4o_image_generated_text",
    "ego4o_image_lm_reference",
    "ego4o_image_lm_text",
    "ego4o_all",
)


def site_combinations(max_sites: int = 3) -> list[tuple[int, ...]]:
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


def _labels(name: str):
    from ..readers import bandai

    try:
        dataset, action, style, _ = bandai.labels_from_name(name)
    except ValueError:
        return None
    return dataset, action, style


def load_clips(
    source: Path, split: str, config: DatasetConfig, sample: int | None = None, seed: int = 0, progress: bool = True
) -> list[EvalClip]:
    """Clips of ``split`` ("validation", "train" or "all") from an archive or folder.
    ``sample``: a seeded sample stratified by (dataset, action), never "the first N"."""
    items, train_pairs = [], set()
    for name, payload, label_json in tqdm(
        iter_source(source), desc="reading", disable=not progress, file=sys.stderr, unit="take"
    ):
        take = Path(name).stem
        labels = _labels(take)
        in_split = split == "all" or split_of(take, config.validation_percent) == split
        if labels and split_of(take, config.validation_percent) == "train":
            train_pairs.add(labels[1:])
        if in_split:
            items.append((name, payload, label_json, labels))
    if sample is not None and sample < len(items):
        items = _stratified(items, sample, seed)
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
        groups = ["all"]
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


def _stratified(items: list, count: int, seed: int, labels_of=lambda item: item[3]) -> list:
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


# ---------------------------------------------------------------- per clip truth
@dataclass
class ClipTruth:
    """Everything about a clip's ground truth the scoring needs, computed once."""

    starts: np.ndarray  # offline window starts
    owner: np.ndarray  # (T,) index into starts of the window that scores each frame
    windows: np.ndarray  # (K, W, 22, 3) ground truth in each window's frame
    features: np.ndarray  # (K, W, 263) ground-truth features of each window
    online: np.ndarray | None  # (T - lookahead, 22, 3) truth of each online frame in its window's frame


def clip_truth(clip: EvalClip, window: int, config: features.FeatureConfig, lookahead: int | None) -> ClipTruth:
    T = len(clip.joints)
    starts = offline_starts(T, window, window // 2)  # the windows StreamingCapture.offline blends
    held = np.concatenate([clip.joints, clip.joints[-1:]])  # W feature rows need W + 1 poses
    windows, feats = [], []
    for s in starts:
        poses = held[s : s + window + 1]
        canonical = features.window_frame(poses, config).points(poses)
        windows.append(canonical[:window])
        feats.append(features.features_from_joints(canonical, config, canonicalize=False))
    weights = blend_weights(window)
    score = np.full((len(starts), T), -1.0)
    for k, s in enumerate(starts):
        score[k, s : s + window] = weights
    online = None
    if lookahead is not None:
        ends = np.arange(lookahead, T)
        index = sliding_index(T, window, ends)
        row = window - 1 - lookahead
        online = np.stack([features.window_frame(clip.joints[i], config).points(clip.joints[i][row]) for i in index])
    return ClipTruth(starts, score.argmax(0), np.stack(windows), np.stack(feats), online)


def score_offline(windows: np.ndarray, blended: np.ndarray, truth: ClipTruth, clip: EvalClip, fps: float) -> dict:
    """Per-window features (K, W, 263) at ``truth.starts`` and their blend (T, 263) ->
    per-frame errors and the stitched jitter."""
    per_window = features.joints_from_features(windows)
    frames = np.arange(clip.length)
    owner = truth.owner[frames]
    row = frames - truth.starts[owner]
    pred, true = per_window[owner, row], truth.windows[owner, row]
    stitched = features.joints_from_features(blended[: clip.length])
    return _errors(pred, true) | {"jitter": metrics.jitter(stitched, fps) if clip.length >= 4 else np.nan}


def score_online(window_joints: np.ndarray, stream: np.ndarray, truth: ClipTruth, clip: EvalClip, fps: float) -> dict:
    keep = min(clip.length, len(window_joints))
    out = _errors(window_joints[:keep], truth.online[:keep])
    return out | {"jitter": metrics.jitter(stream[:keep], fps) if keep >= 4 else np.nan}


def _errors(pred: np.ndarray, true: np.ndarray) -> dict:
    parts = metrics.per_part_mpjpe(pred, true)
    return {
        "mpjpe": metrics.mpjpe(pred[None], true[None], per_frame=True)[0],
        "pa_mpjpe": metrics.pa_mpjpe(pred[None], true[None], per_frame=True)[0],
        "parts": {p: v * len(pred) for p, v in parts.items() if p != "root"},
        "frames": len(pred),
    }


# ---------------------------------------------------------------- the evaluator
class Evaluator:
    """Runs every method on clips; ``add`` accumulates, ``table`` summarises."""

    def __init__(
        self,
        ego4o,
        baseline,
        vqvae,
        captioner,
        normalizer,
        fps: float,
        window: int,
        lookahead: int,
        text_encoder=None,
        tto=None,
        online_combinations: int = 1,
        tto_takes: frozenset[str] = frozenset(),
        lm_captioner=None,
        lm_windows: int = 4,
    ):
        from ..models.predictors import WindowPredictor

        self.fps, self.window, self.lookahead = fps, window, lookahead
        self.feature_config = features.FeatureConfig(fps=fps)
        self.normalizer, self.vqvae, self.captioner = normalizer, vqvae, captioner
        self.text_encoder, self.tto = text_encoder, tto
        self.streams = {
            name: StreamingCapture(WindowPredictor(name, model), normalizer, window, lookahead)
            for name, model in (("baseline_lstm", baseline), ("ego4o", ego4o))
            if model is not None
        }
        self.online_combinations, self.tto_takes = online_combinations, tto_takes
        self.lm_captioner, self.lm_windows = lm_captioner, lm_windows
        self.descriptions: list[dict] = []  # what the LM captioner said, per (clip, combination)
        self.records: list[tuple[tuple[str, ...], str, str, dict]] = []  # (groups, row, mode, scores)
        self.seconds = defaultdict(float)
        self.minutes = defaultdict(float)
        self._texts: dict[str, np.ndarray] = {}

    def _embed(self, text: str) -> np.ndarray | None:
        if not text or self.text_encoder is None:
            return None
        if text not in self._texts:
            self._texts[text] = self.text_encoder.encode([text])[0]
        return self._texts[text]

    def _record(self, groups, row, mode, scores, seconds, minutes):
        self.records.append((groups, row, mode, scores))
        self.seconds[(row, mode)] += seconds
        self.minutes[(row, mode)] += minutes

    def add(self, clip_number: int, clip: EvalClip, combos: list[tuple[int, ...]]) -> None:
        T, minutes = len(clip.joints), clip.length / self.fps / 60
        truth = clip_truth(clip, self.window, self.feature_config, self.lookahead)
        base_groups = clip.groups
        # Ground truth through the stitching path, and the VQ-VAE ceiling (no IMUs involved).
        gt_blended = blend_windows(truth.features, truth.starts, T)
        self._record(
            base_groups,
            "ground_truth_stitched",
            "offline",
            score_offline(truth.features, gt_blended, truth, clip, self.fps)
            | {"jitter_world": self._world_jitter(clip)},
            0.0,
            minutes,
        )
        if self.vqvae is not None:
            started = time.perf_counter()
            with torch.inference_mode():
                normalised = torch.from_numpy(self.normalizer.normalize(truth.features).astype(np.float32))
                recon = self.normalizer.denormalize(self.vqvae.decode(self.vqvae.encode(normalised)).numpy())
            self._record(
                base_groups,
                "vqvae_reconstruction",
                "offline",
                score_offline(recon, blend_windows(recon, truth.starts, T), truth, clip, self.fps),
                time.perf_counter() - started,
                minutes,
            )
        online = {
            combos[(clip_number * self.online_combinations + j) % len(combos)] for j in range(self.online_combinations)
        }
        gt_text = self._embed(clip.text)
        for sites in combos:
            present = np.zeros((T, imu.NUM_SITES), bool)
            present[:, list(sites)] = True
            groups = base_groups + (f"{len(sites)} IMU",)
            groups += tuple(without_group(imu.IMU_SITES[i]) for i in range(imu.NUM_SITES) if i not in sites)
            captured = self._run_offline(groups, clip, truth, present, minutes)
            if self.lm_captioner is not None and sites in online:
                self._run_lm_loop(groups, clip, truth, present, minutes, captured, sites)
            # Online: the peer, IMU-only and with the description (the closed loop is scored
            # offline; online it needs the captioner's timing, which the graph benchmark has).
            runs = [("baseline_lstm", "baseline_lstm", None, None), ("ego4o_imu", "ego4o", None, None)]
            if gt_text is not None:
                runs.append(("ego4o_gt_text", "ego4o", gt_text, None))
            if clip.views is not None:
                runs.append(("ego4o_image", "ego4o", None, clip.views))
            if sites in online:
                for row, stream_name, text, views in runs:
                    if stream_name not in self.streams:
                        continue
                    started = time.perf_counter()
                    _, stream, window_joints = self.streams[stream_name].forward_online(
                        clip.acc, clip.ori, present, text, views=views
                    )
                    self._record(
                        groups,
                        row,
                        "online",
                        score_online(window_joints, stream, truth, clip, self.fps),
                        time.perf_counter() - started,
                        minutes,
                    )
            if self.tto is not None and clip.name in self.tto_takes and sites in online:
                self._run_tto(groups, clip, truth, present, minutes)

    def _run_lm_loop(self, groups, clip, truth, present, minutes, captured, sites):
        """The closed loop with the language-model captioner (on the sampled combination):
        capture without text (IMUs; and IMUs + camera, the captioner then also reads the
        newest view) -> codes of up to ``lm_windows`` consecutive windows -> description ->
        capture with it when the captioner is sure enough to feed it back (else the capture
        without text stands); beside each, the capture without text on the same combination.
        A third row feeds back exactly the descriptions that name the take's action: a
        perfect gate, the ceiling of gating with this captioner."""
        from ..readers.bandai import action_of

        for image, reference_row, row in (
            (False, "ego4o_imu_lm_reference", "ego4o_lm_text"),
            (True, "ego4o_image_lm_reference", "ego4o_image_lm_text"),
        ):
            plain = captured.get(image)
            if plain is None:
                continue
            views = clip.views if image else None
            started = time.perf_counter()
            view = None
            if image and self.lm_captioner.image_projector is not None:
                # The newest view at the end of the last described window (as live).
                last = 2 * (min(self.lm_windows, (len(plain.codes) + 1) // 2) - 1)
                view = views[min(newest_view(truth.starts[last] + self.window - 1), len(views) - 1)]
            text, confidence = loop_description(self.lm_captioner, plain.codes, self.lm_windows, view)
            fed_back = self.lm_captioner.feeds_back(confidence)
            stream = self.streams["ego4o"]
            with_text = (
                stream.offline(clip.acc, clip.ori, present, self._embed(text), views=views) if fed_back else plain
            )
            seconds = time.perf_counter() - started
            right = action_of(clip.text) is not None and action_of(text) == action_of(clip.text)
            self.descriptions.append(
                {
                    "clip": clip.name,
                    "sites": list(sites),
                    "image": image,
                    "text": text,
                    "truth": clip.text,
                    "confidence": round(confidence, 4),
                    "fed_back": fed_back,
                }
            )
            score = partial(score_offline, truth=truth, clip=clip, fps=self.fps)
            self._record(groups, row, "offline", score(with_text.windows, with_text.features), seconds, minutes)
            plain_score = score(plain.windows, plain.features)
            self._record(groups, reference_row, "offline", plain_score, 0.0, 0.0)
            if not image:
                # Captured with the description whether or not it was fed back: the per-take
                # errors let the threshold be studied on these takes (not chosen on them).
                if not fed_back:
                    with_text = stream.offline(clip.acc, clip.ori, present, self._embed(text))
                scored = {"with_text": score(with_text.windows, with_text.features), "without_text": plain_score}
                self.descriptions[-1] |= {
                    "frames": int(clip.length),
                    "right_action": bool(right),
                    **{f"mpjpe_{k}_mm": round(float(v["mpjpe"].mean()), 3) for k, v in scored.items()},
                }
                self._record(
                    groups,
                    "ego4o_lm_text_oracle_gate",
                    "offline",
                    scored["with_text" if right else "without_text"],
                    0.0,
                    0.0,
                )

    def _run_offline(self, groups, clip, truth, present, minutes):
        """Offline rows of one combination; returns Ego4o's captures without text, keyed
        by whether the camera was used. Rows with a generated description run the closed
        loop: the code captioner describes the capture without text (IMUs, or IMUs +
        image), the description is fed back."""
        generated, captured = {}, {}
        views = clip.views
        for row, stream_name, text, image in (
            ("baseline_lstm", "baseline_lstm", None, False),
            ("ego4o_imu", "ego4o", None, False),
            ("ego4o_gt_text", "ego4o", "gt", False),
            ("ego4o_generated_text", "ego4o", "gen", False),
            ("ego4o_image", "ego4o", None, True),
            ("ego4o_image_generated_text", "ego4o", "gen", True),
            ("ego4o_all", "ego4o", "gt", True),
        ):
            if stream_name not in self.streams or (image and views is None):
                continue
            embedding = None
            if text == "gt":
                embedding = self._embed(clip.text)
                if embedding is None:
                    continue
            elif text == "gen":
                embedding = generated.get(image)
                if embedding is None:
                    continue
            started = time.perf_counter()
            result = self.streams[stream_name].offline(
                clip.acc, clip.ori, present, embedding, views=views if image else None
            )
            if row in ("ego4o_imu", "ego4o_image"):
                captured[image] = result
            if text is None and stream_name == "ego4o" and self.captioner is not None and result.codes is not None:
                descriptions = self.captioner.describe(result.codes)
                generated[image] = self._embed(Counter(descriptions).most_common(1)[0][0])
            self._record(
                groups,
                row,
                "offline",
                score_offline(result.windows, result.features, truth, clip, self.fps),
                time.perf_counter() - started,
                minutes,
            )
        return captured

    def _run_tto(self, groups, clip, truth, present, minutes):
        stream = self.streams["ego4o"]
        index = offline_starts(len(clip.acc), self.window, self.window // 2)[:, None] + np.arange(self.window)
        inputs = imu.network_inputs(clip.acc[index], clip.ori[index], present[index])
        started = time.perf_counter()
        refined, _ = self.tto.refine(inputs, present[index])
        values = self.normalizer.denormalize(refined.numpy())
        blended = blend_windows(values, index[:, 0], len(clip.acc))
        seconds = time.perf_counter() - started
        self._record(
            groups, "ego4o_imu_tto", "offline", score_offline(values, blended, truth, clip, self.fps), seconds, minutes
        )
        # The same windows without refinement, so the gain is measured on equal terms.
        plain = stream.offline(clip.acc, clip.ori, present)
        self._record(
            groups,
            "ego4o_imu_tto_reference",
            "offline",
            score_offline(plain.windows, plain.features, truth, clip, self.fps),
            0.0,
            0.0,
        )

    def _world_jitter(self, clip: EvalClip) -> float:
        return metrics.jitter(clip.joints[: clip.length], self.fps) if clip.length >= 4 else np.nan

    # ------------------------------------------------------------ summary
    def table(self) -> dict:
        """{group: {"row/mode": {mpjpe_mm, pa_mpjpe_mm, jitter_kms3, frames, part_*, s_per_min}}}."""
        out = defaultdict(dict)
        keys = sorted(
            {(g, r, m) for groups, r, m, _ in self.records for g in groups},
            key=lambda k: (k[0], ROWS.index(k[1]) if k[1] in ROWS else len(ROWS), k[2]),
        )
        for group, row, mode in keys:
            entries = [s for groups, r, m, s in self.records if r == row and m == mode and group in groups]
            frames = sum(e["frames"] for e in entries)
            result = {
                "mpjpe_mm": float(np.concatenate([e["mpjpe"] for e in entries]).mean()),
                "pa_mpjpe_mm": float(np.concatenate([e["pa_mpjpe"] for e in entries]).mean()),
                "jitter_kms3": float(np.nanmean([e["jitter"] for e in entries])),
                "frames": int(frames),
            }
            if "jitter_world" in entries[0]:
                result["jitter_world_kms3"] = float(np.nanmean([e["jitter_world"] for e in entries]))
            for part in entries[0]["parts"]:
                result[f"part_{part}"] = float(sum(e["parts"][part] for e in entries) / max(frames, 1))
            minutes = self.minutes.get((row, mode), 0.0)
            result["s_per_min"] = self.seconds.get((row, mode), 0.0) / minutes if minutes else float("nan")
            out[group][f"{row}/{mode}"] = result
        return dict(out)


GROUP_ORDER = ("all", "dataset 1", "dataset 2", "unseen pairs", "1 IMU", "2 IMU", "3 IMU")
# The body part each IMU site sits on (the part holding the joint it measures): a
# combination without that site joins the group "without <site>", whose part column is
# that part's error where no sensor is worn on it.
SITE_PARTS = {  # in the order of the body parts
    site.name: part for part, joints in body.BODY_PARTS.items() for site in imu.SITES if site.ori_joint in joints
}


def loop_description(
    lm_captioner, window_codes: np.ndarray, windows: int, view: np.ndarray | None = None
) -> tuple[str, float]:
    """The LM captioner on an offline capture's codes (K, T', parts) of half-overlapping
    windows: the description of its first ``windows`` disjoint windows (with the camera
    view's features ``view`` (D,) in the image slot, if given) and how sure the captioner
    is of the action."""
    codes = np.concatenate(list(window_codes[::2][:windows]))  # half-overlapping: every 2nd
    images = None if view is None else np.asarray(view, np.float32)[None]
    present = None if view is None else np.ones(1, bool)
    text = lm_captioner.describe([codes], images, present)[0]
    return text, float(lm_captioner.confidence([codes])[0])


def _action_right(descriptions: list[dict]) -> float:
    """Fraction of LM loop descriptions naming the action of the take's own description."""
    from ..readers.bandai import action_of

    return (
        float(np.mean([action_of(d["text"]) == action_of(d["truth"]) for d in descriptions])) if descriptions else 0.0
    )


def without_group(site: str) -> str:
    return f"without {site}"


def format_unsensed(table: dict) -> str:
    """One line per row: each part's error where its sensor is not worn (from the
    "without <site>" groups), and their mean."""
    sites = [s for s in SITE_PARTS if without_group(s) in table]
    if not sites:
        return ""
    names = [n for n in table[without_group(sites[0])] if n.startswith(("ego4o", "baseline"))]
    header = ["method/mode", *[f"{SITE_PARTS[s]} (no {s})" for s in sites], "mean"]
    lines = ["\n**parts without their sensor** (mm)\n", " | ".join(header), " | ".join("---" for _ in header)]
    for name in names:
        values = [table[without_group(s)].get(name, {}).get(f"part_{SITE_PARTS[s]}", np.nan) for s in sites]
        lines.append(" | ".join([name, *[f"{v:.1f}" for v in values], f"{np.nanmean(values):.1f}"]))
    return "\n".join(lines)


def format_table(table: dict, groups: tuple[str, ...] = GROUP_ORDER, only_listed: bool = False) -> str:
    """Markdown tables, one per group (``groups`` first, then the rest unless
    ``only_listed``), with the peer ratio of every Ego4o row."""
    lines = []
    rest = [] if only_listed else [g for g in table if g not in groups]
    for group in [g for g in groups if g in table] + rest:
        rows = table[group]
        parts = [k for k in next(iter(rows.values())) if k.startswith("part_")]
        header = [
            "method/mode",
            "MPJPE mm",
            "x peer",
            "PA-MPJPE mm",
            "jitter km/s^3",
            *[p[5:] for p in parts],
            "frames",
            "s per min",
        ]
        lines += [f"\n**{group}**\n", " | ".join(header), " | ".join("---" for _ in header)]
        for name, r in rows.items():
            mode = name.split("/")[1]
            peer = rows.get(f"baseline_lstm/{mode}")
            ratio = f"{r['mpjpe_mm'] / peer['mpjpe_mm']:.2f}" if peer and name.startswith("ego4o") else ""
            jitter = f"{r['jitter_kms3']:.3f}"
            if "jitter_world_kms3" in r:
                jitter += f" (world {r['jitter_world_kms3']:.3f})"
            lines.append(
                " | ".join(
                    [
                        name,
                        f"{r['mpjpe_mm']:.1f}",
                        ratio,
                        f"{r['pa_mpjpe_mm']:.1f}",
                        jitter,
                        *[f"{r[p]:.1f}" for p in parts],
                        str(r["frames"]),
                        f"{r['s_per_min']:.2f}",
                    ]
                )
            )
    return "\n".join(lines)


def evaluate(
    weights: Path,
    source: Path,
    split: str = "validation",
    sample: int | None = None,
    seed: int = 0,
    lookahead: int = 5,
    max_sites: int = 3,
    online_combinations: int = 1,
    tto_clips: int = 0,
    use_text: bool = True,
    progress: bool = True,
    json_path: Path | None = None,
    lm_loop: bool = False,
    jobs: int = 1,
    use_image: bool = True,
) -> dict:
    """Load the default (or given) models, evaluate, print and return the table. ``lm_loop``
    adds the closed loop with the language-model captioner (``weights/lm_captioner``);
    ``jobs`` worker processes share the clips (one torch thread each)."""
    from ..models.code_captioner import CodeCaptioner
    from ..models.ego4o import Ego4oModel
    from ..models.feature_encoders import make_text_encoder
    from ..models.predictors import load_baseline, load_vqvae

    started = time.monotonic()
    ego4o, card = Ego4oModel.load(weights / "ego4o")
    baseline, _ = load_baseline(weights / "baseline")
    vqvae, _ = load_vqvae(weights / "vqvae")
    captioner = CodeCaptioner.load(weights / "captioner")
    text_encoder = make_text_encoder(card.text_backend) if use_text and card.text_backend else None
    tto = None
    if tto_clips:
        from ..models.tto import TestTimeOptimizer

        tto = TestTimeOptimizer(ego4o, card.normalizer())
    config = DatasetConfig(**card.dataset)
    clips = load_clips(source, split, config, sample, seed, progress)
    if not clips:
        raise ValueError(f"no clips to evaluate in {source} (split {split})")
    if use_image and card.image_backend:
        from ..models.image_model import image_encoder_of

        clips = attach_views(clips, image_encoder_of(weights, card), card.fps, progress)
    combos = site_combinations(max_sites)
    evaluator = Evaluator(
        ego4o,
        baseline,
        vqvae,
        captioner,
        card.normalizer(),
        card.fps,
        card.window,
        lookahead,
        text_encoder,
        tto,
        online_combinations,
        # TTO is slow: a seeded sample of takes, stratified like ``sample`` (not the first N).
        frozenset(c.name for c in _stratified(clips, tto_clips, seed, lambda c: _labels(Path(c.name).stem))),
        lm_captioner=_load_lm_captioner(weights) if lm_loop else None,
    )
    run_clips(evaluator, clips, combos, jobs, progress)
    table = evaluator.table()
    frames = sum(c.length for c in clips)
    summary = {
        "clips": len(clips),
        "frames": frames,
        "fps": card.fps,
        "combinations": len(combos),
        "online_combinations_per_clip": online_combinations,
        "lookahead": lookahead,
        "jobs": jobs,
        "seconds": round(time.monotonic() - started, 1),
        "split": split,
        "sample": sample,
        "groups": {g: sum(g in c.groups for c in clips) for g in GROUP_ORDER[:4]},
    }
    print(
        f"{len(clips)} clips ({summary['groups']}), {frames} frames at {card.fps:g} Hz; "
        f"{len(combos)} IMU combinations offline, {online_combinations} per clip online (rotating, look-ahead "
        f"{lookahead}); {summary['seconds']:.0f} s"
    )
    print(format_table(table, GROUP_ORDER, only_listed=True))
    print(format_unsensed(table))
    for image in (False, True):
        said = [d for d in evaluator.descriptions if d.get("image", False) == image]
        if said:
            fed = [d for d in said if d["fed_back"]]
            threshold = evaluator.lm_captioner.config.feedback_min_confidence
            print(
                f"\nLM loop{' with the camera' if image else ''}: {len(fed)} of {len(said)} descriptions fed back "
                f"(action confidence >= {threshold:.2f}); action right in {_action_right(said):.3f} of all, "
                f"{_action_right(fed):.3f} of those fed back"
            )
    result = {"summary": summary, "table": table, "lm_descriptions": evaluator.descriptions}
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return result


_WORKER: tuple | None = None  # (evaluator, clips, combos) of a forked worker


def _add_clip(number: int):
    evaluator, clips, combos = _WORKER
    before = len(evaluator.records), len(evaluator.descriptions)
    seconds, minutes = dict(evaluator.seconds), dict(evaluator.minutes)
    evaluator.add(number, clips[number], combos)
    return (
        evaluator.records[before[0] :],
        evaluator.descriptions[before[1] :],
        {k: v - seconds.get(k, 0.0) for k, v in evaluator.seconds.items()},
        {k: v - minutes.get(k, 0.0) for k, v in evaluator.minutes.items()},
    )


def _init_worker() -> None:
    torch.set_num_threads(1)


def run_clips(evaluator: Evaluator, clips: list, combos: list, jobs: int = 1, progress: bool = True) -> None:
    """``evaluator.add`` every clip, in ``jobs`` forked processes when > 1 (each clip keeps
    its number, so the rotation of online combinations is the same either way)."""
    global _WORKER
    bar = tqdm(total=len(clips), desc="clips", disable=not progress, file=sys.stderr)
    if jobs <= 1:
        for number, clip in enumerate(clips):
            evaluator.add(number, clip, combos)
            bar.update()
        bar.close()
        return
    import multiprocessing

    _WORKER = (evaluator, clips, combos)
    # Fork: the workers share the loaded models and clips without pickling them.
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker) as pool:
        for records, descriptions, seconds, minutes in pool.imap_unordered(_add_clip, range(len(clips))):
            evaluator.records += records
            evaluator.descriptions += descriptions
            for key, value in seconds.items():
                evaluator.seconds[key] += value
            for key, value in minutes.items():
                evaluator.minutes[key] += value
            bar.update()
    _WORKER = None
    bar.close()


def _load_lm_captioner(weights: Path):
    from ..models.lm_captioner import LmCaptioner

    return LmCaptioner.load(weights / "lm_captioner", merged=True)[0]
