"""Evaluation of the captioners on whole validation takes (``ego4o-caption-eval`` is the front end).

Each take is cut into segments of ``windows`` consecutive, non-overlapping windows
(64 frames each, every window in its own canonical frame, as in training and live);
every segment gets one description per row:

* ``codes/<input>``: the code-histogram captioner (nearest training window),
* ``lm/<input>``: the language-model captioner,

where ``<input>`` is ``gt`` (the VQ-VAE's codes of the ground-truth motion) or ``N imu``
(the capture model's nearest codes from the take's synthesised IMUs, one combination of
N sites per take, rotating over all combinations of that size; no text input).

Columns, against the take's references (every phrasing ``readers.bandai.describe``
gives for its action and style):

* **action accuracy**: the description names the take's action, by a synonym table:
  the longest phrase of ``bandai.ACTION_PHRASES`` found in the description decides the
  action ("walks forward then turns to the left" is walk-turn-left, not walk);
  no phrase found counts as wrong;
* **action accuracy (MiniLM)**: the action whose phrasings' mean MiniLM embedding is
  nearest to the description's (tolerates paraphrase; "waves the left arm" counts);
* **style accuracy**: likewise with ``bandai.STYLE_PHRASES`` (no style phrase = the
  "normal" style; styles with the same phrases, e.g. old/elderly, are one style);
* **ROUGE-L**: the LCS F1 over lower-cased words, best over the references;
* **MiniLM cosine** (a BERTScore-like similarity): cosine of the all-MiniLM-L6-v2
  sentence embeddings of the description and the references, best over the references;
* **distinct-2**: distinct word bigrams / all bigrams over the row's descriptions;
* **seconds per description**: the captioner alone (codes given), batched as run.

Groups: all takes, takes whose action+style pair some training take has ("seen
pairs") and the rest ("unseen pairs": a language model may describe a new pair,
a lookup cannot).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core import features, imu
from ..core.dataset import DatasetConfig
from ..models.part_vqvae import window_codes
from ..readers import bandai
from .clips import attach_views, load_clips, site_combinations
from .scoring import canonical_window

COLUMNS = ("action_acc", "action_acc_minilm", "style_acc", "rouge_l", "minilm_cos", "distinct_2", "s_per_description")
GROUPS = ("all", "seen pairs", "unseen pairs")


# ---------------------------------------------------------------- text metrics
_words = bandai.description_words
action_of, style_of, canonical_style = bandai.action_of, bandai.style_of, bandai.canonical_style


def rouge_l(candidate: str, references: list[str]) -> float:
    """ROUGE-L F1 (word LCS), best over the references."""
    c = _words(candidate)
    best = 0.0
    for reference in references:
        r = _words(reference)
        if not c or not r:
            continue
        table = np.zeros((len(c) + 1, len(r) + 1), int)
        for i, a in enumerate(c):
            for j, b in enumerate(r):
                table[i + 1, j + 1] = table[i, j] + 1 if a == b else max(table[i, j + 1], table[i + 1, j])
        lcs = table[-1, -1]
        if lcs:
            precision, recall = lcs / len(c), lcs / len(r)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def distinct_2(texts: list[str]) -> float:
    bigrams = [tuple(w[i : i + 2]) for w in map(_words, texts) for i in range(len(w) - 1)]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


# ---------------------------------------------------------------- segments and codes
@dataclass
class Segment:
    clip: str
    groups: tuple[str, ...]
    action: str | None
    style: str | None
    references: list[str]
    starts: list[int]  # first frame of each window


def segments_of(clip, window: int, windows: int) -> list[Segment]:
    labels = None
    try:
        _, action, style, _ = bandai.labels_from_name(clip.name)
        references = bandai.describe(action, style)
        labels = (action, style)
    except (ValueError, KeyError):
        references = [clip.text] if clip.text else []
    groups = ("all", "unseen pairs" if "unseen pairs" in clip.groups else "seen pairs")
    starts = list(range(0, max(len(clip.joints) - window - 1, 0) + 1, window))
    out = []
    for k in range(0, len(starts), windows):
        out.append(
            Segment(
                clip.name,
                groups,
                labels[0] if labels else None,
                labels[1] if labels else None,
                references,
                starts[k : k + windows],
            )
        )
    return out


def truth_codes(clip, starts: list[int], window: int, config: features.FeatureConfig, vqvae, normalizer) -> np.ndarray:
    """The VQ-VAE's codes of the ground truth's windows at ``starts`` (each in its own
    canonical frame), concatenated: (K * T', parts)."""
    rows = [canonical_window(clip.joints[s : s + window + 1], config)[1] for s in starts]
    return window_codes(vqvae, np.stack(rows), normalizer).reshape(-1, len(vqvae.quantizers))


@torch.no_grad()
def captured_codes(clip, starts: list[int], window: int, sites: tuple[int, ...], ego4o) -> np.ndarray:
    """The capture model's nearest codes from the clip's IMUs at ``sites``: (K * T', parts)."""
    index = np.asarray(starts)[:, None] + np.arange(window)
    present = np.zeros((len(starts), window, imu.NUM_SITES), bool)
    present[..., list(sites)] = True
    inputs = torch.from_numpy(imu.network_inputs(clip.acc[index], clip.ori[index], present))
    _, ids, _ = ego4o(inputs, torch.from_numpy(present))
    return ids.numpy().reshape(-1, ids.shape[-1])


# ---------------------------------------------------------------- the evaluation
class CaptionEvaluator:
    def __init__(
        self,
        captioners: dict,
        vqvae,
        normalizer,
        ego4o,
        *,
        fps: float,
        window: int,
        windows: int,
        text_encoder=None,
        max_sites: int = 3,
        batch: int = 8,
    ):
        self.captioners, self.vqvae, self.normalizer, self.ego4o = captioners, vqvae, normalizer, ego4o
        self.window, self.windows, self.batch = window, windows, batch
        self.feature_config = features.FeatureConfig(fps=fps)
        self.text_encoder = text_encoder
        self.inputs = ["gt"] + ([f"{n} imu" for n in range(1, max_sites + 1)] if ego4o is not None else [])
        self.combos = {n: [c for c in site_combinations(max_sites) if len(c) == n] for n in range(1, max_sites + 1)}
        self.records: list[dict] = []
        self.seconds = defaultdict(float)
        self._embeddings: dict[str, np.ndarray] = {}

    def add(self, number: int, clip) -> None:
        segments = segments_of(clip, self.window, self.windows)
        if not segments:
            return
        for source in self.inputs:
            if source == "gt":
                codes = [
                    truth_codes(clip, s.starts, self.window, self.feature_config, self.vqvae, self.normalizer)
                    for s in segments
                ]
                sites = None
            else:
                n = int(source.split()[0])
                sites = self.combos[n][number % len(self.combos[n])]
                codes = [captured_codes(clip, s.starts, self.window, sites, self.ego4o) for s in segments]
            for name, captioner, images in self._runs(clip, segments):
                started = time.perf_counter()
                texts = [""] * len(codes)
                for length in sorted({len(c) for c in codes}):  # equal lengths together (code arrays stack)
                    same = [i for i, c in enumerate(codes) if len(c) == length]
                    for k in range(0, len(same), self.batch):
                        chunk = same[k : k + self.batch]
                        stacked = np.stack([codes[i] for i in chunk])
                        if images is None:
                            described = captioner.describe(stacked)
                        else:
                            described = captioner.describe(stacked, images[chunk], np.ones(len(chunk), bool))
                        for i, text in zip(chunk, described):
                            texts[i] = text
                self.seconds[f"{name}/{source}"] += time.perf_counter() - started
                for segment, text in zip(segments, texts):
                    self.records.append(
                        {
                            "row": f"{name}/{source}",
                            "clip": segment.clip,
                            "groups": segment.groups,
                            "action": segment.action,
                            "style": segment.style,
                            "text": text,
                            "references": segment.references,
                            "sites": [imu.IMU_SITES[i] for i in sites] if sites else None,
                            "seconds": len(segment.starts) * self.window / self.feature_config.fps,
                        }
                    )

    def _runs(self, clip, segments):
        """(row name, captioner, image features per segment or None): every captioner on
        motion alone, and a captioner with an image slot also with the camera's view at
        each segment's last step (the newest frame, as live), when the clip has views."""
        for name, captioner in self.captioners.items():
            yield name, captioner, None
            if getattr(captioner, "image_projector", None) is not None and clip.views is not None:
                from ..core.camera_views import newest_view

                last = [min(newest_view(s.starts[-1] + self.window - 1), len(clip.views) - 1) for s in segments]
                yield f"{name}+image", captioner, clip.views[last]

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._embeddings})
        if missing:
            for t, e in zip(missing, self.text_encoder.encode(missing)):
                self._embeddings[t] = np.asarray(e, np.float32)
        return np.stack([self._embeddings[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def score(self, record: dict) -> dict:
        out = {"rouge_l": rouge_l(record["text"], record["references"])}
        if record["action"] is not None:
            out["action_ok"] = float(action_of(record["text"]) == record["action"])
            out["style_ok"] = float(style_of(record["text"]) == canonical_style(record["style"]))
        if self.text_encoder is not None and record["references"]:
            e = self._embed([record["text"] or " "])[0]
            out["minilm_cos"] = float(np.clip((self._embed(record["references"]) @ e).max(), -1.0, 1.0))
            if record["action"] is not None:
                out["action_ok_minilm"] = float(self.nearest_action(e) == record["action"])
        return out

    def nearest_action(self, embedding: np.ndarray) -> str:
        """The Bandai action whose phrasings ("a person <phrase>.") are closest on average."""
        if not hasattr(self, "_action_table"):
            names = list(bandai.ACTION_PHRASES)
            centroids = [self._embed([f"a person {p}." for p in bandai.ACTION_PHRASES[a]]).mean(0) for a in names]
            self._action_table = (names, np.stack(centroids))
        names, centroids = self._action_table
        return names[int((centroids @ embedding).argmax())]

    def table(self) -> dict:
        """{group: {row: {action_acc, style_acc, rouge_l, minilm_cos, distinct_2, s_per_description, n}}}."""
        for record in self.records:
            record.setdefault("scores", self.score(record))
        rows = list(dict.fromkeys(r["row"] for r in self.records))
        counts = defaultdict(int)
        for r in self.records:
            counts[r["row"]] += 1
        out = {}
        for group in GROUPS:
            table = {}
            for row in rows:
                entries = [r for r in self.records if r["row"] == row and group in r["groups"]]
                if not entries:
                    continue
                scores = [e["scores"] for e in entries]

                def mean(key, scores=scores):
                    values = [s[key] for s in scores if key in s]
                    return float(np.mean(values)) if values else float("nan")

                table[row] = {
                    "action_acc": mean("action_ok"),
                    "action_acc_minilm": mean("action_ok_minilm"),
                    "style_acc": mean("style_ok"),
                    "rouge_l": mean("rouge_l"),
                    "minilm_cos": mean("minilm_cos"),
                    "distinct_2": distinct_2([e["text"] for e in entries]),
                    "s_per_description": self.seconds[row] / max(counts[row], 1),
                    "n": len(entries),
                }
            if table:
                out[group] = table
        return out


def format_caption_table(table: dict) -> str:
    lines = []
    for group, rows in table.items():
        header = [
            "captioner/input",
            "action acc",
            "action acc (MiniLM)",
            "style acc",
            "ROUGE-L",
            "MiniLM cos",
            "distinct-2",
            "s/description",
            "n",
        ]
        lines += [f"\n**{group}**\n", " | ".join(header), " | ".join("---" for _ in header)]
        for name, r in rows.items():
            lines.append(
                " | ".join([name, *(f"{r[k]:.3f}" for k in COLUMNS[:6]), f"{r['s_per_description']:.3f}", str(r["n"])])
            )
    return "\n".join(lines)


def latency(captioner, codes: np.ndarray, repeats: int = 20) -> dict:
    """p50/p99 seconds of single descriptions (batch of one), as the live node runs."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        captioner.describe(codes[None])
        times.append(time.perf_counter() - started)
    return {
        "p50_s": float(np.percentile(times, 50)),
        "p99_s": float(np.percentile(times, 99)),
        "tokens_in": int(codes.shape[0]),
        "repeats": repeats,
    }


@dataclass(frozen=True)
class CaptionEvaluationConfig:
    """What a caption evaluation measures (``ego4o-caption-eval``'s flags)."""

    weights: Path  # folder with vqvae, captioner (and ego4o, lm_captioner)
    source: Path  # archive or folder of motion files
    split: str = "validation"  # "validation", "train" or "all"
    sample: int | None = None  # a seeded sample of N takes, stratified by (dataset, action)
    seed: int = 0
    windows: int = 2  # consecutive windows per description (at most the LM's max_windows)
    max_sites: int = 3  # rows from captured codes with 1..max_sites IMUs
    lm_stem: Path | None = None  # the LM captioner (default: weights/lm_captioner)
    ego4o_stem: Path | None = None  # the capture model (default: weights/ego4o)
    base_model: str | None = None  # LM base model override (.gguf or local directory)
    batch: int = 8  # descriptions generated together
    latency_repeats: int = 20  # single descriptions timed for p50/p99


def evaluate_captions(config: CaptionEvaluationConfig, *, progress: bool = True, json_path: Path | None = None) -> dict:
    """Load the captioners (code histogram from ``weights``; the LM from ``lm_stem`` or
    ``weights/lm_captioner``), the VQ-VAE and the capture model; print and return the table
    (and write it, with every description, as JSON to ``json_path``)."""
    from ..models.code_captioner import CodeCaptioner
    from ..models.ego4o import Ego4oModel
    from ..models.feature_encoders import make_text_encoder
    from ..models.lm_captioner import LmCaptioner
    from ..models.predictors import load_vqvae

    weights, source, split, sample = config.weights, config.source, config.split, config.sample
    started = time.monotonic()
    vqvae, vqvae_card = load_vqvae(weights / "vqvae")
    captioners = {"codes": CodeCaptioner.load(weights / "captioner")}
    lm_stem = config.lm_stem or weights / "lm_captioner"
    lm, lm_card = LmCaptioner.load(lm_stem, config.base_model, merged=True)
    if lm_card.feature_mean != vqvae_card.feature_mean:
        raise ValueError(f"{lm_stem} was trained with another VQ-VAE than {weights / 'vqvae'}")
    captioners["lm"] = lm
    ego4o_stem = config.ego4o_stem or weights / "ego4o"
    ego4o = None
    if Path(ego4o_stem).with_suffix(".json").exists():
        ego4o, _ = Ego4oModel.load(ego4o_stem)
        if not torch.allclose(ego4o.codebooks, lm.codebooks, atol=1e-6):
            raise ValueError(f"{ego4o_stem} uses other codebooks than {lm_stem}")
    windows = max(1, min(config.windows, lm.config.max_windows))
    dataset = DatasetConfig(**vqvae_card.dataset)
    clips = load_clips(source, split, dataset, sample, config.seed, progress)
    if not clips:
        raise ValueError(f"no clips to evaluate in {source} (split {split})")
    if lm_card.image_backend:  # the LM reads images too: its rows with the camera's views
        from ..models.image_model import image_encoder_of

        clips = attach_views(clips, image_encoder_of(Path(lm_stem).parent, lm_card), dataset.fps, progress)
    evaluator = CaptionEvaluator(
        captioners,
        vqvae,
        vqvae_card.normalizer(),
        ego4o,
        fps=vqvae_card.fps,
        window=vqvae_card.window,
        windows=windows,
        text_encoder=make_text_encoder("minilm"),
        max_sites=config.max_sites,
        batch=config.batch,
    )
    for number, clip in enumerate(tqdm(clips, desc="clips", disable=not progress, file=sys.stderr)):
        evaluator.add(number, clip)
    table = evaluator.table()
    example = truth_codes(
        clips[0], [0] * windows, vqvae_card.window, evaluator.feature_config, vqvae, vqvae_card.normalizer()
    )
    timing = {
        name: latency(c, example, config.latency_repeats if name == "lm" else 5) for name, c in captioners.items()
    }
    summary = {
        "clips": len(clips),
        "segments": len(
            {(r["clip"], tuple(r["references"]), i) for i, r in enumerate(evaluator.records) if r["row"] == "codes/gt"}
        ),
        "windows_per_description": windows,
        "seconds_of_motion_per_description": windows * dataset.window / dataset.fps,
        "groups": {g: len({r["clip"] for r in evaluator.records if g in r["groups"]}) for g in GROUPS},
        "split": split,
        "sample": sample,
        "threads": torch.get_num_threads(),
        "batch": config.batch,
        "latency_single": timing,
        "seconds": round(time.monotonic() - started, 1),
        "lm": {
            "stem": str(lm_stem),
            "base_model": lm_card.initialised_from.get("base_model", {}).get("name"),
            "training": lm_card.training,
        },
        "action_accuracy": "action_acc: synonym table (longest bandai.ACTION_PHRASES phrase found); "
        "action_acc_minilm: nearest action by MiniLM embedding",
    }
    print(
        f"{len(clips)} clips ({summary['groups']}), {summary['segments']} descriptions per row of "
        f"{windows} window(s) ({summary['seconds_of_motion_per_description']:.1f} s); {summary['seconds']:.0f} s"
    )
    print(format_caption_table(table))
    print(
        "\nsingle-description latency (batch 1, "
        + f"{torch.get_num_threads()} thread(s)): "
        + ", ".join(f"{k} p50 {v['p50_s']:.3f} s / p99 {v['p99_s']:.3f} s" for k, v in timing.items())
    )
    if json_path:
        examples = [{k: r[k] for k in ("row", "clip", "text", "sites")} for r in evaluator.records]
        Path(json_path).write_text(json.dumps({"summary": summary, "table": table, "descriptions": examples}, indent=1))
    return {"summary": summary, "table": table}
