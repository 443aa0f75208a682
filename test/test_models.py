"""Models: shapes, masking, checkpoints, online face, ONNX parity, captioner (tiny configs)."""
import numpy as np
import pytest
import torch

from ego4o_ros.core import features, imu
from ego4o_ros.core.features import FeatureNormalizer
from ego4o_ros.models import checkpoint
from ego4o_ros.models.capture import Ego4oModel, WindowPredictor, load_vqvae
from ego4o_ros.models.code_captioner import CodeCaptioner
from ego4o_ros.models.data import MaskingConfig, random_sites, vanish
from ego4o_ros.models.fusion_encoder import EncoderConfig, FusionEncoder, sample_codes
from ego4o_ros.models.lstm_baseline import LstmBaseline
from ego4o_ros.models.online import StreamingCapture
from ego4o_ros.models.part_vqvae import PartVQVAE, VqvaeConfig

TINY_VQ = VqvaeConfig(width=16, depth=1, code_dim=8, num_codes=16)
TINY_ENC = EncoderConfig(d_model=16, layers=1, heads=2, ff=32, dropout=0.0)


@pytest.fixture()
def tiny_ego4o():
    torch.manual_seed(0)
    vqvae = PartVQVAE(TINY_VQ).eval()
    encoder = FusionEncoder(tuple(q.num_codes for q in vqvae.quantizers), TINY_ENC).eval()
    return Ego4oModel(encoder, vqvae).eval()


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
    for variant in (encoder(garbage, present, text, off), encoder(x, present, torch.zeros_like(text), off),
                    encoder(x, present, text * 50, off, torch.randn(2, TINY_ENC.image_dim), off)):
        for a, b in zip(reference, variant):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with_text = encoder(x, present, text, torch.ones(2, dtype=torch.bool))
    assert not torch.allclose(with_text[0], reference[0])  # present text does count


def test_gumbel_codes_give_decoder_latents(tiny_ego4o):
    logits = tiny_ego4o.encoder(torch.randn(2, 32, 5, 9), torch.ones(2, 32, 5, dtype=torch.bool))
    latents = sample_codes(logits, [q.codebook for q in tiny_ego4o.vqvae.quantizers])
    assert [l.shape for l in latents] == [(2, TINY_VQ.code_dim, 8)] * 6
    assert tiny_ego4o.vqvae.decode_latents(latents).shape == (2, 32, 263)


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


def test_checkpoint_round_trip_and_clear_errors(tmp_path, tiny_ego4o):
    vqvae = tiny_ego4o.vqvae
    checkpoint.save_checkpoint(tmp_path / "vqvae", vqvae, {"kind": "vqvae", "model_config": TINY_VQ.__dict__})
    loaded = load_vqvae(tmp_path / "vqvae")
    x = torch.randn(1, 32, 263)
    torch.testing.assert_close(loaded.decode(loaded.encode(x)), vqvae.decode(vqvae.encode(x)))
    (tmp_path / "vqvae.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="vqvae.safetensors"):
        load_vqvae(tmp_path / "vqvae")
    (tmp_path / "vqvae.safetensors").unlink()
    with pytest.raises(checkpoint.CheckpointError, match="missing.*vqvae.safetensors"):
        load_vqvae(tmp_path / "vqvae")
    with pytest.raises(checkpoint.CheckpointError, match="nothing.json"):
        load_vqvae(tmp_path / "nothing")
    checkpoint.save_checkpoint(tmp_path / "other", vqvae, {"kind": "baseline", "model_config": {}})
    with pytest.raises(checkpoint.CheckpointError, match="not a 'vqvae'"):
        load_vqvae(tmp_path / "other")


def _stream(seed=0, frames=50):
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 2, (frames, 5, 3)) + [0, 9.8, 0]
    ori = imu.rotations.axis_angle_to_matrix(rng.normal(0, 0.5, (frames, 5, 3)))
    present = np.zeros((frames, 5), bool)
    present[:, [1, 4]] = True
    return acc, ori, present


def test_online_steps_equal_sliding_windows_and_lookahead_delays(tiny_ego4o):
    predictor = WindowPredictor("ego4o", tiny_ego4o, True)
    normalizer = FeatureNormalizer(np.zeros(263), np.ones(263))
    acc, ori, present = _stream()
    window, lookahead = 32, 3
    online = StreamingCapture(predictor, normalizer, window=window, lookahead=lookahead)
    outputs = [online.step(a, o, p) for a, o, p in zip(acc, ori, present)]
    assert outputs[:lookahead] == [None] * lookahead
    assert [o.frame for o in outputs[lookahead:]] == list(range(len(acc) - lookahead))
    for out in outputs[lookahead::7]:  # frame t is row W-1-L of the window ending at t+L
        end = out.frame + lookahead
        index = np.clip(np.arange(end - window + 1, end + 1), 0, None)
        expected, _ = predictor.predict(imu.network_inputs(acc[index][None], ori[index][None], present[index][None]),
                                        present[index][None])
        np.testing.assert_allclose(out.features, expected[0, window - 1 - lookahead], atol=1e-5)
    online.reset()
    assert online.step(acc[0], ori[0], present[0]) is None
    feats, joints = online.forward_offline(acc, ori, present)
    assert feats.shape == (50, 263) and joints.shape == (50, 22, 3)
    np.testing.assert_allclose(joints[:32], features.joints_from_features(feats[:32]), atol=1e-9)


def test_onnx_export_matches_torch(tmp_path, tiny_ego4o):
    from ego4o_ros.models.onnx_export import OnnxEgo4o, export_ego4o
    path = export_ego4o(tiny_ego4o, tmp_path / "ego4o.onnx", window=32)
    session = OnnxEgo4o(path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 32, 5, 9)).astype(np.float32)
    present = rng.random((3, 32, 5)) > 0.4
    text = rng.normal(size=(3, TINY_ENC.text_dim)).astype(np.float32)
    text_present = np.array([True, False, True])
    torch_face = WindowPredictor("e", tiny_ego4o, True)
    expected, expected_ids = torch_face.predict(x, present, text, text_present)
    got, got_ids = session.predict(x, present, text, text_present)
    assert np.abs(got - expected).max() < 1e-4
    np.testing.assert_array_equal(got_ids, expected_ids)
    np.testing.assert_allclose(session.last_confidence, torch_face.last_confidence, atol=1e-5)
    no_text, _ = session.predict(x, present)
    torch_no_text, _ = WindowPredictor("e", tiny_ego4o, True).predict(x, present)
    assert np.abs(no_text - torch_no_text).max() < 1e-4


def test_code_captioner_finds_the_matching_window(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 16, (20, 8, 6))
    texts = [f"description {i}" for i in range(20)]
    captioner = CodeCaptioner.fit(ids, texts, [16] * 6)
    assert captioner.describe(ids[[3, 11]]) == ["description 3", "description 11"]
    captioner.save(tmp_path / "cap")
    assert CodeCaptioner.load(tmp_path / "cap").describe(ids[[5]]) == ["description 5"]
    with pytest.raises(FileNotFoundError, match="nope"):
        CodeCaptioner.load(tmp_path / "nope")
