"""``ego4o-train`` under ``torchrun --nproc_per_node 2`` (gloo, CPU): every kind that uses the
shared loop trains, a killed rank is resumed from the last checkpoint, and two processes
learn like one with the same effective batch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ego4o_ros.core.dataset import DatasetConfig, MotionCache
from ego4o_ros.models import ModelCard
from ego4o_ros.tools import train
from ego4o_ros.training.cache_builder import build
from ego4o_ros.training.distributed import Session
from ego4o_ros.training.image_cache import render_cache_images

TINY = """
vqvae:
  model: {width: 16, depth: 1, code_dim: 8, num_codes: 16}
  training: {steps: 40, batch: 8, lr: 0.002, warmup: 2, save_every: 20}
ego4o:
  model: {d_model: 16, layers: 1, heads: 2, ff: 32}
  training: {steps: 4, batch: 8, lr: 0.001, warmup: 1}
baseline:
  model: {hidden: 16, layers: 1}
  training: {steps: 4, batch: 8, lr: 0.001, warmup: 1}
image:
  training: {steps: 2, batch: 8, lr: 0.001, warmup: 1}
lm_captioner:
  model: {lora_r: 4, lora_alpha: 8, max_windows: 2, encoder_dim: 16, encoder_heads: 2}
  training:
    stage0: {steps: 2, batch: 4, lr: 0.001, warmup: 1}
    stage1: {steps: 2, batch: 2, lr: 0.01, warmup: 1}
    stage2: {steps: 2, batch: 2, lr: 0.001, warmup: 1, minutes: 5}
