"""A tiny end-to-end run: build -> train all models -> resume -> evaluate (real files)."""
import json
import shutil
from pathlib import Path

import pytest

from ego4o_ros.tools import build_dataset, evaluate, train
from ego4o_ros.core.dataset import DatasetConfig

SAMPLE = Path(build_dataset.__file__).resolve().parents[1] / "data" / "sample" / "dataset-2_walk_normal_001.bvh"
TINY = """
vqvae:
  model: {width: 16, depth: 1, code_dim: 8, num_codes: 16}
  training: {steps: 12, batch: 8, lr: 0.001, warmup: 2}
encoder:
  model: {d_model: 16, layers: 1, heads: 2, ff: 32}
  training: {steps: 6, batch: 8, lr: 0.001, warmup: 2}
baseline:
  model: {hidden: 16, layers: 2}
  training: {steps: 6, batch: 8, lr: 0.001, warmup: 2}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    source = root / "clips"
    source.mkdir()
    for suffix in (".bvh", ".json"):
        shutil.copy(SAMPLE.with_suffix(suffix), source)
        shutil.copy(SAMPLE.with_suffix(suffix), source / ("dataset-2_walk_normal_002" + suffix))
    cache = root / "cache"
    build_dataset.build(source, cache, DatasetConfig(window=32, stride=16, validation_percent=0.0),
                        workers=1, progress=False)
    config = root / "tiny.yaml"
    config.write_text(TINY)
    weights = root / "weights"
    common = ["--cache", str(cache), "--out", str(weights), "--config", str(config), "--threads", "1", "--quiet"]
    train.main(["vqvae", *common, "--steps", "6"])
    train.main(["vqvae", *common])  # resumes at step 6 and finishes 12
    train.main(["baseline", *common])
    train.main(["encoder", *common, "--vqvae", str(weights / "vqvae")])
    train.main(["captioner", *common, "--vqvae", str(weights / "vqvae")])
    return source, weights


def test_training_resumes_and_writes_checkpoints(trained):
    _, weights = trained
    log = [json.loads(line) for line in (weights / "vqvae.log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12 and sorted({r["step"] for r in log}) == [r["step"] for r in log]
    for kind in ("vqvae", "encoder", "baseline", "captioner"):
        assert (weights / f"{kind}.safetensors").stat().st_size > 0
    meta = json.loads((weights / "encoder.json").read_text())
    assert meta["sites"][0] == "left_wrist" and meta["fps"] == 30.0 and len(meta["feature_mean"]) == 263
    assert "non-commercial" in meta["licence"]


def test_evaluate_prints_every_row_for_every_combination(trained, capsys, tmp_path):
    source, weights = trained
    out = tmp_path / "table.json"
    evaluate.main(["--source", str(source), "--split", "all", "--weights", str(weights), "--max-clips", "1",
                   "--max-sites", "1", "--online-stride", "8", "--json", str(out), "--quiet"])
    printed = capsys.readouterr().out
    table = json.loads(out.read_text())["table"]
    for row in ("vqvae_reconstruction/offline", "baseline_lstm/offline", "baseline_lstm/online",
                "ego4o_imu/offline", "ego4o_imu/online", "ego4o_gt_text/offline", "ego4o_generated_text/online"):
        assert row in table and row in printed
        assert 0 < table[row]["mpjpe_mm"] < 2000
    assert json.loads(out.read_text())["combinations"] == 5
