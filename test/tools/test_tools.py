"""A smoke test per command-line front end in ``ego4o_ros/tools/`` and the benchmark behind it,
each run through its real entry (``python -m ego4o_ros.tools.X``) on tiny inputs: what it
prints (a table's header, a number) and writes; bad input gives one clear line and a
non-zero exit (checked in-process through ``main``, where that costs nothing).

The inputs are a 45-frame cut of the bundled walk (a take the hash puts in the validation
split, as a file and as a one-take archive) and a cache built from it by the build
front end, which the training and rendering front ends then read. capture, graph_benchmark,
fault_benchmark, evaluate, caption_eval and calibrate_feedback are tested beside the rooms
they drive."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ego4o_ros import paths
from ego4o_ros.core.dataset import split_of

ROOT = Path(__file__).resolve().parents[2]
TAKE = "dataset-2_walk_normal_010"  # a name split_of puts in the validation split (the retarget benchmark's)
FRAMES = 45
NUMBER = r"\d+(?:\.\d+)?"

TINY_DATASET = "dataset: {window: 32, stride: 16, validation_percent: 0.0}\n"
TINY_TRAINING = """
vqvae:
  model: {width: 16, depth: 1, code_dim: 8, num_codes: 16}
  training: {steps: 3, batch: 4, lr: 0.001, warmup: 1}
