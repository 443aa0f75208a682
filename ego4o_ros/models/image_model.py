"""The default image encoder: a small CLIP trained here on rendered egocentric views.

No CLIP weights install offline, so the camera modality's default model is an open_clip
model of the project's own registered config (``EGO_CLIP``: a small ResNet tower on 64x64
views, a 3-layer text tower; ``EGO_CLIP_VIT`` is a ViT alternative, slower to learn here),
trained CLIP-style on (view, description) pairs of the training takes. Views of takes with
the same action and style are positives of each other (the descriptions are paraphrases).
An auxiliary head regresses the joints in the camera's frame from the centred image
embedding, so the features carry where the limbs are, not only the action. A fresh CLIP's
unit embeddings share one dominant direction, so they are centred (batch mean in training,
a running mean kept in the model card) and re-normalised.

The saved checkpoint holds the open_clip model only (safetensors, no auxiliary head), and
``feature_encoders.ClipImageEncoder`` loads it through the same function as a user's CLIP
ViT-B/32 checkpoint; the model card beside it names the config.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..core import mirror
from ..core.dataset import MotionCache
from ..readers import bandai
from . import checkpoint
from .checkpoint import ModelCard
from .data import mirror_text
from .feature_encoders import clip_pixels
from .image_cache import IMAGE_CAMERA, load_views

MODEL_NAME = "ego4o-egoclip-64"
TEXT_TOWER = {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3}
EGO_CLIP = {
    "embed_dim": 256,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 32},
    "text_cfg": TEXT_TOWER,
}
EGO_CLIP_VIT = {
    "embed_dim": 256,
    "vision_cfg": {"image_size": 64, "layers": 4, "width": 128, "head_width": 64, "patch_size": 8, "mlp_ratio": 3.0},
    "text_cfg": TEXT_TOWER,
}
TOWERS = {"resnet": EGO_CLIP, "vit": EGO_CLIP_VIT}
POSE_SCALE_M = 0.5  # camera-frame joint targets are divided by this


@dataclass(frozen=True)
class ImageModelConfig:
    name: str = MODEL_NAME
    vision: str = "resnet"  # the image tower: "resnet" (EGO_CLIP) or "vit" (EGO_CLIP_VIT)
    pose_weight: float = 10.0  # the auxiliary pose regression against the contrastive loss
    # Smooth-L1 transition (in units of POSE_SCALE_M): at 1.0 the pose errors (~0.2) sit in
    # the quadratic part, whose small gradient leaves the features nearly pose-blind.
    pose_beta: float = 1.0
    flip_probability: float = 0.5  # left/right flipped view, mirrored joints and description


def create_clip(config: ImageModelConfig = ImageModelConfig()):
    """A fresh open_clip model of the registered config (random weights: nothing downloads)."""
    import open_clip
    from open_clip import factory

    factory._MODEL_CONFIGS[config.name] = dict(TOWERS[config.vision])
    return open_clip.create_model(config.name, pretrained=None)


class ImageTrainingModel(nn.Module):
    """The CLIP model plus its auxiliary pose head (the head is not saved)."""

    def __init__(self, clip, embed_dim: int):
        super().__init__()
        self.clip = clip
        self.pose_head = nn.Sequential(nn.Linear(embed_dim, 256), nn.GELU(), nn.Linear(256, 22 * 3))
        # A fresh CLIP's unit embeddings share one dominant direction (all cosines ~1): its
        # features are centred (batch mean in training, this running mean after) and
        # re-normalised, like a batch norm; the encoder applies the same centre (its card).
        self.register_buffer("center", torch.zeros(embed_dim))

    def centred(self, features: torch.Tensor, track: bool = False) -> torch.Tensor:
        """Unit rows minus their batch mean, re-normalised; ``track`` updates the running centre."""
        mean = features.mean(0).detach()
        if track:
            with torch.no_grad():
                self.center.mul_(0.98).add_(0.02 * mean)
        return F.normalize(features - mean, dim=-1)


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, groups: np.ndarray):
    """Symmetric InfoNCE with every sample of the same group a positive (soft targets)."""
    same = torch.from_numpy(groups[:, None] == groups[None, :]).float()
    targets = same / same.sum(1, keepdim=True)
    logits = scale * image @ text.t()
    return 0.5 * (
        torch.sum(-targets * F.log_softmax(logits, 1), 1).mean()
        + torch.sum(-targets * F.log_softmax(logits.t(), 1), 1).mean()
    )


class ViewTable:
    """Every training view in memory with its take's descriptions, group and pose target."""

    def __init__(self, cache: MotionCache, split: str = "train", progress: bool = True):
        frames, poses, takes = [], [], []
        names = cache.names(split)
        for i, name in enumerate(tqdm(names, desc="views", unit="take", disable=not progress, file=sys.stderr)):
            views = load_views(cache.folder, name)
            frames.append(views["frames"])
            poses.append(views["camera_joints"])
            takes.append(np.full(len(views["frames"]), i))
        self.frames, self.poses = np.concatenate(frames), np.concatenate(poses)
        self.take = np.concatenate(takes)
        self.descriptions = [cache.clips[n]["descriptions"] for n in names]
        keys = [_group_key(cache.clips[n].get("take", n), cache.clips[n]["descriptions"]) for n in names]
        lookup = {k: j for j, k in enumerate(sorted(set(keys)))}
        self.group = np.array([lookup[k] for k in keys])

    def __len__(self) -> int:
        return len(self.frames)


def _group_key(take: str, descriptions: list[str]) -> str:
    try:
        _, action, style, _ = bandai.labels_from_name(take)
        return f"{action}/{style}"
    except ValueError:
        return descriptions[0] if descriptions else take


