"""How sure must the LM captioner be before its description is fed back into capture?

A description that names the right action improves the capture model's text-conditioned
output; one that names the wrong action (often the wrong arm, where no wrist sensor says
which one moves) makes it much worse. So the loop feeds a description back only when the
captioner's motion encoder is sure enough of the action (``LmCaptioner.confidence``).

``calibrate_feedback`` chooses that threshold on a split's takes (by default a seeded
stratified sample of *training* takes; one rotating IMU combination per take, as the
evaluation's loop row): per take
the IMU-only capture, its description and confidence, and the capture with the
description; the threshold with the lowest frame-weighted MPJPE of the gated loop wins
(ties: the lower one). It is written into the captioner's card
(``feedback_min_confidence``), where the evaluation, the captioning node and
``ego4o-analyze`` read it. ``ego4o-calibrate-feedback`` is the front end.

Training takes understate what the text is worth (the capture model has seen them and
needs it less), so the shipped threshold is chosen on the validation takes; the
cross-fitted MPJPE printed beside the table (each half of the takes gated at the
threshold the other half chose) says what that choice is worth on takes it was not
chosen on.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core import features, imu
from ..core.dataset import DatasetConfig
from ..models.checkpoint import ModelCard
from .clips import load_clips, site_combinations
from .evaluator import load_lm_captioner, loop_description
from .scoring import clip_truth, score_offline

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))  # 0.0 ... 0.95


@dataclass(frozen=True)
class LoopRecord:
    clip: str
    sites: tuple[int, ...]
    frames: int
    confidence: float
    imu_mm: float  # IMU-only capture
    text_mm: float  # capture with the description fed back
    text: str


def loop_records(ego4o, card: ModelCard, lm_captioner, text_encoder, clips, *, windows: int = 4, progress=True):
    """One ``LoopRecord`` per clip (combination ``n % 25`` for clip ``n``)."""
    from ..models.online import StreamingCapture
    from ..models.predictors import WindowPredictor

    stream = StreamingCapture(WindowPredictor("ego4o", ego4o), card.normalizer(), card.window, 5)
    config = features.FeatureConfig(fps=card.fps)
    combos = site_combinations(3)
    out = []
    for number, clip in enumerate(tqdm(clips, desc="loop", disable=not progress, file=sys.stderr)):
        sites = combos[number % len(combos)]
        present = np.zeros((len(clip.joints), imu.NUM_SITES), bool)
        present[:, list(sites)] = True
        truth = clip_truth(clip, card.window, config, 5)
        imu_only = stream.offline(clip.acc, clip.ori, present, None)
        text, confidence = loop_description(lm_captioner, imu_only.codes, windows)
        with_text = stream.offline(clip.acc, clip.ori, present, text_encoder.encode([text])[0])
        errors = [_mpjpe_mm(result, truth, clip, card.fps) for result in (imu_only, with_text)]
        out.append(LoopRecord(clip.name, sites, clip.length, confidence, *errors, text))
    return out


def _mpjpe_mm(result, truth, clip, fps: float) -> float:
    return float(np.mean(score_offline(result.windows, result.features, truth, clip, fps)["mpjpe"]))  # mm


def gated_mpjpe(records: list[LoopRecord], threshold: float) -> float:
    """Frame-weighted MPJPE (mm) of the loop fed back only at ``confidence >= threshold``."""
    frames = np.array([r.frames for r in records], float)
    errors = np.array([r.text_mm if r.confidence >= threshold else r.imu_mm for r in records])
    return float((errors * frames).sum() / frames.sum())


def choose_threshold(records: list[LoopRecord], thresholds=THRESHOLDS) -> tuple[float, dict[float, float]]:
    """(the threshold with the lowest gated MPJPE, ties to the lower; MPJPE per threshold)."""
    table = {t: gated_mpjpe(records, t) for t in thresholds}
    best = min(table, key=lambda t: (round(table[t], 6), t))
    return best, table


def cross_fitted(records: list[LoopRecord], thresholds=THRESHOLDS) -> tuple[float, list[float]]:
    """The gated loop's MPJPE (mm) where no take's threshold was chosen on that take: the
    takes are split in two halves by a hash of their name; each half is scored with the
    threshold the other half chooses. Returns (MPJPE, [threshold chosen on half 0, on 1])."""
    halves = np.array([zlib.crc32(r.clip.encode()) % 2 for r in records])
    frames = np.array([r.frames for r in records], float)
    errors, chosen = np.zeros(len(records)), []
    for half in (0, 1):
        fit = [r for r, h in zip(records, halves) if h == half]
        threshold = choose_threshold(fit, thresholds)[0] if fit else 0.0
        chosen.append(threshold)
        for i in np.flatnonzero(halves != half):
            errors[i] = records[i].text_mm if records[i].confidence >= threshold else records[i].imu_mm
    return float((errors * frames).sum() / frames.sum()), chosen


@dataclass(frozen=True)
class CalibrationConfig:
    """Where the loop is measured (``ego4o-calibrate-feedback``'s flags)."""

    weights: Path  # folder with ego4o and lm_captioner (whose card receives the threshold)
    source: Path  # archive or folder of motion files
    split: str = "train"  # "train" or "validation"
    sample: int | None = 240  # a seeded sample of N takes, stratified by (dataset, action); None: all
    seed: int = 0


def calibrate_feedback(
    config: CalibrationConfig, *, write: bool = True, progress: bool = True, json_path: Path | None = None
) -> dict:
    """Measure the loop on ``config.split`` takes, choose the threshold, print a table and
    (with ``write``) store it in ``weights/lm_captioner.json``."""
    from ..models.ego4o import Ego4oModel
    from ..models.feature_encoders import make_text_encoder

    weights, source, split, sample, seed = config.weights, config.source, config.split, config.sample, config.seed
    started = time.monotonic()
    torch.set_num_threads(1)
    ego4o, card = Ego4oModel.load(weights / "ego4o")
    if not card.text_backend:
        raise ValueError(f"{weights / 'ego4o'} takes no text: there is no loop to calibrate")
    lm_captioner = load_lm_captioner(weights)
    text_encoder = make_text_encoder(card.text_backend)
    clips = load_clips(source, split, DatasetConfig(**card.dataset), sample, seed, progress)
    if not clips:
        raise ValueError(f"no clips in {source} (split {split})")
    records = loop_records(ego4o, card, lm_captioner, text_encoder, clips, progress=progress)
    threshold, table = choose_threshold(records)
    imu_only = gated_mpjpe(records, np.inf)
    print(f"{len(records)} {split} takes (seeded sample {sample}, seed {seed}), {time.monotonic() - started:.0f} s")
    print("min confidence | fed back | MPJPE mm | x IMU-only")
    print("--- | --- | --- | ---")
    for t, value in table.items():
        kept = np.mean([r.confidence >= t for r in records])
        mark = " (chosen)" if t == threshold else ""
        print(f"{t:.2f}{mark} | {kept:.2f} | {value:.1f} | {value / imu_only:.3f}")
    print(f"IMU-only | 0.00 | {imu_only:.1f} | 1.000")
    held_out, chosen = cross_fitted(records)
    print(
        f"cross-fitted (each half of the takes gated at the threshold the other half chooses: "
        f"{chosen[0]:.2f} / {chosen[1]:.2f}): {held_out:.1f} mm, {held_out / imu_only:.3f}x IMU-only"
    )
    result = {
        "split": split,
        "sample": sample,
        "seed": seed,
        "threshold": threshold,
        "imu_only_mm": imu_only,
        "gated_mm": table,
        "cross_fitted_mm": held_out,
        "cross_fitted_thresholds": chosen,
        "records": [asdict(r) for r in records],
    }
    if write:
        stem = weights / "lm_captioner"
        lm_card = ModelCard.read(stem, "lm_captioner")
        lm_card = replace(lm_card, model_config={**lm_card.model_config, "feedback_min_confidence": threshold})
        lm_card.write(stem)
        print(f"feedback_min_confidence {threshold:.2f} written to {stem.with_suffix('.json')}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return result
