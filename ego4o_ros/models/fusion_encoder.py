"""Ego4o's multi-modal encoder: IMU + text + image tokens -> each part's motion latent.

Tokens: one *fused* token per model step (the VQ-VAE's 4-frame chunk: all five sites'
4 x 9 values and their presence flags, through a small MLP), one text token and one
image token, with sinusoidal step positions. A Transformer encoder mixes them; the
state of each step token gives, per body part, a continuous latent (the VQ-VAE
encoder's normalised pre-quantisation feature, which the decoder reads) and logits
over the part's codebook (training signal, confidence, and the captioner's codes).

Absent sensors are zeros with their presence flag False (the model is trained with
random masking); an absent text or image token is removed from attention with a key
padding mask, so what an absent input holds cannot change the output.

The loss (``encoder_loss``) sits beside the model: latent regression, label-smoothed
code cross-entropy, and feature + velocity losses through the decoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core import imu

IMU_VALUES = 9  # acc / 30 (3) + 6-D rotation (6)


@dataclass(frozen=True)
class EncoderConfig:
    d_model: int = 192
    layers: int = 4
    heads: int = 4
    ff: int = 512
    dropout: float = 0.1
    chunk: int = 4  # frames per step token = the VQ-VAE's downsampling
    text_dim: int = 384  # MiniLM sentence embeddings
    image_dim: int = 512  # open_clip image embeddings (ViT-B/32: 512; the bundled egocentric model: 256)
    # Camera frames per window the model was trained with (one token each, at its step):
    # the newest and then every ``steps / image_views`` steps back.
    image_views: int = 1
    # Loss weights (encoder_loss).
    latent_weight: float = 1.0
    code_weight: float = 0.1
    label_smoothing: float = 0.1
    feature_weight: float = 1.0
    velocity_weight: float = 0.5


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal position codes (..., dim) for integer positions (...)."""
    freqs = torch.exp(torch.arange(0, dim, 2, device=positions.device) * (-math.log(10000.0) / dim))
    angles = positions[..., None].float() * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FusionEncoder(nn.Module):
    def __init__(self, num_codes: tuple[int, ...], code_dim: int, config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config, self.code_dim = config, code_dim
        d = config.d_model
        step_inputs = config.chunk * imu.NUM_SITES * (IMU_VALUES + 1)
        self.step_embed = nn.Sequential(nn.Linear(step_inputs, d), nn.GELU(), nn.Linear(d, d))
        self.text_embed = nn.Linear(config.text_dim, d)
        self.image_embed = nn.Linear(config.image_dim, d)
        self.kind_embed = nn.Embedding(3, d)  # step, text, image
        layer = nn.TransformerEncoderLayer(
            d, config.heads, config.ff, config.dropout, batch_first=True, norm_first=True, activation="gelu"
        )
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.latent_heads = nn.ModuleList(nn.Linear(d, code_dim) for _ in num_codes)
        self.code_heads = nn.ModuleList(nn.Linear(d, n) for n in num_codes)

    def forward(
        self,
        imu_inputs: torch.Tensor,
        present: torch.Tensor,
        text: torch.Tensor | None = None,
        text_present: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        image_present: torch.Tensor | None = None,
        image_step: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """imu_inputs (B, T, 5, 9), present (B, T, 5) bool, text (B, text_dim), image
        (B, K, image_dim) (or (B, image_dim): K = 1) with their (B, K) presence, image_step
        (B, K) the step of the window each frame was taken in (default: the last) -> per
        part latents (B, code_dim, T') and code logits (B, T', codes), T' = T / chunk."""
        batch, frames, sites, _ = imu_inputs.shape
        steps, d = frames // self.config.chunk, self.config.d_model
        flags = present[..., None].to(imu_inputs.dtype)
        step_values = torch.cat([imu_inputs * flags, flags], dim=-1).reshape(batch, steps, -1)
        step_pos = sinusoid(torch.arange(steps, device=imu_inputs.device), d)
        step_tokens = self.step_embed(step_values) + step_pos + self.kind_embed.weight[0]

        zeros = torch.zeros(batch, dtype=torch.bool, device=imu_inputs.device)
        text_token = self.text_embed(text if text is not None else step_tokens.new_zeros(batch, self.config.text_dim))
        text_missing = ~(text_present if text is not None and text_present is not None else zeros)
        if image is None:  # one masked image token
            image, image_present = step_tokens.new_zeros(batch, 1, self.config.image_dim), zeros[:, None]
        elif image.dim() == 2:
            image = image[:, None]
            image_present = None if image_present is None else image_present[:, None]
            image_step = None if image_step is None else image_step[:, None]
        views = image.shape[1]
        if image_step is None:
            image_step = torch.full((batch, views), steps - 1, dtype=torch.long, device=imu_inputs.device)
        image_tokens = self.image_embed(image) + sinusoid(image_step, d) + self.kind_embed.weight[2]
        image_missing = ~(image_present if image_present is not None else zeros[:, None].expand(batch, views))
        tokens = torch.cat([step_tokens, (text_token + self.kind_embed.weight[1])[:, None], image_tokens], dim=1)
        missing = torch.cat(
            [
                torch.zeros(batch, steps, dtype=torch.bool, device=imu_inputs.device),
                text_missing[:, None],
                image_missing,
            ],
            dim=1,
        )
        # A float mask (-inf) rather than bool keeps the fused fast path and ONNX export simple.
        attention_mask = torch.zeros(missing.shape, device=imu_inputs.device).masked_fill(missing, float("-inf"))
        hidden = self.norm(self.transformer(tokens, src_key_padding_mask=attention_mask)[:, :steps])
        latents = [head(hidden).transpose(1, 2) for head in self.latent_heads]
        logits = [head(hidden) for head in self.code_heads]
        return latents, logits


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B, T, ...) over the rows where ``mask`` (B, T) holds (a float mask
    weighs the rows)."""
    mask = mask.to(values.dtype)
    per_row = values.flatten(2).mean(-1) if values.dim() > 2 else values
    return (per_row * mask).sum() / mask.sum().clamp(min=1)


def encoder_loss(
    latents: list[torch.Tensor],
    logits: list[torch.Tensor],
    decoded: torch.Tensor,
    target_latents: list[torch.Tensor],
    target_ids: torch.Tensor,
    features: torch.Tensor,
    valid: torch.Tensor,
    config: EncoderConfig,
    frame_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Losses of one batch. latents / target_latents per part (B, D, T'), logits per part
    (B, T', codes), target_ids (B, T', parts), decoded and features (B, T, 263)
    normalised, valid (B, T) bool; ``frame_weights`` (T,) weighs the window's frames (and
    their steps), e.g. the newest ones that online capture reports (``present_weights``)."""
    if frame_weights is not None:
        valid = valid.float() * frame_weights
    valid_steps = valid[:, :: config.chunk]
    latent = sum(
        masked_mean(F.mse_loss(z, t, reduction="none").transpose(1, 2), valid_steps)
        for z, t in zip(latents, target_latents)
    ) / len(latents)
    code = sum(
        masked_mean(
            F.cross_entropy(
                part_logits.transpose(1, 2),
                target_ids[..., p],
                reduction="none",
                label_smoothing=config.label_smoothing,
            ),
            valid_steps,
        )
        for p, part_logits in enumerate(logits)
    ) / len(logits)
    feature = masked_mean(F.smooth_l1_loss(decoded, features, reduction="none"), valid)
    velocity = masked_mean(
        F.smooth_l1_loss(decoded.diff(dim=1), features.diff(dim=1), reduction="none"), valid[:, 1:] * valid[:, :-1]
    )
    with torch.no_grad():
        accuracy = torch.stack(
            [(part_logits.argmax(-1) == target_ids[..., p]).float().mean() for p, part_logits in enumerate(logits)]
        ).mean()
    loss = (
        config.latent_weight * latent
        + config.code_weight * code
        + config.feature_weight * feature
        + config.velocity_weight * velocity
    )
    return {
        "loss": loss,
        "latent": latent.detach(),
        "code_ce": code.detach(),
        "feature": feature.detach(),
        "velocity": velocity.detach(),
        "code_accuracy": accuracy,
    }


def present_weights(frames: int, weight: float = 0.0, newest: int = 16) -> torch.Tensor | None:
    """(frames,) loss weights: 1, and ``1 + weight`` on the ``newest`` frames of the window,
    where online capture reports its poses (a look-ahead of 0-10 frames); None when 0."""
    if weight <= 0:
        return None
    weights = torch.ones(frames)
    weights[frames - newest :] += weight
    return weights
