"""``ego4o-analyze-benchmark``: how fast a recording is analysed, stage by stage.

Writes a recording of ``minutes`` minutes (the bundled walk replayed as 3 wearables at
100 Hz, looped, with its ground truth: ``recording.write_replay_bag``), analyses it with
every stage on (capture, descriptions, the output bag with the input topics, npz, CSV,
the report with scores) and prints one row per stage with the speed against real time.
With ``bags`` > 1 the same recording is analysed that many times side by side with
``jobs`` processes (the throughput of ``ego4o-analyze --jobs``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from .. import interface
from .batch import analyze_bags
from .pipeline import STAGES, AnalysisConfig


def run_benchmark(
    minutes: float = 10.0,
    work: str | Path | None = None,
    config: AnalysisConfig = AnalysisConfig(),
    bags: int = 1,
    jobs: int = 1,
    keep: bool = False,
) -> dict:
    from ..live.replay import ReplayConfig
    from .recording import write_replay_bag

    work = Path(work) if work else Path(tempfile.mkdtemp(prefix="ego4o_analyze_benchmark_"))
    work.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60.0
    bag = work / "recording"
    if not bag.exists():
        write_replay_bag(bag, seconds, config=ReplayConfig(sites=interface.DEFAULT_SITES))
    inputs = [bag]
    for k in range(1, bags):  # the same data under other names: independent bags for --jobs
        copy = work / f"recording_{k + 1}"
        if not copy.exists():
            shutil.copytree(bag, copy)
        inputs.append(copy)
    out = work / "analysed"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    results = analyze_bags(inputs, out, config, jobs=jobs, force=True, progress=False)
    wall = time.perf_counter() - started
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"analysis failed: {errors[0]}")
    first = results[0]
    table = {
        "recording_s": first["duration_s"],
        "bags": bags,
        "jobs": jobs,
        "wall_s": wall,
        "stages": {name: first["seconds"][name] for name in STAGES if name in first["seconds"]},
        "total_s": first["seconds"]["total"],
        "frames": first["frames"],
        "descriptions": first["descriptions"],
        "scores": first.get("scores", {}),
        "work": str(work),
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return table


def format_table(table: dict) -> str:
    recording = table["recording_s"]
    lines = [
        f"recording: {recording / 60:.1f} min, 3 IMUs at 100 Hz + ground truth; {table['frames']} frames, "
        f"{table['descriptions']} descriptions",
        "",
        "stage | seconds | x real time",
        "--- | --- | ---",
    ]
    for name, value in table["stages"].items():
        lines.append(f"{name} | {value:.2f} | {recording / max(value, 1e-9):.0f}")
    stages = sum(table["stages"].values())
    lines.append(f"all stages | {stages:.2f} | {recording / stages:.0f}")
    lines.append(f"per bag incl. loading the models | {table['total_s']:.2f} | {recording / table['total_s']:.0f}")
    if table["bags"] > 1:
        lines.append(
            f"{table['bags']} bags, --jobs {table['jobs']}, wall | {table['wall_s']:.2f} | "
            f"{table['bags'] * recording / table['wall_s']:.0f}"
        )
    offline = table["scores"].get("offline")
    if offline:
        lines += [
            "",
            f"offline vs ground truth: MPJPE {offline['mpjpe_mm']:.1f} mm, "
            f"PA-MPJPE {offline['pa_mpjpe_mm']:.1f} mm ({offline['frames']} frames)",
        ]
    return "\n".join(lines)
