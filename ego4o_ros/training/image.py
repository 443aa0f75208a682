"""Training the default image encoder (``models/image_model.py``) CLIP-style on the
cache's rendered egocentric views, with its auxiliary camera-frame pose head, and the
cached image features that the capture model and the LM captioner train on."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..core import mirror
from ..core.camera_views import IMAGE_CAMERA
from ..core.dataset import MotionCache
from ..models import checkpoint
from ..models.checkpoint import ModelCard
from ..models.feature_encoders import clip_pixels
from ..models.image_model import POSE_SCALE_M, TOWERS, ImageModelConfig, create_clip, image_tag, load_image_encoder
from ..readers import bandai
from .data import mirror_text
from .image_cache import encode_cache_images, features_path, load_image_features, load_views


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
    cache: MotionCache, model_cfg: dict, training: dict, out_dir: Path, progress: bool = True, session=None
) -> Path:
    """CLIP-style training on the cache's rendered views; writes ``<out>/image.safetensors``
    (the open_clip model, loadable by ``ClipImageEncoder``) and its card, then encodes
    every view into the cache's image features (rank 0 of a torchrun run: ``session``)."""
    import open_clip

    from ..training.distributed import Session
    from ..training.loop import run_training

    session = session or Session()
    device = session.device

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
        pixels = clip_pixels(frames, model.clip.visual.preprocess_cfg).to(device)
        image = model.centred(model.clip.encode_image(pixels, normalize=True), track=True)
        text = model.centred(
            model.clip.encode_text(torch.stack([tokens[t] for t in chosen]).to(device), normalize=True)
        )
        groups = table.group[table.take[index]]
        contrastive = contrastive_loss(image, text, model.clip.logit_scale.exp().clamp(max=100), groups)
        target = torch.from_numpy((pose / POSE_SCALE_M).reshape(len(index), -1)).float().to(device)
        predicted = model.pose_head(image * 16.0)  # unit-norm features scaled to a usable range
        pose_loss = F.smooth_l1_loss(predicted, target, beta=config.pose_beta)
        with torch.no_grad():
            top1 = (image @ text.t()).argmax(1).cpu().numpy()
            error_mm = (predicted - target).view(len(index), 22, 3).norm(dim=-1).mean() * POSE_SCALE_M * 1000
        return {
            "loss": contrastive + config.pose_weight * pose_loss,
            "contrastive": contrastive.detach(),
            "pose": pose_loss.detach(),
            "pose_mm": error_mm,
            "text_top1": torch.tensor(float(np.mean(groups[top1] == groups)), device=device),
        }

    card = ModelCard.for_cache(
        cache,
        "image",
        {"open_clip": TOWERS[config.vision], **asdict(config)},
        {"camera": asdict(IMAGE_CAMERA)},
        image_backend="clip",
    )
    run_training("image_train", model, loss_fn, len(table), training, out_dir, card, progress=progress, session=session)
    if not session.is_main:
        return out_dir / "image.safetensors"
    model.cpu()
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


def cached_features(
    stem: str | Path, cache: MotionCache, progress: bool = True
) -> tuple[int, dict[str, np.ndarray], dict]:
    """What a model trained on image model ``stem``'s views needs: the feature size, every
    cached view's features (per clip; encoded with that model once, on first use, e.g. the
    bundled image model on a freshly built cache), and the card entry naming the image model."""
    card = ModelCard.read(stem, "image")
    if not features_path(cache.folder, image_tag(stem)).exists():
        encode_cache_images(cache.folder, load_image_encoder(stem), image_tag(stem), progress=progress)
    table = load_image_features(cache.folder, card.weights_sha256[:12])
    entry = {"file": Path(stem).name, "sha256": card.weights_sha256}
    return int(card.model_config["open_clip"]["embed_dim"]), table, entry
