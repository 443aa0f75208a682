"""Models: shapes, masking, model cards, online face, ONNX parity, captioner (tiny configs)."""

import json

import numpy as np
import pytest
import torch

from ego4o_ros.core import features, imu
from ego4o_ros.core.features import FeatureNormalizer
from ego4o_ros.models import checkpoint
from ego4o_ros.models.checkpoint import ModelCard
from ego4o_ros.models.code_captioner import CodeCaptioner
from ego4o_ros.models.ego4o import Ego4oModel
from ego4o_ros.models.fusion_encoder import EncoderConfig, encoder_loss
from ego4o_ros.models.lstm_baseline import LstmBaseline
from ego4o_ros.models.online import StreamingCapture
from ego4o_ros.models.part_vqvae import PartVQVAE, VqvaeConfig
from ego4o_ros.models.predictors import WindowPredictor, load_vqvae
from ego4o_ros.training.data import MaskingConfig, mirror_text, random_sites, vanish

TINY_VQ = VqvaeConfig(width=16, depth=1, code_dim=8, num_codes=16)
TINY_ENC = EncoderConfig(d_model=16, layers=1, heads=2, ff=32, dropout=0.0)


@pytest.fixture()
def tiny_ego4o():
    torch.manual_seed(0)
    vqvae = PartVQVAE(TINY_VQ).eval()
    return Ego4oModel.from_vqvae(vqvae, TINY_ENC).eval()


def card(kind, model_config):
    return ModelCard(
        kind=kind,
        model_config=model_config,
        fps=30.0,
        window=32,
        dataset={},
        feature_mean=[0.0] * 263,
        feature_std=[1.0] * 263,
    )


def test_vqvae_shapes_and_ema_codebook_updates_only_in_training():
    torch.manual_seed(0)
    model = PartVQVAE(TINY_VQ)
    x = torch.randn(4, 32, 263)
    recon, ids, losses = model(x)
    assert recon.shape == x.shape and ids.shape == (4, 8, 6) and torch.isfinite(losses["loss"])
    before = model.quantizers[0].codebook.clone()
    model(x)
    assert not torch.equal(before, model.quantizers[0].codebook)  # EMA moved it
    model.eval()
    frozen = model.quantizers[0].codebook.clone()
    model(x)
    assert torch.equal(frozen, model.quantizers[0].codebook)
    assert torch.equal(model.encode(x), model(x)[1])
    assert model.decode(model.encode(x)).shape == x.shape


def test_dead_codes_are_reseeded_from_the_batch():
    torch.manual_seed(0)
    model = PartVQVAE(TINY_VQ)
    quantizer = model.quantizers[1]
    quantizer.cluster_size.fill_(0.0)  # every code looks dead
    model(torch.randn(2, 32, 263))
    assert quantizer.usage() == 1.0


