"""Many bags: one output folder each, resumable, in parallel processes, with a progress bar.

``OUT/<bag name>/`` is written as ``OUT/.<bag name>.partial/`` and renamed when complete,
with ``summary.json`` (input fingerprint + settings) last: a bag whose folder exists
with a matching summary is skipped on the next run, an interrupted one is redone.
``jobs`` > 1 runs one process per bag at a time (each with its own models and its share of
the CPUs' threads), so N cores analyse N bags side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from .pipeline import STAGES, AnalysisConfig, Analyzer, with_threads

SUMMARY = "summary.json"


def fingerprint(bag: Path) -> dict:
    """Size and modification time of every file of the bag (the input's identity)."""
    files = [bag] if bag.is_file() else sorted(p for p in bag.rglob("*") if p.is_file())
    return {str(p.relative_to(bag.parent)): [p.stat().st_size, p.stat().st_mtime_ns] for p in files}


def output_names(bags: list[Path]) -> list[str]:
    """One folder name per bag: its name (without .bag), made unique."""
    names, seen = [], {}
    for bag in bags:
        name = bag.stem if bag.is_file() else bag.name
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def is_done(out_dir: Path, bag: Path, config: AnalysisConfig) -> bool:
    try:
        summary = json.loads((out_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        return False
    return summary.get("input") == fingerprint(bag) and summary.get("config_digest") == config.digest()


def summarize(analysis, bag: Path, config: AnalysisConfig, input_fingerprint: dict) -> dict:
    recording, motion = analysis.recording, analysis.motion
    return {
        "bag": str(bag),
        "input": input_fingerprint,
        "config": asdict(config),
        "config_digest": config.digest(),
        "storage": recording.storage,
        "duration_s": recording.duration_s,
        "messages": recording.messages,
        "frames": int(motion.valid.sum()),
        "grid_frames": len(motion.valid),
        "fps": motion.grid.fps,
        "segments": motion.segments,
        "sensors": {s: len(x.stamps_ns) for s, x in recording.imu.items()},
        "rejected": {s: x.rejected for s, x in recording.imu.items()},
        "descriptions": len(analysis.captions),
        "notes": recording.notes,
        "scores": analysis.scores,
        "seconds": analysis.seconds,
        "cpu_seconds": analysis.cpu_seconds,
        "outputs": analysis.outputs,
    }


_ANALYZER: Analyzer | None = None


def _analyzer(config: AnalysisConfig) -> Analyzer:
    global _ANALYZER
    if _ANALYZER is None or _ANALYZER.config != config:
        _ANALYZER = Analyzer(config)
    return _ANALYZER


def analyze_one(bag: Path, out_dir: Path, config: AnalysisConfig, progress=None) -> dict:
    """Analyse one bag into ``out_dir`` (atomically: a partial folder, renamed at the end)."""
    input_fingerprint = fingerprint(bag)  # before a repair could touch anything
    partial = out_dir.parent / f".{out_dir.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    analysis = _analyzer(config).analyze(bag, partial, progress)  # the models are loaded once per process
    summary = summarize(analysis, bag, config, input_fingerprint)
    summary["seconds"]["total"] = time.perf_counter() - started
    summary["cpu_seconds"]["total"] = time.process_time() - cpu_started
    (partial / SUMMARY).write_text(json.dumps(summary, indent=1, default=str))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(partial, out_dir)
    return summary


def _worker(bag: str, out_dir: str, config: AnalysisConfig) -> dict:
    try:
        return analyze_one(Path(bag), Path(out_dir), config)
    except Exception as error:  # reported per bag; the other bags go on
        return {"bag": bag, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def analyze_bags(
    bags: list[str | Path],
    out: str | Path,
    config: AnalysisConfig = AnalysisConfig(),
    jobs: int = 1,
    force: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Analyse every bag into ``out/<name>/``; returns one summary per bag (``skipped``
    True for bags already done, ``error`` for bags that failed)."""
    from tqdm import tqdm

    bags = [Path(b) for b in bags]
    config = with_threads(config, jobs if len(bags) > 1 else 1)  # before the settings are compared
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(bags)
    results: list[dict | None] = [None] * len(bags)
    todo = []
    for i, (bag, name) in enumerate(zip(bags, names)):
        if not force and is_done(out / name, bag, config):
            results[i] = {**json.loads((out / name / SUMMARY).read_text()), "skipped": True}
        else:
            todo.append(i)
    disable = not progress
    if jobs <= 1 or len(todo) <= 1:
        for i in todo:
            bar = tqdm(total=len(STAGES), desc=names[i], unit="stage", disable=disable, file=sys.stderr, leave=True)
            done = []

            def step(stage, bar=bar, done=done):
                if done:
                    bar.update(1)
                done.append(stage)
                bar.set_postfix_str(stage)

            try:
                results[i] = analyze_one(bags[i], out / names[i], config, step)
            except Exception as error:
                results[i] = {
                    "bag": str(bags[i]),
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc(),
                }
            bar.update(len(STAGES) - bar.n)
            bar.close()
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # torch in the parent is never forked
        with (
            ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool,
            tqdm(total=len(todo), desc="bags", unit="bag", disable=disable, file=sys.stderr) as bar,
        ):
            futures = {pool.submit(_worker, str(bags[i]), str(out / names[i]), config): i for i in todo}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
    return results
