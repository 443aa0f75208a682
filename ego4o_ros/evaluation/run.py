"""One evaluation run (``ego4o-evaluate`` is the front end): what to measure
(``EvaluationConfig``), the models loaded once (``load_methods``), the clips shared by a
pool of forked workers (``run_clips``), the tables printed and returned (``evaluate``)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.dataset import DatasetConfig
from ..models.checkpoint import ModelCard
from .clips import attach_views, load_clips, site_combinations, stratified_sample, take_labels
from .evaluator import Evaluator, Methods, load_lm_captioner
from .tables import GROUP_ORDER, action_right, format_curve, format_feet, format_table, format_unsensed


@dataclass(frozen=True)
class EvaluationConfig:
    """What an evaluation measures (``ego4o-evaluate``'s flags)."""

    weights: Path  # folder with ego4o, baseline, vqvae, captioner (and lm_captioner, image model)
    source: Path  # archive or folder of motion files
    split: str = "validation"  # "validation", "train" or "all"
    sample: int | None = None  # a seeded sample of N takes, stratified by (dataset, action)
    seed: int = 0
    lookahead: int = 5  # online look-ahead frames
    max_sites: int = 3  # combinations of 1..max_sites IMUs
    online_combinations: int = 1  # combinations per clip evaluated online (rotating over all)
    tto_clips: int = 0  # test-time optimisation rows on a seeded stratified sample of N takes
    lm_loop: bool = False  # the closed loop with the language-model captioner (weights/lm_captioner)
    use_text: bool = True  # rows with a description (the capture model's text encoder)
    use_image: bool = True  # the camera rows (each take's egocentric views rendered and encoded)
    jobs: int = 1  # worker processes sharing the clips (one torch thread each)
    lookahead_curve: tuple[int, ...] = ()  # also online at these look-aheads (peer and Ego4o, IMUs only)
    curve_clips: int = 0  # ... on a seeded stratified sample of N takes (0: every take)
    wear: str = "clean"  # what wearing does to the readings (core/wearing.py WEAR_PROFILES)


def load_methods(config: EvaluationConfig) -> tuple[Methods, ModelCard]:
    """The models of ``config.weights`` (and the capture model's card)."""
    from ..models.code_captioner import CodeCaptioner
    from ..models.ego4o import Ego4oModel
    from ..models.feature_encoders import make_text_encoder
    from ..models.predictors import load_baseline, load_vqvae

    weights = config.weights
    ego4o, card = Ego4oModel.load(weights / "ego4o")
    baseline, _ = load_baseline(weights / "baseline")
    vqvae, _ = load_vqvae(weights / "vqvae")
    captioner = CodeCaptioner.load(weights / "captioner")
    text_encoder = make_text_encoder(card.text_backend) if config.use_text and card.text_backend else None
    tto = None
    if config.tto_clips:
        from ..models.tto import TestTimeOptimizer

        tto = TestTimeOptimizer(ego4o, card.normalizer())
    methods = Methods(
        ego4o,
        baseline,
        vqvae,
        captioner,
        card.normalizer(),
        card.fps,
        card.window,
        text_encoder=text_encoder,
        tto=tto,
        lm_captioner=load_lm_captioner(weights) if config.lm_loop else None,
    )
    return methods, card


def evaluate(config: EvaluationConfig, *, progress: bool = True, json_path: Path | None = None) -> dict:
    """Load the models, evaluate, print and return the table (and write it as JSON to
    ``json_path``)."""
    started = time.monotonic()
    methods, card = load_methods(config)
    clips = load_clips(
        config.source, config.split, DatasetConfig(**card.dataset), config.sample, config.seed, progress, config.wear
    )
    if not clips:
        raise ValueError(f"no clips to evaluate in {config.source} (split {config.split})")
    if config.use_image and card.image_backend:
        from ..models.image_model import image_encoder_of

        clips = attach_views(clips, image_encoder_of(config.weights, card), card.fps, progress)
    combos = site_combinations(config.max_sites)
    # TTO is slow: a seeded sample of takes, stratified like ``sample`` (not the first N).
    tto_takes = stratified_sample(clips, config.tto_clips, config.seed, lambda c: take_labels(Path(c.name).stem))
    curve_takes = None
    if config.curve_clips:
        curve = stratified_sample(clips, config.curve_clips, config.seed, lambda c: take_labels(Path(c.name).stem))
        curve_takes = frozenset(c.name for c in curve)
    evaluator = Evaluator(
        methods,
        config.lookahead,
        config.online_combinations,
        frozenset(c.name for c in tto_takes),
        lookahead_curve=config.lookahead_curve,
        curve_takes=curve_takes,
    )
    run_clips(evaluator, clips, combos, config.jobs, progress)
    table = evaluator.table()
    frames = sum(c.length for c in clips)
    summary = {
        "clips": len(clips),
        "frames": frames,
        "fps": card.fps,
        "combinations": len(combos),
        "online_combinations_per_clip": config.online_combinations,
        "lookahead": config.lookahead,
        "jobs": config.jobs,
        "seconds": round(time.monotonic() - started, 1),
        "split": config.split,
        "sample": config.sample,
        "wear": config.wear,
        "lookahead_curve": list(config.lookahead_curve),
        "curve_clips": len(curve_takes) if curve_takes is not None else len(clips),
        "groups": {g: sum(g in c.groups for c in clips) for g in GROUP_ORDER[:4]},
    }
    print(
        f"{len(clips)} clips ({summary['groups']}), {frames} frames at {card.fps:g} Hz; "
        f"{len(combos)} IMU combinations offline, {config.online_combinations} per clip online (rotating, "
        f"look-ahead {config.lookahead}); {summary['seconds']:.0f} s"
    )
    print(format_table(table, GROUP_ORDER, only_listed=True))
    print(format_unsensed(table))
    print(format_feet(table))
    if config.lookahead_curve:
        print(format_curve(table, config.lookahead_curve))
    for image in (False, True):
        said = [d for d in evaluator.descriptions if d.get("image", False) == image]
        if said:
            fed = [d for d in said if d["fed_back"]]
            threshold = evaluator.lm_captioner.config.feedback_min_confidence
            print(
                f"\nLM loop{' with the camera' if image else ''}: {len(fed)} of {len(said)} descriptions fed back "
                f"(action confidence >= {threshold:.2f}); action right in {action_right(said):.3f} of all, "
                f"{action_right(fed):.3f} of those fed back"
            )
    result = {"summary": summary, "table": table, "lm_descriptions": evaluator.descriptions}
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return result


# ---------------------------------------------------------------- the fork pool
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
