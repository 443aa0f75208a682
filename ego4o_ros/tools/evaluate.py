"""Evaluate every method on clips: ``ego4o-evaluate`` prints a table (and writes JSON).

Reads clips (the Bandai archive's validation takes by default, or any folder of BVH /
AMASS / HumanML3D files with ``--split all``), synthesises the five IMUs, and runs each
method on every 1-, 2- and 3-IMU combination, offline (consecutive whole windows) and
online (a sliding window per output frame, ``--lookahead`` frames of future). MPJPE /
PA-MPJPE / per-part errors compare each output frame with the ground truth put in the
same window's canonical frame; jitter is measured on the stitched (offline) or streamed
(online) global motion; time is wall time per minute of motion.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import features, frames, imu, metrics
from ..core.dataset import DatasetConfig, split_of
from ..core.features import RootIntegrator
from ..models import checkpoint
from ..models.capture import DEFAULT_WEIGHTS, Ego4oModel, WindowPredictor, load_baseline, load_vqvae, normalizer_of
from ..models.code_captioner import CodeCaptioner
from ..readers import read_clip
from ..readers.bandai import read_bandai
from . import build_dataset

ROWS = ("vqvae_reconstruction", "baseline_lstm", "ego4o_imu", "ego4o_imu_tto", "ego4o_gt_text",
        "ego4o_generated_text")


def site_combinations(max_sites: int = 3) -> list[tuple[int, ...]]:
    return [c for k in range(1, max_sites + 1) for c in itertools.combinations(range(imu.NUM_SITES), k)]


@dataclass
class EvalClip:
    name: str
    joints: np.ndarray   # (T, 22, 3) template skeleton, world
    acc: np.ndarray      # (T, 5, 3)
    ori: np.ndarray      # (T, 5, 3, 3)
    text: str


def load_clips(source: Path, split: str, config: DatasetConfig, max_clips: int | None) -> list[EvalClip]:
    items = build_dataset.iter_folder(source) if source.is_dir() else build_dataset.iter_archive(source)
    clips = []
    for name, payload, label_json in items:
        take = Path(name).stem
        if split != "all" and split_of(take, config.validation_percent) != split:
            continue
        clip = (read_bandai(name, text=payload, label_json=label_json, target_fps=config.fps)
                if isinstance(payload, str) else read_clip(payload, target_fps=config.fps))
        if clip.num_frames < config.window + 1:
            continue
        clip = replace(clip, joints=features.retarget_to_template(clip.joints))
        readings = imu.synthesize_from_clip(clip, imu.ImuSynthesisConfig(gravity=config.gravity))
        clips.append(EvalClip(clip.name, clip.joints, readings.acc, readings.ori,
                              clip.descriptions[0] if clip.descriptions else ""))
        if max_clips and len(clips) >= max_clips:
            break
    return clips


def sliding_index(num_frames: int, window: int, ends: np.ndarray) -> np.ndarray:
    """(N, window) frame indices of windows ending at ``ends``, the first frame held."""
    return np.clip(ends[:, None] - window + 1 + np.arange(window), 0, num_frames - 1)


def window_truth(joints: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Ground truth of each window in that window's canonical frame (N, W, 22, 3)."""
    return np.stack([frames.canonical_frame(joints[i]).points(joints[i]) for i in index])


