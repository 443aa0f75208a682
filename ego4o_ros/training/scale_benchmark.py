"""How the training scales with processes and with data (``ego4o-train-benchmark``).

Runs ``ego4o-train ego4o`` for a few steps under ``torchrun --nproc_per_node N`` on a cache and
on a cache ``factor`` times its size, and prints steps/s (of the effective batch, the loop alone)
and the peak RSS of a process (the largest rank's ``ru_maxrss``, which ``run_training`` writes
into the model card). Windows are read from the packed layout a batch at a time, so the peak RSS
should not grow with the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from ..core.dataset import MotionCache


def repeated_cache(source: Path, folder: Path, factor: int, progress: bool = True) -> Path:
    """A cache holding each training clip of ``source`` ``factor`` times (hard links to the
    same clip files under new names and takes, so no motion is copied; validation clips once):
    ``factor`` times the training windows. Its packed layout is written in full on first use."""
    manifest = json.loads((source / "manifest.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clips").mkdir(exist_ok=True)
    clips = {}
    for name, entry in tqdm(list(manifest["clips"].items()), desc="linking", disable=not progress):
        copies = factor if entry["split"] == "train" and entry.get("windows") else 1
        for k in range(copies):
            new = name if copies == 1 else f"{name}~{k}"
            clips[new] = {**entry, "take": entry.get("take", name) + ("" if copies == 1 else f"~{k}")}
            target = folder / "clips" / f"{new}.npz"
            if entry.get("windows") and not target.exists():
                try:
                    os.link(source / "clips" / f"{name}.npz", target)
                except OSError:
                    target.symlink_to((source / "clips" / f"{name}.npz").resolve())
    for extra in ("stats.npz", "text_minilm.npz"):
        if (source / extra).exists():
            shutil.copy(source / extra, folder / extra)
    (folder / "manifest.json").write_text(json.dumps({**manifest, "clips": clips}))
    return folder


def run_case(
    cache: Path, vqvae: Path, processes: int, steps: int, out: Path, threads: int = 1, config: Path | None = None
) -> dict:
    """One ``ego4o-train ego4o`` run under torchrun; its card's speed and memory."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += ["-m", "ego4o_ros.tools.train", "ego4o", "--cache", str(cache), "--vqvae", str(vqvae)]
    command += ["--out", str(out), "--steps", str(steps), "--threads", str(threads), "--quiet"]
    command += ["--config", str(config)] if config else []
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": "lo"},
    )
    if result.returncode:
        raise RuntimeError(f"training failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    log = [json.loads(line) for line in (out / "ego4o.log.jsonl").read_text().splitlines()]
    card = json.loads((out / "ego4o.json").read_text())["training"]
    return {
        "processes": processes,
        "windows": len(MotionCache(cache).windows("train")),
        "steps_per_s": log[-1]["step"] / log[-1]["seconds"],
        "peak_rss_mb": card["peak_rss_mb"],
        "effective_batch": card["effective_batch"],
    }


def scale_table(
    cache: Path,
    vqvae: Path,
    work: Path,
    factor: int = 20,
    processes: tuple[int, ...] = (1, 2),
    steps: int = 40,
    progress: bool = True,
    config: Path | None = None,
) -> str:
    """The benchmark table (caches packed before timing; the packing time is not counted)."""
    big = repeated_cache(cache, work / f"cache_x{factor}", factor, progress)
    rows = []
    for label, folder in (("cache", cache), (f"cache x{factor}", big)):
        MotionCache(folder).windows("train", progress)
        for n in processes:
            rows.append(
                {
                    "cache": label,
                    **run_case(folder, vqvae, n, steps, work / f"run_{label}_{n}".replace(" ", ""), config=config),
                }
            )
    small = {r["processes"]: r for r in rows[: len(processes)]}
    lines = [
        f"Ego4o training, {steps} steps, effective batch {rows[0]['effective_batch']}, 1 thread per process",
        f"{'cache':<12} {'windows':>8} {'processes':>9} {'steps/s':>8} {'peak RSS MB':>12} {'RSS vs cache':>13}",
    ]
    for r in rows:
        ratio = r["peak_rss_mb"] / small[r["processes"]]["peak_rss_mb"]
        lines.append(
            f"{r['cache']:<12} {r['windows']:>8} {r['processes']:>9} {r['steps_per_s']:>8.2f} "
            f"{r['peak_rss_mb']:>12.0f} {ratio:>12.2f}x"
        )
    return "\n".join(lines)
