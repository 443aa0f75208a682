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

from dataclasses import dataclass
from pathlib import Path

from . import checkpoint
from .checkpoint import ModelCard

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