def test_absent_inputs_cannot_change_the_output(tiny_ego4o):
    torch.manual_seed(1)
    encoder = tiny_ego4o.encoder
    x = torch.randn(2, 32, 5, 9)
    present = torch.zeros(2, 32, 5, dtype=torch.bool)
    present[:, :, [0, 3]] = True
    present[1, 10:20, 0] = False  # a sensor gone mid-window
    garbage = x.clone()
    garbage[~present] = torch.randn(int((~present).sum()), 9) * 100
    zeroed = x * present[..., None]
    text = torch.randn(2, TINY_ENC.text_dim)
    off = torch.zeros(2, dtype=torch.bool)
    reference = encoder(zeroed, present)  # text and image not given at all
    for variant in (
        encoder(garbage, present, text, off),
        encoder(x, present, torch.zeros_like(text), off),
        encoder(x, present, text * 50, off, torch.randn(2, TINY_ENC.image_dim), off),
    ):
        for a, b in zip(reference[0] + reference[1], variant[0] + variant[1]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with_text = encoder(x, present, text, torch.ones(2, dtype=torch.bool))
    assert not torch.allclose(with_text[0][0], reference[0][0])  # present text does count
    with_image = encoder(x, present, image=torch.randn(2, TINY_ENC.image_dim), image_present=~off)
    assert not torch.allclose(with_image[0][0], reference[0][0])  # so does a present image


def test_ego4o_decodes_continuous_latents_and_reports_nearest_codes(tiny_ego4o):
    x, present = torch.randn(2, 32, 5, 9), torch.ones(2, 32, 5, dtype=torch.bool)
    latents, logits = tiny_ego4o.encoder(x, present)
    assert [z.shape for z in latents] == [(2, TINY_VQ.code_dim, 8)] * 6 and logits[0].shape == (2, 8, 16)
    out, ids, confidence = tiny_ego4o(x, present)
    assert out.shape == (2, 32, 263) and ids.shape == (2, 8, 6) and confidence.shape == (2, 8, 6)
    torch.testing.assert_close(out, tiny_ego4o.decode(latents))
    # The reported code of a part is the codebook entry nearest to its latent.
    book = tiny_ego4o.codebooks[2]
    nearest = torch.cdist(latents[2].transpose(1, 2), book[None].expand(2, -1, -1)).argmin(-1)
    assert torch.equal(ids[..., 2], nearest)
    assert ((confidence > 0) & (confidence <= 1)).all()
    # A latent equal to a codebook entry decodes like the VQ-VAE decodes that code.
    target_ids = torch.randint(0, 16, (2, 8, 6))
    exact = [book[target_ids[..., p]].transpose(1, 2) for p, book in enumerate(tiny_ego4o.codebooks)]
    assert torch.equal(tiny_ego4o.nearest_codes(exact), target_ids)


def test_encoder_loss_terms_are_finite_and_reach_every_parameter(tiny_ego4o):
    tiny_ego4o.train()
    x, present = torch.randn(2, 32, 5, 9), torch.ones(2, 32, 5, dtype=torch.bool)
    features_true, valid = torch.randn(2, 32, 263), torch.ones(2, 32, dtype=torch.bool)
    targets = [torch.randn(2, 8, 8) for _ in range(6)]
    ids = torch.randint(0, 16, (2, 8, 6))
    text = torch.randn(2, TINY_ENC.text_dim)
    image = torch.randn(2, TINY_ENC.image_dim)
    on = torch.ones(2, dtype=torch.bool)
    latents, logits = tiny_ego4o.encoder(x, present, text, on, image, on)
    losses = encoder_loss(latents, logits, tiny_ego4o.decode(latents), targets, ids, features_true, valid, TINY_ENC)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    missing = [n for n, p in tiny_ego4o.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_baseline_shapes():
    model = LstmBaseline()
    assert model(torch.randn(2, 32, 5, 9), torch.ones(2, 32, 5, dtype=torch.bool)).shape == (2, 32, 263)


def test_random_masking_keeps_one_to_three_sites_and_vanishes_some():
    rng = np.random.default_rng(0)
    sites = random_sites(rng, 2000, MaskingConfig())
    assert set(sites.sum(1)) == {1, 2, 3}
    present = vanish(rng, sites, 64, 1.0)
    assert present.shape == (2000, 64, 5) and (present.sum(1) < 64 * sites).any()
    assert not (present & ~sites[:, None]).any()  # never adds a sensor


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    vqvae = PartVQVAE(TINY_VQ).eval()
    checkpoint.save_checkpoint(tmp_path / "vqvae", vqvae, card("vqvae", TINY_VQ.__dict__))
    loaded, loaded_card = load_vqvae(tmp_path / "vqvae")
    x = torch.randn(1, 32, 263)
    torch.testing.assert_close(loaded.decode(loaded.encode(x)), vqvae.decode(vqvae.encode(x)))
    assert loaded_card.weights_sha256 == checkpoint.sha256(tmp_path / "vqvae.safetensors")
    good = (tmp_path / "vqvae.safetensors").read_bytes()
    (tmp_path / "vqvae.safetensors").write_bytes(good[:-4] + b"\x00\x00\x00\x01")  # one flipped byte
    with pytest.raises(checkpoint.CheckpointError, match="SHA-256"):
        load_vqvae(tmp_path / "vqvae")
    (tmp_path / "vqvae.safetensors").unlink()
    with pytest.raises(checkpoint.CheckpointError, match="missing.*vqvae.safetensors"):
        load_vqvae(tmp_path / "vqvae")
    with pytest.raises(checkpoint.CheckpointError, match="nothing.json"):
        load_vqvae(tmp_path / "nothing")
    checkpoint.save_checkpoint(tmp_path / "other", vqvae, card("baseline", {}))
    with pytest.raises(checkpoint.CheckpointError, match="not a 'vqvae'"):
        load_vqvae(tmp_path / "other")
    # Cards are validated in one place, with one clear error.
    data = json.loads((tmp_path / "other.json").read_text())
    for change, message in (
        ({"version": 1}, "version 1"),
        ({"sites": ["left_wrist"]}, "sites"),
        ({"feature_std": [0.0] * 263}, "not finite and positive"),
        ({"colour": 1}, "unknown"),
    ):
        (tmp_path / "bad.json").write_text(json.dumps({**data, **change}))
        with pytest.raises(checkpoint.CheckpointError, match=message):
            ModelCard.read(tmp_path / "bad")


def test_non_finite_weights_are_refused(tmp_path):
    model = LstmBaseline()
    with torch.no_grad():
        model.out.weight[0, 0] = float("nan")
    checkpoint.save_checkpoint(tmp_path / "baseline", model, card("baseline", {}))
    from ego4o_ros.models.predictors import load_baseline

    with pytest.raises(checkpoint.CheckpointError, match="non-finite"):
        load_baseline(tmp_path / "baseline")


def _stream(seed=0, frames=50):
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 2, (frames, 5, 3)) + [0, 9.8, 0]
    ori = imu.rotations.axis_angle_to_matrix(rng.normal(0, 0.5, (frames, 5, 3)))
    present = np.zeros((frames, 5), bool)
    present[:, [1, 4]] = True
    return acc, ori, present


def test_online_steps_equal_sliding_windows_and_lookahead_delays(tiny_ego4o):
    predictor = WindowPredictor("ego4o", tiny_ego4o)
    normalizer = FeatureNormalizer(np.zeros(263), np.ones(263))
    acc, ori, present = _stream()
    window, lookahead = 32, 3

    def window_rows(end):  # the model's rows for the window whose newest frame is ``end``
        if end >= window - 1:  # the last ``window`` frames
            index = np.arange(end - window + 1, end + 1)
        else:  # warming up: the frames so far, then the newest held
            index = np.array(list(range(end + 1)) + [end] * (window - 1 - end))
        inputs = imu.network_inputs(acc[index][None], ori[index][None], present[index][None])
        return predictor.predict(inputs, present[index][None])[0][0]

    def row_of(frame, end):  # the row of window ``end`` that holds ``frame``
        return frame - max(0, end - window + 1)

    single = StreamingCapture(predictor, normalizer, window=window, lookahead=lookahead, ensemble=1)
    outputs = [single.step(a, o, p) for a, o, p in zip(acc, ori, present)]
    assert outputs[:lookahead] == [None] * lookahead
    assert [o.frame for o in outputs[lookahead:]] == list(range(len(acc) - lookahead))
    for out in outputs[lookahead::3]:  # frame t is read from the window ending at t+L (warming up: at row t)
        end = out.frame + lookahead
        np.testing.assert_allclose(out.features, window_rows(end)[row_of(out.frame, end)], atol=1e-5)
    assert row_of(40, 40 + lookahead) == window - 1 - lookahead
    # Temporal ensembling: the weighted mean of the windows that hold the frame (more look-ahead, more weight).
    online = StreamingCapture(predictor, normalizer, window=window, lookahead=lookahead, ensemble=4)
    assert online.ensemble == 4
    outputs = [online.step(a, o, p) for a, o, p in zip(acc, ori, present)]
    for frame in (5, 30, 40):  # warming up, across the first full window, after it
        ends = [frame + lookahead - j for j in range(4)]
        rows = [window_rows(end)[row_of(frame, end)] for end in ends]
        expected = np.average(rows, axis=0, weights=[4, 3, 2, 1])
        np.testing.assert_allclose(outputs[frame + lookahead].features, expected, atol=1e-5)
    # A reset forgets the previous stream: the next one warms up as a fresh capture would.
    fresh = StreamingCapture(predictor, normalizer, window=window, lookahead=lookahead, ensemble=4)
    reversed_stream = [x[::-1].copy() for x in (acc, ori, present)]
    online.reset()
    again = [online.step(*frame) for frame in zip(*reversed_stream)]
    first = [fresh.step(*frame) for frame in zip(*reversed_stream)]
    for a, b in zip(again[lookahead : lookahead + 20], first[lookahead : lookahead + 20]):
        np.testing.assert_allclose(a.features, b.features, atol=1e-6)
    online.reset()
    outputs = [online.step(a, o, p) for a, o, p in zip(acc, ori, present)]
    # The batched online face (what the evaluation scores) is the same computation.
    batch_features, batch_joints, window_joints = online.forward_online(acc, ori, present, batch=7)
    np.testing.assert_allclose(batch_features, np.stack([o.features for o in outputs[lookahead:]]), atol=1e-5)
    np.testing.assert_allclose(batch_joints, np.stack([o.joints for o in outputs[lookahead:]]), atol=1e-5)
    assert window_joints.shape == (len(acc) - lookahead, 22, 3)
    for frame in (4, 45):  # each pose in the frame of its window: that window's rows, the ensembled one at its row
        end = frame + lookahead
        rows = window_rows(end).copy()
        rows[row_of(frame, end)] = batch_features[frame]
        expected = features.joints_from_features(rows)[row_of(frame, end)]
        np.testing.assert_allclose(window_joints[frame], expected, atol=1e-5)
    online.reset()
    assert online.step(acc[0], ori[0], present[0]) is None
    feats, joints = online.forward_offline(acc, ori, present)
    assert feats.shape == (50, 263) and joints.shape == (50, 22, 3)
    np.testing.assert_allclose(joints, features.joints_from_features(feats), atol=1e-9)  # root integrated once


def test_onnx_export_matches_torch(tmp_path, tiny_ego4o):
    from ego4o_ros.models.onnx_export import OnnxEgo4o, export_ego4o

    path = export_ego4o(tiny_ego4o, tmp_path / "ego4o.onnx", window=32)
    session = OnnxEgo4o(path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 32, 5, 9)).astype(np.float32)
    present = rng.random((3, 32, 5)) > 0.4
    text = rng.normal(size=(3, TINY_ENC.text_dim)).astype(np.float32)
    text_present = np.array([True, False, True])
    torch_face = WindowPredictor("e", tiny_ego4o)
    expected, expected_ids = torch_face.predict(x, present, text, text_present)
    got, got_ids = session.predict(x, present, text, text_present)
    assert np.abs(got - expected).max() < 1e-4
    np.testing.assert_array_equal(got_ids, expected_ids)
    np.testing.assert_allclose(session.last_confidence, torch_face.last_confidence, atol=1e-5)
    no_text, _ = session.predict(x, present)
    torch_no_text, _ = WindowPredictor("e", tiny_ego4o).predict(x, present)
    assert np.abs(no_text - torch_no_text).max() < 1e-4