class Evaluator:
    def __init__(self, weights: Path, window: int, lookahead: int, text_encoder=None, tto: bool = False):
        self.ego4o, metadata = Ego4oModel.load(weights / "encoder")
        self.baseline, _ = load_baseline(weights / "baseline")
        self.vqvae = load_vqvae(weights / "vqvae")
        self.captioner = CodeCaptioner.load(weights / "captioner")
        self.normalizer = normalizer_of(metadata)
        self.window, self.lookahead = window, lookahead
        self.text_encoder = text_encoder
        self.predictors = {"baseline_lstm": WindowPredictor("baseline", self.baseline, False),
                           "ego4o": WindowPredictor("ego4o", self.ego4o, True)}
        self.seconds = {}
        self.tto = None
        if tto:
            from ..models.tto import TestTimeOptimizer
            self.tto = TestTimeOptimizer(self.ego4o, self.normalizer)

    def _predict(self, row: str, inputs, present, text):
        if row == "baseline_lstm":
            out, _ = self.predictors[row].predict(inputs, present)
        else:
            text_present = None if text is None else np.ones(len(inputs), bool)
            out, _ = self.predictors["ego4o"].predict(inputs, present, text, text_present)
        return self.normalizer.denormalize(out)

    def _vqvae(self, clip: EvalClip, index: np.ndarray):
        """The reconstruction ceiling: ground-truth features through the VQ-VAE."""
        import torch
        last = len(clip.joints) - 1
        truth_features = np.stack([features.features_from_joints(clip.joints[np.append(i, min(i[-1] + 1, last))])
                                   for i in index])
        with torch.inference_mode():
            norm = torch.from_numpy(self.normalizer.normalize(truth_features).astype(np.float32))
            out = self.vqvae.decode(self.vqvae.encode(norm)).numpy()
        return self.normalizer.denormalize(out)

    def run_clip(self, clip: EvalClip, sites: tuple[int, ...], online_stride: int, generated: str | None):
        """Per row: offline and online per-frame errors and the predicted streams."""
        T, W, L = len(clip.joints), self.window, self.lookahead
        present_frame = np.zeros(imu.NUM_SITES, bool)
        present_frame[list(sites)] = True
        offline_ends = np.arange(W - 1, T, W)
        if offline_ends[-1] != T - 1:
            offline_ends = np.append(offline_ends, T - 1)
        online_ends = np.arange(L, T, online_stride)
        results = {}
        texts = {"ego4o_gt_text": clip.text, "ego4o_generated_text": generated}
        for mode, ends in (("offline", offline_ends), ("online", online_ends)):
            index = sliding_index(T, W, ends)
            truth = window_truth(clip.joints, index)
            present = np.broadcast_to(present_frame, index.shape + (imu.NUM_SITES,))
            inputs = imu.network_inputs(clip.acc[index], clip.ori[index], present)
            for row in ROWS:
                if row == "vqvae_reconstruction" and mode == "online":
                    continue  # a ceiling: ground truth in, no online face to measure
                if row == "ego4o_imu_tto" and (self.tto is None or mode == "online"):
                    continue  # optional, and too slow to run per online frame
                text = None
                if row in texts:
                    if texts[row] is None or self.text_encoder is None:
                        continue
                    text = np.repeat(self.text_encoder.encode([texts[row]]), len(index), 0)
                started = time.perf_counter()
                if row == "vqvae_reconstruction":
                    predicted = self._vqvae(clip, index)
                elif row == "ego4o_imu_tto":
                    predicted = self.normalizer.denormalize(self.tto.refine(inputs, present)[0].numpy())
                else:
                    predicted = self._predict(row, inputs, present, text)
                key = f"{row}/{mode}"
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started
                results[(row, mode)] = self._score(predicted, truth, index, mode)
        return results

    def _score(self, predicted, truth, index, mode):
        W, L = self.window, self.lookahead
        joints = features.joints_from_features(predicted)
        if mode == "offline":
            keep = np.ones(index.shape, bool)
            keep[1:] = index[1:] > index[:-1].max(axis=1, keepdims=True)  # last window: new frames only
            pred_frames, true_frames = joints[keep], truth[keep]
            stream = np.concatenate([features.joints_from_features(predicted[i][keep[i]]) for i in range(len(index))])
        else:
            pred_frames, true_frames = joints[:, W - 1 - L], truth[:, W - 1 - L]
            root = RootIntegrator()
            stream = np.stack([root.step(row) for row in predicted[:, W - 1 - L]])
        return {"mpjpe": metrics.mpjpe(pred_frames[None], true_frames[None], per_frame=True)[0],
                "pa_mpjpe": metrics.pa_mpjpe(pred_frames[None], true_frames[None], per_frame=True)[0],
                "parts": metrics.per_part_mpjpe(pred_frames, true_frames), "stream": stream,
                "frames": len(pred_frames)}