def train_image_model(
    cache: MotionCache, model_cfg: dict, training: dict, out_dir: Path, progress: bool = True
) -> Path:
    """CLIP-style training on the cache's rendered views; writes ``<out>/image.safetensors``
    (the open_clip model, loadable by ``ClipImageEncoder``) and its card, then encodes
    every view into the cache's image features."""
    import open_clip

    from .image_cache import encode_cache_images
    from .train_loop import run_training

    config = ImageModelConfig(**model_cfg)
    clip = create_clip(config)
    model = ImageTrainingModel(clip, TOWERS[config.vision]["embed_dim"])
    tokenizer = open_clip.get_tokenizer(config.name)
    table = ViewTable(cache, progress=progress)
    texts = sorted({t for d in table.descriptions for t in d} | {mirror_text(t) for d in table.descriptions for t in d})
    tokens = dict(zip(texts, tokenizer(texts)))

    def loss_fn(index, rng):
        flipped = rng.random(len(index)) < config.flip_probability
        frames = table.frames[index].copy()
        frames[flipped] = frames[flipped][:, :, ::-1]
        pose = table.poses[index].astype(np.float64)
        pose[flipped] = mirror.mirror_joints(pose[flipped])  # camera x is the image's horizontal
        chosen = [str(rng.choice(table.descriptions[table.take[i]])) for i in index]
        chosen = [mirror_text(t) if f else t for t, f in zip(chosen, flipped)]
        pixels = clip_pixels(frames, model.clip.visual.preprocess_cfg)
        image = model.centred(model.clip.encode_image(pixels, normalize=True), track=True)
        text = model.centred(model.clip.encode_text(torch.stack([tokens[t] for t in chosen]), normalize=True))
        groups = table.group[table.take[index]]
        contrastive = contrastive_loss(image, text, model.clip.logit_scale.exp().clamp(max=100), groups)
        target = torch.from_numpy((pose / POSE_SCALE_M).reshape(len(index), -1)).float()
        predicted = model.pose_head(image * 16.0)  # unit-norm features scaled to a usable range
        pose_loss = F.smooth_l1_loss(predicted, target, beta=config.pose_beta)
        with torch.no_grad():
            top1 = (image @ text.t()).argmax(1).numpy()
            error_mm = (predicted - target).view(len(index), 22, 3).norm(dim=-1).mean() * POSE_SCALE_M * 1000
        return {
            "loss": contrastive + config.pose_weight * pose_loss,
            "contrastive": contrastive.detach(),
            "pose": pose_loss.detach(),
            "pose_mm": error_mm,
            "text_top1": torch.tensor(float(np.mean(groups[top1] == groups))),
        }

    card = ModelCard.for_cache(
        cache,
        "image",
        {"open_clip": TOWERS[config.vision], **asdict(config)},
        {"camera": asdict(IMAGE_CAMERA)},
        image_backend="clip",
    )
    run_training("image_train", model, loss_fn, len(table), training, out_dir, card, progress=progress)
    # The open_clip model alone (float16 halves the file), with the card run_training wrote.
    half = {k: v.detach().to(torch.float16) for k, v in model.clip.state_dict().items()}
    card = replace(
        ModelCard.read(out_dir / "image_train", "image"),
        extra={"feature_center": [round(float(x), 6) for x in model.center]},
    )
    weights = checkpoint.save_checkpoint(out_dir / "image", half, card)
    encoder = load_image_encoder(out_dir / "image")
    encode_cache_images(cache.folder, encoder, image_tag(out_dir / "image"), progress=progress)
    return weights


def cached_features(stem: str | Path, cache: MotionCache) -> tuple[int, dict[str, np.ndarray], dict]:
    """What a model trained on image model ``stem``'s views needs: the feature size, every
    cached view's features (per clip), and the card entry naming the image model."""
    from .image_cache import load_image_features

    card = ModelCard.read(stem, "image")
    table = load_image_features(cache.folder, card.weights_sha256[:12])
    entry = {"file": Path(stem).name, "sha256": card.weights_sha256}
    return int(card.model_config["open_clip"]["embed_dim"]), table, entry


def image_tag(stem: str | Path) -> str:
    """Names the image features of one image model (its weights' checksum)."""
    return ModelCard.read(stem, "image").weights_sha256[:12]


def load_image_encoder(stem: str | Path, device: str = "cpu", expect_sha256: str = ""):
    """The image encoder of a checkpoint stem written by ``train_image_model`` (or any open_clip
    checkpoint with such a card), through the same loader a user's CLIP checkpoint takes.
    ``expect_sha256``: the weights a model trained on its features was trained with."""
    from .feature_encoders import ClipImageEncoder

    card = ModelCard.read(stem, "image")
    if expect_sha256 and card.weights_sha256 != expect_sha256:
        raise checkpoint.CheckpointError(f"{stem} is not the image model expected (SHA-256 {expect_sha256[:12]}...)")
    weights = Path(stem).with_suffix(".safetensors")
    if card.weights_sha256 and checkpoint.sha256(weights) != card.weights_sha256:
        raise checkpoint.CheckpointError(f"{weights} does not match its model card's SHA-256")
    config = card.model_config
    center = card.extra.get("feature_center")
    return ClipImageEncoder(
        weights, model_name=config["name"], model_config=config["open_clip"], device=device, center=center
    )


def image_encoder_of(weights_dir: str | Path, card: ModelCard, device: str = "cpu"):
    """The image encoder a capture model or captioner (``card``) was trained with, from the
    same weights folder; None when it takes no image."""
    if not card.image_backend:
        return None
    entry = card.initialised_from.get("image")
    if not entry:
        raise checkpoint.CheckpointError(f"{card.kind}: takes images but its card names no image model")
    return load_image_encoder(Path(weights_dir) / entry["file"], device, entry.get("sha256", ""))