def test_code_captioner_finds_the_matching_window(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 16, (20, 8, 6))
    texts = [f"description {i}" for i in range(20)]
    captioner = CodeCaptioner.fit(ids, texts, [16] * 6)
    assert captioner.describe(ids[[3, 11]]) == ["description 3", "description 11"]
    captioner.save(tmp_path / "cap", card("captioner", {}))
    assert CodeCaptioner.load(tmp_path / "cap").describe(ids[[5]]) == ["description 5"]
    with pytest.raises(checkpoint.CheckpointError, match="nope"):
        CodeCaptioner.load(tmp_path / "nope")


def test_mirrored_descriptions_swap_sides():
    assert mirror_text("a person waves the left hand.") == "a person waves the right hand."
    assert mirror_text("walks and turns right, then left") == "walks and turns left, then right"
    assert mirror_text("a person bows.") == "a person bows."


def test_a_masked_image_is_no_image_wherever_its_step_and_a_present_one_counts_by_step(tiny_ego4o):
    torch.manual_seed(2)
    encoder = tiny_ego4o.encoder
    x, present = torch.randn(2, 32, 5, 9), torch.ones(2, 32, 5, dtype=torch.bool)
    image, off, on = (
        torch.randn(2, TINY_ENC.image_dim) * 10,
        torch.zeros(2, dtype=torch.bool),
        torch.ones(2, dtype=torch.bool),
    )
    reference = encoder(x, present)
    for step in (0, 5, 7):
        masked = encoder(x, present, image=image, image_present=off, image_step=torch.full((2,), step))
        for a, b in zip(reference[0], masked[0]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    early = encoder(x, present, image=image, image_present=on, image_step=torch.zeros(2, dtype=torch.long))
    late = encoder(x, present, image=image, image_present=on, image_step=torch.full((2,), 7))
    assert not torch.allclose(early[0][0], late[0][0])  # where in the window the view was taken matters


def test_online_and_offline_faces_take_camera_views(tiny_ego4o):
    predictor = WindowPredictor("ego4o", tiny_ego4o)
    normalizer = FeatureNormalizer(np.zeros(263), np.ones(263))
    acc, ori, present = _stream()
    rng = np.random.default_rng(3)
    views = rng.normal(size=(len(acc) // 4, TINY_ENC.image_dim)).astype(np.float32)  # frame 4v + 3 is view v
    stream = StreamingCapture(predictor, normalizer, window=32, lookahead=2, ensemble=1)
    stepped = []
    for t, (a, o, p) in enumerate(zip(acc, ori, present)):
        newest = (t - 3) // 4  # the newest view taken at or before frame t (the live camera's)
        image, age = (views[newest], t - (4 * newest + 3)) if newest >= 0 else (None, 0)
        stepped.append(stream.step(a, o, p, None, image, age))
    batched, _, _ = stream.forward_online(acc, ori, present, batch=5, views=views)
    np.testing.assert_allclose(batched, np.stack([s.features for s in stepped[2:]]), atol=1e-5)
    without, _, _ = stream.forward_online(acc, ori, present)
    assert np.abs(batched - without).max() > 1e-4  # the views were used
    offline = stream.offline(acc, ori, present, views=views)
    assert offline.features.shape == (50, 263)
    assert np.abs(offline.features - stream.offline(acc, ori, present).features).max() > 1e-4


def test_onnx_export_takes_the_image_inputs(tmp_path, tiny_ego4o):
    from ego4o_ros.models.onnx_export import OnnxEgo4o, export_ego4o

    session = OnnxEgo4o(export_ego4o(tiny_ego4o, tmp_path / "ego4o.onnx", window=32))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 32, 5, 9)).astype(np.float32)
    present = np.ones((3, 32, 5), bool)
    image = rng.normal(size=(3, TINY_ENC.image_dim)).astype(np.float32)
    flags, steps = np.array([True, False, True]), np.array([0, 3, 7])
    expected, _ = WindowPredictor("e", tiny_ego4o).predict(x, present, None, None, image, flags, steps)
    got, _ = session.predict(x, present, None, None, image, flags, steps)
    assert np.abs(got - expected).max() < 1e-4


# ---------------------------------------------------------------- several camera views per window
def _multi_view_model(views: int = 4) -> Ego4oModel:
    from dataclasses import replace

    torch.manual_seed(5)
    return Ego4oModel.from_vqvae(PartVQVAE(TINY_VQ).eval(), replace(TINY_ENC, image_views=views)).eval()


def test_several_views_are_a_set_of_tokens_each_at_its_step():
    encoder = _multi_view_model().encoder
    torch.manual_seed(6)
    x, present = torch.randn(2, 32, 5, 9), torch.ones(2, 32, 5, dtype=torch.bool)
    image, steps = torch.randn(2, 3, TINY_ENC.image_dim) * 5, torch.tensor([[1, 4, 7], [0, 2, 6]])
    on = torch.ones(2, 3, dtype=torch.bool)
    with torch.no_grad():
        base = encoder(x, present, image=image, image_present=on, image_step=steps)[0][0]
        order = torch.tensor([2, 0, 1])  # views in another order, each with its step: the same
        shuffled = encoder(x, present, image=image[:, order], image_present=on, image_step=steps[:, order])[0][0]
        torch.testing.assert_close(base, shuffled, rtol=1e-5, atol=1e-5)
        # a masked view is no view
        partial = on.clone()
        partial[:, 1] = False
        masked = encoder(x, present, image=image, image_present=partial, image_step=steps)[0][0]
        two = encoder(x, present, image=image[:, [0, 2]], image_present=on[:, :2], image_step=steps[:, [0, 2]])[0][0]
        torch.testing.assert_close(masked, two, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(base, two, atol=1e-4)
        # (B, D) is one view
        one = encoder(x, present, image=image[:, 0], image_present=on[:, 0], image_step=steps[:, 0])[0][0]
        first = encoder(x, present, image=image[:, :1], image_present=on[:, :1], image_step=steps[:, :1])[0][0]
        torch.testing.assert_close(one, first)


def test_several_views_online_equal_steps_with_the_spaced_frames():
    model = _multi_view_model(4)  # window 32 = 8 steps: views 2 steps (8 frames) apart
    predictor = WindowPredictor("ego4o", model)
    stream = StreamingCapture(
        predictor, FeatureNormalizer(np.zeros(263), np.ones(263)), window=32, lookahead=2, ensemble=1
    )
    assert stream.image_views == 4 and stream.view_spacing == 2
    acc, ori, present = _stream()
    views = np.random.default_rng(7).normal(size=(len(acc) // 4, TINY_ENC.image_dim)).astype(np.float32)
    stepped = []
    for t, (a, o, p) in enumerate(zip(acc, ori, present)):
        newest = (t - 3) // 4
        index = [v for v in (newest - 6, newest - 4, newest - 2, newest) if v >= 0]
        ages = np.array([t - (4 * v + 3) for v in index])
        image = views[index] if index else None
        stepped.append(stream.step(a, o, p, None, image, ages if index else 0))
    batched, _, _ = stream.forward_online(acc, ori, present, batch=7, views=views)
    np.testing.assert_allclose(batched, np.stack([s.features for s in stepped[2:]]), atol=1e-5)
    one_view = StreamingCapture(WindowPredictor("e", _multi_view_model(1)), stream.normalizer, 32, 2, 1)
    # offline: the last view of each window and the ones spaced back from it
    result = stream.offline(acc, ori, present, views=views)
    starts = result.starts
    image, flags, steps = stream._view_args(views, (starts + 31 - 3) // 4, starts + 31)
    assert flags.all() and (steps == [1, 3, 5, 7]).all()
    assert one_view.image_views == 1


def test_live_capture_reads_the_frames_spaced_back_and_drops_a_stopped_camera():
    from ego4o_ros.live.capture import LiveCapture, LiveCaptureConfig

    model = _multi_view_model(4)
    stream = StreamingCapture(WindowPredictor("ego4o", model), FeatureNormalizer(np.zeros(263), np.ones(263)), 32, 2, 1)
    live = LiveCapture(stream, 30.0, config=LiveCaptureConfig(image_max_age_s=0.15))
    for k in range(60):  # 2 s of camera at 30 Hz, frame k's features = k
        live.set_image(np.full(TINY_ENC.image_dim, k, np.float32), k / 30)
    features, ages = live._camera_views(59 / 30)
    # views 8 frames (2 steps of 4 at 30 Hz) apart, oldest first
    assert features[:, 0].tolist() == [35, 43, 51, 59] and ages.tolist() == [24, 16, 8, 0]
    assert live._camera_views(59 / 30 + 0.2) == (None, 0)  # the newest is too old: no camera
    live1 = LiveCapture(StreamingCapture(WindowPredictor("e", _multi_view_model(1)), stream.normalizer, 32, 2, 1), 30.0)
    live1.set_image(np.zeros(TINY_ENC.image_dim, np.float32), 1.0)
    features, ages = live1._camera_views(1.05)
    assert features.shape == (1, TINY_ENC.image_dim) and ages.tolist() == [2]


def test_onnx_export_takes_several_views_and_pads_fewer(tmp_path):
    from ego4o_ros.models.onnx_export import OnnxEgo4o, export_ego4o

    model = _multi_view_model(4)
    session = OnnxEgo4o(export_ego4o(model, tmp_path / "ego4o.onnx", window=32))
    assert session.image_views == 4
    rng = np.random.default_rng(8)
    x, present = rng.normal(size=(2, 32, 5, 9)).astype(np.float32), np.ones((2, 32, 5), bool)
    image = rng.normal(size=(2, 4, TINY_ENC.image_dim)).astype(np.float32)
    flags, steps = np.array([[True, True, False, True], [False, True, True, True]]), np.array([[1, 3, 5, 7]] * 2)
    torch_face = WindowPredictor("e", model)
    expected, _ = torch_face.predict(x, present, None, None, image, flags, steps)
    got, _ = session.predict(x, present, None, None, image, flags, steps)
    assert np.abs(got - expected).max() < 1e-4
    fewer, _ = session.predict(x, present, None, None, image[:, :2], flags[:, :2], steps[:, :2])
    expected, _ = torch_face.predict(x, present, None, None, image[:, :2], flags[:, :2], steps[:, :2])
    assert np.abs(fewer - expected).max() < 1e-4
    with pytest.raises(ValueError, match="at most 4"):
        session.predict(x, present, None, None, np.concatenate([image, image], 1))


def test_present_weights_make_the_newest_frames_count_more():
    from ego4o_ros.models.fusion_encoder import present_weights
    from ego4o_ros.models.lstm_baseline import feature_loss

    assert present_weights(64, 0.0) is None
    weights = present_weights(64, 1.0, 16)
    assert weights[:48].eq(1).all() and weights[48:].eq(2).all()
    target = torch.zeros(4, 64, 263)
    valid = torch.ones(4, 64, dtype=torch.bool)
    late, early = target.clone(), target.clone()
    late[:, 56:] += 1.0  # wrong on the newest frames only
    early[:, :8] += 1.0  # as wrong, on the oldest frames
    plain = feature_loss(late, target, valid)["loss"], feature_loss(early, target, valid)["loss"]
    weighted = (
        feature_loss(late, target, valid, frame_weights=weights)["loss"],
        feature_loss(early, target, valid, frame_weights=weights)["loss"],
    )
    assert torch.isclose(plain[0], plain[1])
    assert weighted[0] > 1.5 * weighted[1]
