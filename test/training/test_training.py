"""A tiny end-to-end run: build -> train all models -> resume -> evaluate (real files)."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from ego4o_ros.core.dataset import DatasetConfig, MotionCache
from ego4o_ros.models import ModelCard
from ego4o_ros.models.image_model import image_tag, load_image_encoder
from ego4o_ros.tools import evaluate, train
from ego4o_ros.training.cache_builder import build
from ego4o_ros.training.data import MaskingConfig, TrainingWindows
from ego4o_ros.training.image import cached_features
from ego4o_ros.training.image_cache import features_path, load_views, render_cache_images

TINY = """
vqvae:
  model: {width: 16, depth: 1, code_dim: 8, num_codes: 16}
  training: {steps: 12, batch: 8, lr: 0.001, warmup: 2}
ego4o:
  model: {d_model: 16, layers: 1, heads: 2, ff: 32, image_views: 2}
  training: {steps: 6, batch: 8, lr: 0.001, warmup: 2, masking: {image_noise_std: 0.05}}
baseline:
  model: {hidden: 16, layers: 2}
  training: {steps: 6, batch: 8, lr: 0.001, warmup: 2}
image:
  training: {steps: 3, batch: 8, lr: 0.001, warmup: 1}
lm_captioner:
  model: {lora_r: 4, lora_alpha: 8, max_windows: 2, encoder_dim: 16, encoder_heads: 2}
  training:
    stage0: {steps: 2, batch: 4, lr: 0.001, warmup: 1}
    stage1: {steps: 2, batch: 2, lr: 0.01, warmup: 1}
    stage2: {steps: 2, batch: 2, lr: 0.001, warmup: 1}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory, two_walks):
    root = tmp_path_factory.mktemp("e2e")
    source = two_walks
    cache = root / "cache"
    build(source, cache, DatasetConfig(window=32, stride=16, validation_percent=0.0), workers=1, progress=False)
    render_cache_images(source, cache, progress=False)
    render_cache_images(source, cache, progress=False)  # a re-run renders nothing
    config = root / "tiny.yaml"
    config.write_text(TINY)
    weights = root / "weights"
    common = ["--cache", str(cache), "--out", str(weights), "--config", str(config), "--threads", "1", "--quiet"]
    train.main(["vqvae", *common, "--steps", "6"])
    train.main(["vqvae", *common])  # resumes at step 6 and finishes 12
    vqvae = ["--vqvae", str(weights / "vqvae")]
    train.main(["baseline", *common, *vqvae])
    train.main(["image", *common])
    train.main(["ego4o", *common, *vqvae, "--image", str(weights / "image")])
    train.main(["captioner", *common, *vqvae])
    image = ["--image", str(weights / "image")]
    train.main(["lm_captioner", *common, *vqvae, "--ego4o", str(weights / "ego4o"), *image])
    return source, weights, cache


def test_the_image_model_is_an_open_clip_checkpoint_and_its_features_are_cached(trained):
    _, weights, cache = trained
    card = ModelCard.read(weights / "image", "image")
    assert card.model_config["open_clip"]["vision_cfg"]["image_size"] == 64 and card.image_backend == "clip"
    assert set(card.training["camera"]) >= {"width", "projection", "fov_deg"}
    views = load_views(cache, "dataset-2_walk_normal_001")
    assert views["frames"].shape[1:] == (64, 64, 3) and list(views["frames"].shape[:1]) == [len(views["frame_index"])]
    assert (views["frame_index"] % 4 == 3).all()
    encoder = load_image_encoder(weights / "image")
    features = encoder.encode(views["frames"][:5])
    assert features.shape == (5, 256)
    import numpy as np

    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    with np.load(features_path(cache, image_tag(weights / "image"))) as table:
        cached = table["dataset-2_walk_normal_001"]
    assert cached.shape == (len(views["frames"]), 2, 256)  # each view and its flip
    np.testing.assert_allclose(cached[:5, 0], features, atol=2e-3)  # float16 storage
    ego4o = ModelCard.read(weights / "ego4o")
    assert ego4o.image_backend == "clip" and ego4o.initialised_from["image"]["sha256"] == card.weights_sha256
    assert ego4o.model_config["encoder"]["image_dim"] == 256


