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
* Feet (every row): foot-skate, floor penetration and floating of the output (the stitched
  clip offline, the streamed joints online) judged by the ground truth's contacts, beside the
  ground truth's own on the same frames (``scoring._feet``); the row ego4o_imu_feet is Ego4o's
  online stream through the live path's contact-aware stage (``live.feet``).
* Rows: the VQ-VAE ceiling (ground truth in and out), the LSTM peer, Ego4o from IMUs
  alone, with the ground-truth description, with a generated description (closed
  loop: the code captioner describes the IMU-only capture, the description is fed
  back), optionally test-time optimisation on a sample; plus the ground truth through
  the offline stitching path (its jitter must match the world ground truth's). With the
  language-model captioner (``lm_loop``), on each clip's sampled combination: its gated
  loop from IMUs and from IMUs + camera, each beside the capture without text, and the
  loop with a perfect gate (the ceiling of gating with this captioner).
* Groups: all clips; Bandai dataset 1 and 2; takes whose action+style pair no
  training take has ("unseen pairs"); and by the number of IMUs (``tables``).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..core import features, imu
from ..core.camera_views import newest_view
from ..models.online import StreamingCapture, blend_windows, offline_starts
from ..models.part_vqvae import window_codes
from .clips import EvalClip
from .scoring import clip_truth, online_truth, score_offline, score_online, through_stage, world_jitter
from .tables import summarise, without_group

if TYPE_CHECKING:
    from ..core.features import FeatureNormalizer


@dataclass(frozen=True)
class Methods:
    """The models an evaluation runs, loaded once; a method left None leaves its rows out."""

    ego4o: Any  # Ego4oModel
    baseline: Any  # LstmBaseline (the peer)
    vqvae: Any  # PartVQVAE (the ceiling row)
    captioner: Any  # CodeCaptioner (the closed loop with a generated description)
    normalizer: FeatureNormalizer
    fps: float
    window: int
    text_encoder: Any = None  # the capture model's text encoder (rows with a description)
    tto: Any = None  # TestTimeOptimizer
    lm_captioner: Any = None  # LmCaptioner (the LM loop rows)


# ---------------------------------------------------------------- the evaluator
class Evaluator:
    """Runs every method on clips; ``add`` accumulates, ``table`` summarises."""

    def __init__(
        self,
        methods: Methods,
        lookahead: int,
        online_combinations: int = 1,
        tto_takes: frozenset[str] = frozenset(),
        lm_windows: int = 4,
        lookahead_curve: tuple[int, ...] = (),
        curve_takes: frozenset[str] | None = None,
    ):
        from ..models.predictors import WindowPredictor

        m = methods
        self.fps, self.window, self.lookahead = m.fps, m.window, lookahead
        self.feature_config = features.FeatureConfig(fps=m.fps)
        self.normalizer, self.vqvae, self.captioner = m.normalizer, m.vqvae, m.captioner
        self.text_encoder, self.tto = m.text_encoder, m.tto
        self.streams = {
            name: StreamingCapture(WindowPredictor(name, model), m.normalizer, m.window, lookahead)
            for name, model in (("baseline_lstm", m.baseline), ("ego4o", m.ego4o))
            if model is not None
        }
        # Accuracy against latency: the peer and Ego4o (IMUs only) online at other look-aheads,
        # on ``curve_takes`` (None: every take); rows "<method>/online@<L>".
        self.curve = {
            L: {
                name: StreamingCapture(WindowPredictor(name, model), m.normalizer, m.window, L)
                for name, model in (("baseline_lstm", m.baseline), ("ego4o_imu", m.ego4o))
                if model is not None
            }
            for L in lookahead_curve
        }
        self.curve_takes = curve_takes
        self.online_combinations, self.tto_takes = online_combinations, tto_takes
        self.lm_captioner, self.lm_windows = m.lm_captioner, lm_windows
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
            | {"jitter_world": world_jitter(clip, self.fps)},
            0.0,
            minutes,
        )
        if self.vqvae is not None:
            started = time.perf_counter()
            with torch.inference_mode():
                codes = torch.from_numpy(window_codes(self.vqvae, truth.features, self.normalizer))
                recon = self.normalizer.denormalize(self.vqvae.decode(codes).numpy())
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
                    seconds = time.perf_counter() - started
                    scores = score_online(window_joints, stream, truth.online, clip, self.fps)
                    self._record(groups, row, "online", scores, seconds, minutes)
                    if row == "ego4o_imu":
                        self._run_feet(groups, clip, truth, stream, window_joints, seconds, minutes)
            if self.tto is not None and clip.name in self.tto_takes and sites in online:
                self._run_tto(groups, clip, truth, present, minutes)
            if sites in online and (self.curve_takes is None or clip.name in self.curve_takes):
                self._run_curve(groups, clip, present, minutes)

    def _run_feet(self, groups, clip, truth, stream, window_joints, seconds, minutes):
        """Ego4o's online stream (IMUs only) through the live path's contact-aware output stage
        (``live.feet``, fed frame by frame as ``Fusion.feet`` is): the row ego4o_imu_feet."""
        from ..live.feet import FootContactConfig, FootContactStage

        started = time.perf_counter()
        stage = FootContactStage(FootContactConfig(fps=self.fps))
        grounded, window_grounded = through_stage(stage, stream, window_joints)
        seconds += time.perf_counter() - started
        scores = score_online(window_grounded, grounded, truth.online, clip, self.fps)
        self._record(groups, "ego4o_imu_feet", "online", scores, seconds, minutes)

    def _run_curve(self, groups, clip, present, minutes):
        for lookahead, streams in self.curve.items():
            truth = online_truth(clip, self.window, self.feature_config, lookahead)
            for row, stream in streams.items():
                started = time.perf_counter()
                _, joints, window_joints = stream.forward_online(clip.acc, clip.ori, present)
                scores = score_online(window_joints, joints, truth, clip, self.fps)
                self._record(groups, row, f"online@{lookahead}", scores, time.perf_counter() - started, minutes)

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

    def table(self) -> dict:
        """{group: {"row/mode": {mpjpe_mm, pa_mpjpe_mm, jitter_kms3, frames, part_*, feet_*, s_per_min}}}."""
        return summarise(self.records, self.seconds, self.minutes)


# ---------------------------------------------------------------- the LM loop
def loop_description(
    lm_captioner, capture_codes: np.ndarray, windows: int, view: np.ndarray | None = None
) -> tuple[str, float]:
    """The LM captioner on an offline capture's codes (K, T', parts) of half-overlapping
    windows: the description of its first ``windows`` disjoint windows (with the camera
    view's features ``view`` (D,) in the image slot, if given) and how sure the captioner
    is of the action."""
    codes = np.concatenate(list(capture_codes[::2][:windows]))  # half-overlapping: every 2nd
    images = None if view is None else np.asarray(view, np.float32)[None]
    present = None if view is None else np.ones(1, bool)
    text = lm_captioner.describe([codes], images, present)[0]
    return text, float(lm_captioner.confidence([codes])[0])


def load_lm_captioner(weights: Path):
    """The language-model captioner of a weights folder (``weights/lm_captioner``), merged."""
    from ..models.lm_captioner import LmCaptioner

    return LmCaptioner.load(weights / "lm_captioner", merged=True)[0]