"""


def torchrun(*args: str, nproc: int = 2, wait: bool = True):
    """``python -m torch.distributed.run --standalone`` (torchrun) on ego4o-train."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    command += ["-m", "ego4o_ros.tools.train", *args, "--threads", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}  # nothing leaves the machine
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def log_records(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def setup(tmp_path_factory, two_walks):
    root = tmp_path_factory.mktemp("ddp")
    source = two_walks
    cache = root / "cache"
    build(source, cache, DatasetConfig(window=32, stride=8, validation_percent=0.0), workers=1, progress=False)
    render_cache_images(source, cache, progress=False)
    config = root / "tiny.yaml"
    config.write_text(TINY)
    return root, cache, config


def common(cache, config, out):
    return ["--cache", str(cache), "--config", str(config), "--out", str(out)]


def test_every_kind_of_the_shared_loop_trains_under_torchrun_and_rank_0_alone_writes(setup):
    root, cache, config = setup
    out = root / "two"
    for kind, extra in (
        ("vqvae", ["--steps", "4"]),
        ("baseline", ["--vqvae", str(out / "vqvae")]),
        ("image", []),
        ("ego4o", ["--vqvae", str(out / "vqvae"), "--image", str(out / "image")]),
        ("lm_captioner", ["--vqvae", str(out / "vqvae"), "--ego4o", str(out / "ego4o")]),
    ):
        result = torchrun(kind, *common(cache, config, out), *extra)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert result.stdout.count(f"{kind}: ") == 1  # rank 0 alone reports the result
        card = ModelCard.read(out / ("image" if kind == "image" else kind), kind)
        assert card.training["world_size"] == 2
        assert card.training["effective_batch"] == (2 if kind == "lm_captioner" else 8)
        assert card.training["device"] == "cpu"
        stem = "image_train" if kind == "image" else kind
        records = log_records(out / f"{stem}.log.jsonl")
        if kind == "lm_captioner":  # three stages of 2 steps, each logged once at its end
            assert [(r["stage"], r["step"]) for r in records] == [(0, 2), (1, 2), (2, 2)]
        else:
            steps = [r["step"] for r in records]
            assert steps == sorted(set(steps)) and steps[-1] == card.training["steps_done"]  # one writer


def test_a_killed_rank_is_resumed_from_the_last_checkpoint(setup):
    root, cache, config = setup
    config = root / "checkpoint_every_100.yaml"
    config.write_text(TINY.replace("save_every: 20", "save_every: 100"))
    out = root / "killed"
    run = torchrun("vqvae", *common(cache, config, out), "--steps", "100000", wait=False)
    state = out / "vqvae.state.pt"
    deadline = time.monotonic() + 300
    while not state.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert state.exists(), f"no checkpoint was written: {run.poll()}"
    ranks = {}
    for pid in subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split():
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        rank = [v for v in environ if v.startswith(b"RANK=")]
        if rank:
            ranks[int(rank[0][5:])] = int(pid)
    assert set(ranks) == {0, 1}, ranks
    os.kill(ranks[1], signal.SIGKILL)
    output = run.communicate(timeout=120)[0]
    assert run.returncode != 0, output[-2000:]  # torchrun tears the whole run down
    result = torchrun("vqvae", *common(cache, config, out), "--steps", "140")
    assert result.returncode == 0, result.stdout[-3000:]
    resumed = [line for line in (result.stdout + result.stderr).splitlines() if "resuming vqvae from step" in line]
    assert resumed and int(resumed[0].split("from step ")[1].split()[0]) == 100, result.stdout[-2000:]
    card = ModelCard.read(out / "vqvae", "vqvae")
    assert card.training["steps_done"] == 140 and card.training["world_size"] == 2


def test_two_processes_learn_like_one_with_the_same_effective_batch(setup):
    """Same effective batch (8 = 2 x 4), different windows: after 40 steps the mean of the
    last logged losses of the 2-process run is within 20 % of the 1-process run's (the
    tolerance the run-to-run spread of different seeds also needs here)."""
    root, cache, config = setup
    one, two = root / "one", root / "two_procs"
    train.main(["vqvae", *common(cache, config, one), "--threads", "1", "--quiet"])
    result = torchrun("vqvae", *common(cache, config, two))
    assert result.returncode == 0, result.stdout[-3000:]
    first = [r["loss"] for r in log_records(one / "vqvae.log.jsonl")]
    second = [r["loss"] for r in log_records(two / "vqvae.log.jsonl")]
    assert len(first) == len(second) == 2
    assert first[-1] < first[0] and second[-1] < second[0]  # both learn
    assert abs(second[-1] - first[-1]) / first[-1] < 0.2, (first, second)


def test_a_session_shards_windows_and_splits_the_batch():
    session = Session(rank=1, world_size=2)
    windows, probabilities = session.shard(7, np.array([1, 1, 1, 1, 1, 1, 4.0]) / 10)
    assert windows.tolist() == [1, 3, 5]
    np.testing.assert_allclose(probabilities, 1 / 3)
    assert session.local_batch(64) == 32
    with pytest.raises(ValueError, match="multiple"):
        session.local_batch(63)


def test_packed_windows_are_the_clips_windows(setup):
    _, cache_dir, _ = setup
    cache = MotionCache(cache_dir)
    store = cache.windows("train")
    loaded = cache.load("train")
    assert len(store) == len(loaded["start"])
    rows = np.array([len(store) - 1, 0, 3])
    for array in ("features", "joints", "imu_acc", "imu_ori"):
        np.testing.assert_array_equal(store.read(array, rows), loaded[array][rows])
    np.testing.assert_array_equal(store.clip_index, loaded["clip_index"])
    first = (cache_dir / "packed" / "train" / "names.json").stat().st_mtime_ns
    cache.windows("train")
    assert (cache_dir / "packed" / "train" / "names.json").stat().st_mtime_ns == first  # packed once


def _packed_rows(folder) -> int:
    return len(MotionCache(folder).windows("train"))


def test_two_processes_packing_one_cache_at_once_share_one_pack(setup, tmp_path):
    import multiprocessing

    _, cache_dir, _ = setup
    fresh = tmp_path / "cache"
    shutil.copytree(cache_dir, fresh, ignore=shutil.ignore_patterns("packed"))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        rows = pool.map(_packed_rows, [fresh, fresh])
    assert rows == [len(MotionCache(fresh).load("train")["start"])] * 2
    assert sorted(p.name for p in (fresh / "packed").iterdir()) == ["train", "train.lock"]