def test_training_noise_on_image_features_keeps_them_unit_length_and_only_in_training(trained):
    import numpy as np

    _, weights, cache_dir = trained
    cache = MotionCache(cache_dir)
    windows = TrainingWindows(cache, "train", ModelCard.read(weights / "vqvae").normalizer())
    _, windows.image_table, _ = cached_features(weights / "image", cache)
    index = np.arange(min(4, len(windows)))
    quiet = MaskingConfig(image_drop=0.0, mirror_probability=0.0)
    clean = windows.batch(index, np.random.default_rng(0), quiet)["image"].numpy()
    noisy = windows.batch(index, np.random.default_rng(0), replace(quiet, image_noise_std=0.05))["image"].numpy()
    np.testing.assert_allclose(np.linalg.norm(noisy, axis=-1), 1.0, atol=1e-5)
    cosine = (clean * noisy).sum(-1)
    assert (cosine < 0.999).all() and (cosine > 0.3).all()  # moved, not replaced
    evaluation = windows.batch(index, sites=np.ones(5, bool), with_image=True)["image"].numpy()
    stored = windows.images(index, None, np.zeros(len(index), bool), 1)[0]
    np.testing.assert_array_equal(evaluation, stored)  # no noise outside training


def test_training_resumes_and_writes_checkpoints_with_cards(trained):
    _, weights, _ = trained
    log = [json.loads(line) for line in (weights / "vqvae.log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12 and sorted({r["step"] for r in log}) == [r["step"] for r in log]
    for kind in ("vqvae", "ego4o", "baseline", "captioner"):
        assert (weights / f"{kind}.safetensors").stat().st_size > 0
        card = ModelCard.read(weights / kind, kind)
        assert card.sites[0] == "left_wrist" and card.fps == 30.0 and len(card.feature_mean) == 263
        assert "non-commercial" in card.licence and len(card.weights_sha256) == 64
    ego4o = ModelCard.read(weights / "ego4o")
    vqvae = ModelCard.read(weights / "vqvae")
    assert ego4o.initialised_from["vqvae"]["sha256"] == vqvae.weights_sha256
    assert ego4o.feature_mean == vqvae.feature_mean  # one feature space for both
    assert ego4o.training["steps_done"] == 6 and ego4o.training["masking"]["mirror_probability"] > 0
    assert ego4o.training["masking"]["image_noise_std"] == 0.05  # the YAML's masking, on the defaults
    assert ego4o.model_config["encoder"]["image_views"] == 2  # two camera frames per window


def test_evaluate_prints_every_row_and_group(trained, capsys, tmp_path):
    source, weights, _ = trained
    out = tmp_path / "table.json"
    evaluate.main(
        [
            "--source",
            str(source),
            "--split",
            "all",
            "--weights",
            str(weights),
            "--max-sites",
            "1",
            "--json",
            str(out),
            "--quiet",
            "--threads",
            "1",
            "--tto-clips",
            "1",
            "--lm-loop",
        ]
    )
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    table = result["table"]["all"]
    for row in (
        "vqvae_reconstruction/offline",
        "baseline_lstm/offline",
        "baseline_lstm/online",
        "ego4o_imu/offline",
        "ego4o_imu/online",
        "ego4o_imu_feet/online",
        "ego4o_gt_text/offline",
        "ego4o_gt_text/online",
        "ego4o_generated_text/offline",
        "ego4o_imu_tto/offline",
        "ego4o_image/offline",
        "ego4o_image/online",
        "ego4o_image_generated_text/offline",
        "ego4o_all/offline",
        "ego4o_lm_text/offline",
        "ego4o_imu_lm_reference/offline",
        "ego4o_lm_text_oracle_gate/offline",
        "ego4o_image_lm_text/offline",
        "ego4o_image_lm_reference/offline",
    ):
        assert row in table and row in printed
        assert 0 < table[row]["mpjpe_mm"] < 2000
        assert table[row]["feet_skate_mm_s"] >= 0 and table[row]["feet_gt_skate_mm_s"] >= 0
    assert "**feet: all**" in printed
    assert result["summary"]["combinations"] == 5 and result["summary"]["clips"] == 2
    assert "1 IMU" in result["table"] and "dataset 2" in result["table"]
    # a part's error where its sensor is not worn: each site is missing in 4 of the 5
    # single-IMU combinations, so the group "without head" has 4/5 of the frames
    without = result["table"]["without head"]["ego4o_imu/offline"]
    assert without["frames"] == table["ego4o_imu/offline"]["frames"] * 4 // 5
    assert "parts without their sensor" in printed and "spine_head (no head)" in printed
    assert "**without head**" not in printed  # those groups feed the summary, not their own tables
    from ego4o_ros.core import body, imu
    from ego4o_ros.evaluation.tables import SITE_PARTS

    assert set(SITE_PARTS) == set(imu.IMU_SITES) and set(SITE_PARTS.values()) <= set(body.PART_NAMES)
    # Both clips are copies of one take, and every clip is scored on every frame offline.
    frames = result["summary"]["frames"]
    assert table["ego4o_imu/offline"]["frames"] == frames * 5
    # The LM loop: one description per clip from IMUs and one with the camera, on the
    # clip's sampled combination (each clip's frames once).
    said = result["lm_descriptions"]
    assert sorted(d["image"] for d in said) == [False, False, True, True]
    assert all(d["text"] and 0 < d["confidence"] <= 1 for d in said)
    assert table["ego4o_lm_text/offline"]["frames"] == table["ego4o_image_lm_text/offline"]["frames"] == frames
    assert "LM loop:" in printed and "LM loop with the camera:" in printed


def test_lm_loop_feeds_back_only_sure_descriptions(trained, tmp_path):
    """With a threshold no confidence reaches, nothing is fed back: the loop rows are the
    captures without text, exactly."""
    source, trained_weights, _ = trained
    weights = tmp_path / "weights"
    shutil.copytree(trained_weights, weights)
    card = json.loads((weights / "lm_captioner.json").read_text())
    card["model_config"]["feedback_min_confidence"] = 1.01
    (weights / "lm_captioner.json").write_text(json.dumps(card))
    from ego4o_ros.evaluation.run import EvaluationConfig
    from ego4o_ros.evaluation.run import evaluate as run_evaluation

    config = EvaluationConfig(weights, source, split="all", max_sites=1, lm_loop=True)
    result = run_evaluation(config, progress=False)
    table = result["table"]["all"]
    assert not any(d["fed_back"] for d in result["lm_descriptions"])
    for row, reference in (
        ("ego4o_lm_text", "ego4o_imu_lm_reference"),
        ("ego4o_image_lm_text", "ego4o_image_lm_reference"),
    ):
        assert table[f"{row}/offline"]["mpjpe_mm"] == table[f"{reference}/offline"]["mpjpe_mm"]


def test_fine_tuning_starts_from_the_trained_weights_and_names_them(trained, tmp_path):
    """``ego4o-train baseline --init STEM``: one step at a tiny learning rate leaves the trained
    weights (a fresh run does not start there), and the card names the weights it started from."""
    _, weights, cache = trained
    config = tmp_path / "tiny.yaml"
    config.write_text(
        TINY.replace(
            "training: {steps: 6, batch: 8, lr: 0.001, warmup: 2}\nimage",
            "training: {steps: 1, batch: 8, lr: 0.000001, warmup: 1}\nimage",
        )
    )
    common = [
        "--cache",
        str(cache),
        "--config",
        str(config),
        "--threads",
        "1",
        "--quiet",
        "--vqvae",
        str(weights / "vqvae"),
    ]
    train.main(["baseline", *common, "--out", str(tmp_path / "fresh")])
    train.main(["baseline", *common, "--out", str(tmp_path / "tuned"), "--init", str(weights / "baseline")])
    from ego4o_ros.models.predictors import load_baseline

    start = load_baseline(weights / "baseline")[0].state_dict()
    for name, expect_close in (("tuned", True), ("fresh", False)):
        after = load_baseline(tmp_path / name / "baseline")[0].state_dict()
        gap = max(float((after[k].float() - start[k].float()).abs().max()) for k in start)
        assert (gap < 1e-3) == expect_close, (name, gap)  # one step at lr 1e-6 moves nothing
    card = ModelCard.read(tmp_path / "tuned" / "baseline", "baseline")
    assert card.initialised_from["init"]["sha256"] == ModelCard.read(weights / "baseline", "baseline").weights_sha256
    with pytest.raises(SystemExit):  # another model's weights: one clear error
        train.main(["baseline", *common, "--out", str(tmp_path / "wrong"), "--init", str(weights / "ego4o")])


def test_worn_training_windows_differ_in_their_imu_inputs_only(trained):
    _, weights, cache = trained
    windows = TrainingWindows(MotionCache(cache), "train", ModelCard.read(weights / "vqvae", "vqvae").normalizer())
    index = np.arange(min(8, len(windows)))
    plain = MaskingConfig(acc_noise_std=0.0, mirror_probability=0.0)
    worn = MaskingConfig(acc_noise_std=0.0, mirror_probability=0.0, wear_probability=1.0)
    a = windows.batch(index, np.random.default_rng(0), plain)
    b = windows.batch(index, np.random.default_rng(0), worn)
    assert torch.equal(a["features"], b["features"]) and torch.equal(a["present"], b["present"])
    assert not torch.allclose(a["imu"], b["imu"])


def test_held_start_windows_repeat_a_row_and_leave_the_rows_before_it_out_of_the_loss(trained):
    _, weights, cache = trained
    windows = TrainingWindows(MotionCache(cache), "train", ModelCard.read(weights / "vqvae", "vqvae").normalizer())
    index = np.arange(min(8, len(windows)))
    plain = MaskingConfig(acc_noise_std=0.0, mirror_probability=0.0, vanish_probability=0.0)
    held = replace(plain, hold_start_probability=1.0)
    a = windows.batch(index, np.random.default_rng(0), plain)
    b = windows.batch(index, np.random.default_rng(0), held)
    assert torch.equal(a["features"], b["features"])  # the targets are the take's own
    for k in range(len(index)):
        dropped = torch.nonzero(~b["valid"][k] & a["valid"][k]).flatten()
        assert len(dropped) >= 1 and torch.equal(dropped, torch.arange(len(dropped)))  # a leading run
        first = len(dropped)
        assert torch.equal(b["present"][k, :first], b["present"][k, first].expand(first, -1))
        # the held rows read as row `first` does (up to the per-window heading alignment)
        np.testing.assert_allclose(b["imu"][k, :first], b["imu"][k, first].expand(first, -1, -1), atol=1e-6)
        assert torch.equal(a["valid"][k, first:], b["valid"][k, first:])


def test_held_end_windows_repeat_a_row_and_leave_the_rows_after_it_out_of_the_loss(trained):
    _, weights, cache = trained
    windows = TrainingWindows(MotionCache(cache), "train", ModelCard.read(weights / "vqvae", "vqvae").normalizer())
    index = np.arange(min(8, len(windows)))
    plain = MaskingConfig(acc_noise_std=0.0, mirror_probability=0.0, vanish_probability=0.0)
    held = replace(plain, hold_end_probability=1.0)
    a = windows.batch(index, np.random.default_rng(0), plain)
    b = windows.batch(index, np.random.default_rng(0), held)
    assert torch.equal(a["features"], b["features"])  # the targets are the take's own
    frames = b["valid"].shape[1]
    for k in range(len(index)):
        kept = int(b["valid"][k].sum())  # rows 0..kept-1 stay (as far as the take's own were valid)
        assert kept >= 1 and bool(b["valid"][k, :kept].all()) and not b["valid"][k, kept:].any()
        last = int(torch.nonzero(a["valid"][k]).max())
        newest = min(kept, last + 1) - 1  # the row whose readings the held rows repeat
        if kept <= last:  # the held run is not just the take's own padding
            rest = frames - newest - 1
            assert torch.equal(b["present"][k, newest + 1 :], b["present"][k, newest].expand(rest, -1))
            np.testing.assert_allclose(b["imu"][k, newest + 1 :], b["imu"][k, newest].expand(rest, -1, -1), atol=1e-6)
        assert torch.equal(a["present"][k, : newest + 1], b["present"][k, : newest + 1])
