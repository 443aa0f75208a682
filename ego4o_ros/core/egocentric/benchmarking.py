"""The render benchmark: frames per second of ``EgocentricRenderer.render`` at a few
resolutions and both projections (front end: ``ego4o-render-benchmark``,
``tools/render_benchmark.py``)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .camera import PROJECTIONS, EgoCameraConfig
from .renderer import EgocentricRenderer
from .scene import Appearance
from .sheets import contact_sheet


def benchmark(
    joints: np.ndarray,
    resolutions: Sequence[int] = (96, 128, 256),
    projections: Sequence[str] = PROJECTIONS,
    repeats: int = 3,
    threads: int | None = 1,
    seed: int = 0,
    sheet: str | Path | None = None,
    sheet_frames: int = 8,
) -> list[dict]:
    """Frames per second of ``render`` (camera poses, scene, upload, drawing and read-back) on
    ``joints``, best of ``repeats``, at square ``resolutions`` and each projection. With
    ``sheet``: a contact sheet of ``sheet_frames`` evenly spaced frames at the first
    resolution >= 128, one row per projection."""
    import time

    appearance = Appearance.random(seed)
    results, sheet_rows = [], []
    sheet_size = next((r for r in resolutions if r >= 128), resolutions[-1])
    for projection in projections:
        for size in resolutions:
            config = EgoCameraConfig(width=size, height=size, projection=projection)
            with EgocentricRenderer(config, threads=threads) as renderer:
                renderer.render(joints[:8], appearance)  # warm-up: shader compilation and JIT
                best = math.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    frames = renderer.render(joints, appearance)
                    best = min(best, time.perf_counter() - start)
            results.append(
                {"projection": projection, "resolution": size, "frames": len(joints), "fps": len(joints) / best}
            )
            if sheet is not None and size == sheet_size:
                pick = np.linspace(0, len(joints) - 1, sheet_frames).round().astype(int)
                sheet_rows.append(frames[pick])
    if sheet is not None:
        contact_sheet(sheet_rows, labels=list(projections), path=sheet)
    return results


def format_benchmark(results: list[dict]) -> str:
    """The benchmark as a plain text table."""
    threads = os.environ.get("LP_NUM_THREADS", "default")
    lines = [f"{'projection':<10} {'resolution':>10} {'frames':>7} {'frames/s':>9}   (llvmpipe threads: {threads})"]
    for r in results:
        res = f"{r['resolution']}x{r['resolution']}"
        lines.append(f"{r['projection']:<10} {res:>10} {r['frames']:>7} {r['fps']:>9.0f}")
    return "\n".join(lines)