def summarize(all_results: list[dict], fps: float, online_stride: int) -> dict:
    table = {}
    for key in sorted({k for r in all_results for k in r}, key=lambda k: (ROWS.index(k[0]), k[1])):
        entries = [r[key] for r in all_results if key in r]
        mp = np.concatenate([e["mpjpe"] for e in entries])
        pa = np.concatenate([e["pa_mpjpe"] for e in entries])
        # Jitter needs consecutive frames: online only when every frame is evaluated.
        measurable = key[1] == "offline" or online_stride == 1
        jitters = [metrics.jitter(e["stream"], fps) for e in entries if measurable and len(e["stream"]) >= 4]
        parts = {p: float(np.mean([e["parts"][p] for e in entries])) for p in entries[0]["parts"] if p != "root"}
        table[f"{key[0]}/{key[1]}"] = {"mpjpe_mm": float(mp.mean()), "pa_mpjpe_mm": float(pa.mean()),
                                       "jitter_kms3": float(np.mean(jitters)) if jitters else float("nan"),
                                       "frames": int(sum(e["frames"] for e in entries)), **{f"part_{p}": v for p, v in parts.items()}}
    return table


def print_table(table: dict, seconds_per_minute: dict) -> None:
    parts = [k for k in next(iter(table.values())) if k.startswith("part_")]
    header = ["method/mode", "MPJPE mm", "PA-MPJPE mm", "jitter km/s^3", *[p[5:] for p in parts], "s per min"]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for name, row in table.items():
        print(" | ".join([name, f"{row['mpjpe_mm']:.1f}", f"{row['pa_mpjpe_mm']:.1f}", f"{row['jitter_kms3']:.3f}",
                          *[f"{row[p]:.1f}" for p in parts], f"{seconds_per_minute.get(name, float('nan')):.2f}"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=build_dataset.DEFAULT_SOURCE)
    parser.add_argument("--split", default="validation", choices=["validation", "train", "all"])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--max-clips", type=int, default=None)
    parser.add_argument("--lookahead", type=int, default=5, help="online look-ahead frames")
    parser.add_argument("--online-stride", type=int, default=1, help="evaluate every n-th online frame")
    parser.add_argument("--max-sites", type=int, default=3)
    parser.add_argument("--tto", action="store_true", help="add the test-time optimisation row (offline)")
    parser.add_argument("--json", type=Path, help="write the table as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    metadata = checkpoint.read_metadata(args.weights / "encoder")
    config = DatasetConfig(**metadata["dataset"])
    from ..models.feature_encoders import make_text_encoder
    evaluator = Evaluator(args.weights, config.window, args.lookahead, make_text_encoder(metadata["text_backend"]),
                          tto=args.tto)
    clips = load_clips(args.source, args.split, config, args.max_clips)
    if not clips:
        raise SystemExit(f"no clips to evaluate in {args.source} (split {args.split})")
    combos = site_combinations(args.max_sites)
    results = []
    for clip in tqdm(clips, desc="clips", disable=args.quiet, file=sys.stderr):
        for sites in combos:
            # Closed loop: caption the IMU-only motion, feed the caption back as text.
            present = np.zeros((len(clip.joints), imu.NUM_SITES), bool)
            present[:, list(sites)] = True
            index = sliding_index(len(clip.joints), config.window, np.arange(config.window - 1, len(clip.joints), config.window))
            _, ids = evaluator.predictors["ego4o"].predict(imu.network_inputs(clip.acc[index], clip.ori[index], present[index]),
                                                            present[index])
            generated = evaluator.captioner.describe(ids)[0]
            results.append(evaluator.run_clip(clip, sites, args.online_stride, generated))
    minutes = sum(len(c.joints) for c in clips) * len(combos) / config.fps / 60
    table = summarize(results, config.fps, args.online_stride)
    seconds_per_minute = {name: evaluator.seconds.get(name, float("nan")) / minutes for name in table}
    print(f"{len(clips)} clips, {sum(len(c.joints) for c in clips)} frames at {config.fps:g} Hz, "
          f"{len(combos)} IMU combinations (1-{args.max_sites} of {imu.NUM_SITES}), online look-ahead {args.lookahead}")
    print_table(table, seconds_per_minute)
    if args.json:
        args.json.write_text(json.dumps({"table": table, "clips": len(clips), "combinations": len(combos),
                                         "lookahead": args.lookahead}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