"""


def tool(name: str, *args, expect: int = 0, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m ego4o_ros.tools.<name> args`` from the repository root; asserts the exit code."""
    env = dict(
        os.environ,
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
    )
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    process = subprocess.run(
        [sys.executable, "-m", f"ego4o_ros.tools.{name}", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert process.returncode == expect, (
        f"{name} exited {process.returncode}:\n{process.stdout}\n{process.stderr[-3000:]}"
    )
    return process


def exits_with(main, argv, capsys) -> tuple[int, str]:
    """(exit code, stderr) of a front end's ``main(argv)`` run in-process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
        message = "" if isinstance(stop.code, int) else str(stop.code)
    else:
        message = ""
    captured = capsys.readouterr()
    return code, message + captured.err + captured.out


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    """The first ``FRAMES`` frames of the bundled walk as ``TAKE``.bvh (+ its labels .json), in a folder."""
    assert split_of(TAKE, 10.0) == "validation"
    folder = tmp_path_factory.mktemp("take")
    head, _, motion = paths.SAMPLE_CLIP.with_suffix(".bvh").read_text().partition("MOTION\n")
    lines = motion.splitlines()
    rows = [line for line in lines[2:] if line.strip()][:FRAMES]
    (folder / f"{TAKE}.bvh").write_text(f"{head}MOTION\nFrames:\t{FRAMES}\n{lines[1]}\n" + "\n".join(rows) + "\n")
    shutil.copy(paths.SAMPLE_CLIP.with_suffix(".json"), folder / f"{TAKE}.json")
    return folder


@pytest.fixture(scope="module")
def archive(take) -> Path:
    """A one-take Bandai-style archive (.tar.xz) of ``take``."""
    path = take.parent / "tiny.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        for suffix in (".bvh", ".json"):
            tar.add(take / f"{TAKE}{suffix}", arcname=f"bandai/{TAKE}{suffix}")
    return path


@pytest.fixture(scope="module")
def cache(take) -> tuple[Path, str]:
    """ego4o-build-dataset on the one take: (cache folder, its summary output)."""
    config = take.parent / "dataset.yaml"
    config.write_text(TINY_DATASET)
    out = take.parent / "cache"
    process = tool("build_dataset", "--source", take, "--cache", out, "--config", config, "--workers", 1, "--quiet")
    return out, process.stdout


# -- the data and training front ends ----------------------------------------------------------


def test_build_dataset_writes_a_cache_and_refuses_bad_input(cache, take, capsys):
    from ego4o_ros.tools import build_dataset

    folder, printed = cache
    summary = dict(line.split(maxsplit=1) for line in printed.splitlines())
    assert (summary["train_clips"], summary["train_windows"], summary["errors"]) == ("1", "2", "0"), printed
    assert json.loads((folder / "manifest.json").read_text())["clips"][TAKE]["frames"] == FRAMES
    code, message = exits_with(build_dataset.main, ["--source", take / "missing", "--cache", take / "c"], capsys)
    assert code == 2 and "not found" in message
    bad = take.parent / "bad_dataset.yaml"
    bad.write_text("dataset: {windw: 32}\n")
    code, message = exits_with(build_dataset.main, ["--source", take, "--cache", take / "c", "--config", bad], capsys)
    assert code == 2 and "windw" in message


def test_train_runs_a_few_steps_of_one_kind_and_refuses_bad_input(cache, tmp_path, capsys):
    from ego4o_ros.tools import train

    folder, _ = cache
    config = tmp_path / "train.yaml"
    config.write_text(TINY_TRAINING)
    out = tmp_path / "weights"
    common = ["--cache", folder, "--out", out, "--config", config, "--threads", 1, "--quiet"]
    process = tool("train", "vqvae", *common)
    assert re.match(rf"vqvae: \S*vqvae\S* \({NUMBER} s\)", process.stdout.strip().splitlines()[-1]), process.stdout
    assert (out / "vqvae.safetensors").stat().st_size > 0 and (out / "vqvae.json").is_file()
    log = [json.loads(line) for line in (out / "vqvae.log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3
    code, message = exits_with(train.main, ["sculpt", "--out", out], capsys)
    assert code == 2 and "invalid choice: 'sculpt'" in message
    code, message = exits_with(train.main, ["vqvae", "--cache", tmp_path / "none", "--out", out], capsys)
    assert code == 2 and "no dataset cache" in message
    code, message = exits_with(train.main, ["ego4o", *common[:-2]], capsys)
    assert code == 2 and "--vqvae" in message


def test_train_benchmark_prints_speed_and_memory_for_a_cache_and_a_bigger_one(cache, tmp_path):
    folder, _ = cache
    config = tmp_path / "train.yaml"
    config.write_text(
        TINY_TRAINING + "ego4o:\n  model: {d_model: 16, layers: 1, heads: 2, ff: 32}\n  training: {batch: 4}\n"
    )
    tool("train", "vqvae", "--cache", folder, "--out", tmp_path / "w", "--config", config, "--quiet")
    process = tool(
        "train_benchmark",
        "--cache",
        folder,
        "--vqvae",
        tmp_path / "w" / "vqvae",
        "--work",
        tmp_path / "bench",
        "--factor",
        3,
        "--processes",
        1,
        "--steps",
        2,
        "--config",
        config,
        "--quiet",
        timeout=400,
    )
    rows = [line.split() for line in process.stdout.splitlines()[2:]]
    assert [(r[-5], r[-4]) for r in rows] == [("2", "1"), ("6", "1")], process.stdout  # windows, processes
    assert all(float(r[-3]) > 0 and float(r[-2]) > 100 for r in rows), process.stdout  # steps/s, MB


def test_render_clip_draws_a_cached_window_beside_its_features(cache, tmp_path, capsys):
    from ego4o_ros.tools import render_clip

    folder, _ = cache
    strip = tmp_path / "window.png"
    process = tool(
        "render_clip", "--cache", folder, "--clip", TAKE, "--window", 0, "--compare", "features", "-o", strip
    )
    assert process.stdout.strip() == str(strip)
    assert strip.read_bytes()[:4] == b"\x89PNG"
    code, message = exits_with(render_clip.main, [tmp_path / "missing.bvh", "-o", tmp_path / "x.gif"], capsys)
    assert code == 1 and "no such file" in message
    code, message = exits_with(render_clip.main, ["--cache", tmp_path, "--clip", TAKE, "-o", strip], capsys)
    assert code == 1 and "no dataset cache there" in message


def test_demo_prints_its_summary_and_writes_the_pictures(tmp_path):
    process = tool("demo", "--output", tmp_path)
    assert process.stdout.startswith("ego4o_ros demo: bundled sample")
    error = re.search(rf"features -> joints max error \(mm\)\s+({NUMBER})", process.stdout)
    assert error and float(error.group(1)) < 0.01, process.stdout
    for name in ("sample_walk.gif", "sample_walk.png", "sample_imu.png"):
        assert (tmp_path / name).stat().st_size > 1000


# -- the benchmarks ------------------------------------------------------------------------------


def test_benchmark_prints_step_latency_per_backend_and_imu_count():
    process = tool("benchmark", "--steps", 3, "--threads", 1)
    lines = process.stdout.splitlines()
    assert "backend | IMUs | p50 ms | p99 ms | max ms" in lines
    rows = [line.split(" | ") for line in lines if re.match(r"(torch|onnxruntime) \| \d", line)]
    assert sorted((r[0], r[1]) for r in rows) == sorted((b, n) for b in ("torch", "onnxruntime") for n in "123")
    assert all(0 < float(r[2]) <= float(r[4]) for r in rows)


def test_render_benchmark_prints_frames_per_second_and_a_contact_sheet(take, tmp_path):
    sheet = tmp_path / "sheet.png"
    process = tool("render_benchmark", take / f"{TAKE}.bvh", "--resolutions", 32, "--repeats", 1, "--sheet", sheet)
    lines = process.stdout.splitlines()
    assert lines[0].split()[:4] == ["projection", "resolution", "frames", "frames/s"]
    for projection in ("pinhole", "fisheye"):
        row = next(line.split() for line in lines if line.startswith(projection))
        assert row[1:3] == ["32x32", str(FRAMES)] and float(row[3]) > 0
    assert sheet.read_bytes()[:4] == b"\x89PNG"


def test_retarget_benchmark_on_a_one_take_archive(archive, tmp_path, capsys):
    from ego4o_ros.tools import retarget_benchmark

    out = tmp_path / "retarget.json"
    process = tool("retarget_benchmark", "--archive", archive, "--max-takes", 1, "--json", out)
    assert process.stdout.startswith(f"robot unitree_g1 (29 joints): 1 validation takes, {FRAMES} frames")
    assert "metric | value" in process.stdout and "joint-limit violations | 0" in process.stdout
    summary = json.loads(out.read_text())
    assert summary["takes"] == 1 and summary["frames"] == FRAMES and summary["time_p50_ms"] > 0
    assert summary["tracking"]["all"]["ik_mean_mm"] < 50
    code, message = exits_with(retarget_benchmark.main, ["--archive", tmp_path / "missing.tar.xz"], capsys)
    assert code == 2 and "missing.tar.xz" in message


# -- analysing recordings -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """ego4o-analyze-benchmark on a 3 s recording it writes (IMUs, camera, ground truth; kept
    in its --work folder).

    In-process through ``main``, with the captions stage off: the front end always runs it,
    and loading the language-model captioner takes ~20 s more where its base model has not
    been converted yet (no option turns it off); the captions stage has its own tests
    (test/analysis)."""
    from dataclasses import replace

    import ego4o_ros.analysis as analysis
    from ego4o_ros.tools import analyze_benchmark

    work = tmp_path_factory.mktemp("analyze_benchmark")
    table, printed = work / "table.json", io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        config = analysis.AnalysisConfig
        patch.setattr(analysis, "AnalysisConfig", lambda **kwargs: replace(config(**kwargs), captions=False))
        assert analyze_benchmark.main(["--minutes", "0.05", "--work", str(work), "--json", str(table)]) == 0
    return work, json.loads(table.read_text()), printed.getvalue()


def test_analyze_benchmark_prints_stage_speeds_and_the_score(recording):
    work, table, printed = recording
    assert table["frames"] == 90 and table["recording_s"] == pytest.approx(3.0, abs=0.05)
    assert {"read", "capture", "write"} <= set(table["stages"]) and table["total_s"] > 0
    assert 0 < table["scores"]["offline"]["mpjpe_mm"] < 60
    assert (work / "recording" / "metadata.yaml").is_file()  # --work keeps the recording
    assert table["topics"]["/camera/image_raw"] >= 89 and table["topics"]["/imu/head"] == 300  # like a user's bag
    camera = next(n for n in table["notes"] if n.startswith("camera: "))
    assert int(re.search(r"(\d+) encoded for the capture model", camera).group(1)) >= 20  # every 4th frame
    assert table["cpu_stages"]["capture"] > 0 and table["total_cpu_s"] > 0
    lines = printed.splitlines()
    assert lines[0].startswith("recording: ") and "(synthesised): /camera/image_raw " in lines[0]
    assert lines[1] == "analysed: 90 frames, 0 descriptions"
    assert "stage | seconds | CPU seconds | x real time (CPU)" in lines
    assert any(re.match(rf"capture \| {NUMBER} \| {NUMBER} \| \d+ \(\d+\)$", x) for x in lines)
    assert re.search(rf"offline vs ground truth: MPJPE {NUMBER} mm", printed)


def test_analyze_a_recording_and_a_missing_bag(recording, tmp_path, capsys):
    from ego4o_ros.tools import analyze

    work = recording[0]
    out = tmp_path / "analysed"
    process = tool(
        "analyze", work / "recording", "--out", out, "--no-captions", "--no-report", "--no-image", "--no-progress"
    )
    line = re.search(
        rf"recording: ({NUMBER}) s, (\d+) frames, 0 descriptions .*offline MPJPE ({NUMBER}) mm", process.stdout
    )
    assert line and line.group(2) == "90" and float(line.group(3)) < 60, process.stdout
    assert (out / "recording" / "motion.npz").is_file() and (out / "recording" / "joints.csv").is_file()
    code, message = exits_with(
        analyze.main, [tmp_path / "missing", "--out", out, "--no-captions", "--no-report", "--no-progress"], capsys
    )
    assert code == 1 and "FAILED" in message and "no bag at" in message
