"""``ego4o-analyze-benchmark``: how fast a recording is analysed, stage by stage.

The recording is one like those users record, ``minutes`` long:

* by default written here (``recording.write_replay_bag``): the bundled walk replayed as
  3 wearables at 100 Hz and the head camera's rendered view at 30 Hz (``camera/image_raw``,
  as the replay node sends it), looped, with its ground truth;
* with ``source`` (a bag recorded by ``ego4o-capture``: IMUs, camera, the live outputs,
  descriptions, diagnostics), that bag repeated to the length (``recording.tile_bag``).

It is analysed at the shipped defaults with every stage on (capture with the camera,
LM descriptions, the output bag with the input topics, npz, CSV, the report with
scores); one row per stage with wall and CPU seconds (a busy machine inflates the wall
time only) and the speed against real time, and the whole run of one bag including
loading the models. With ``bags`` > 1 the same recording is analysed that many times
side by side with ``jobs`` processes (the throughput of ``ego4o-analyze --jobs``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from .. import interface
from .batch import analyze_bags
from .pipeline import STAGES, AnalysisConfig

CAMERA_RATE_HZ = 30.0  # the replay node's camera_rate in config/capture.yaml


def run_benchmark(
    minutes: float = 10.0,
    work: str | Path | None = None,
    config: AnalysisConfig = AnalysisConfig(),
    bags: int = 1,
    jobs: int = 1,
    keep: bool = False,
    source: str | Path | None = None,
) -> dict:
    from ..core.bag import bag_topics
    from ..live.replay import ReplayConfig
    from .recording import tile_bag, write_replay_bag

    work = Path(work) if work else Path(tempfile.mkdtemp(prefix="ego4o_analyze_benchmark_"))
    work.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60.0
    bag = work / "recording"
    if not bag.exists():
        if source:
            tile_bag(source, bag, seconds)
        else:
            write_replay_bag(
                bag, seconds, config=ReplayConfig(sites=interface.DEFAULT_SITES), camera_rate_hz=CAMERA_RATE_HZ
            )
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
        "source": str(source) if source else "synthesised",
        "topics": {topic: count for topic, (_, count) in sorted(bag_topics(bag).items()) if count},
        "bags": bags,
        "jobs": jobs,
        "wall_s": wall,
        "stages": {name: first["seconds"][name] for name in STAGES if name in first["seconds"]},
        "cpu_stages": {name: first["cpu_seconds"][name] for name in STAGES if name in first["cpu_seconds"]},
        "total_s": first["seconds"]["total"],
        "total_cpu_s": first["cpu_seconds"]["total"],
        "frames": first["frames"],
        "descriptions": first["descriptions"],
        "notes": first.get("notes", []),
        "scores": first.get("scores", {}),
        "work": str(work),
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return table


def format_table(table: dict) -> str:
    recording = table["recording_s"]
    topics = ", ".join(f"{topic} {count}" for topic, count in table["topics"].items())
    lines = [
        f"recording: {recording / 60:.1f} min ({table['source']}): {topics}",
        f"analysed: {table['frames']} frames, {table['descriptions']} descriptions",
        *[f"  {note}" for note in table.get("notes", [])],
        "",
        "stage | seconds | CPU seconds | x real time (CPU)",
        "--- | --- | --- | ---",
    ]

    def row(name: str, wall: float, cpu: float) -> str:
        return f"{name} | {wall:.2f} | {cpu:.2f} | {recording / max(wall, 1e-9):.0f} ({recording / max(cpu, 1e-9):.0f})"

    cpu = table.get("cpu_stages") or table["stages"]
    lines += [row(name, value, cpu.get(name, value)) for name, value in table["stages"].items()]
    lines.append(row("all stages", sum(table["stages"].values()), sum(cpu.values())))
    lines.append(row("per bag incl. loading the models", table["total_s"], table.get("total_cpu_s", table["total_s"])))
    if table["bags"] > 1:
        lines.append(
            f"{table['bags']} bags, --jobs {table['jobs']}, wall | {table['wall_s']:.2f} | | "
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
