"""Ego4o's multi-modal encoder: IMU + text + image tokens -> per-part code logits.

Tokens: one per (4-frame chunk, IMU site) (4 frames x 9 values -> d), one text token,
one image token, and one query per output step T'. A Transformer encoder mixes them;
each query's state gives logits over every part's codebook. Absent inputs (sites not
worn, sensors gone mid-window, no text, no image) are removed from attention with a
key padding mask, so what an absent input holds cannot change the output.
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
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    ff: int = 512
    dropout: float = 0.1
    chunk: int = 4            # frames per IMU token = the VQ-VAE's downsampling
    text_dim: int = 384       # MiniLM sentence embeddings
    image_dim: int = 512      # CLIP ViT-B/32 image embeddings
    recon_weight: float = 1.0


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal position codes (..., dim) for integer positions (...)."""
    freqs = torch.exp(torch.arange(0, dim, 2, device=positions.device) * (-math.log(10000.0) / dim))
    angles = positions[..., None].float() * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FusionEncoder(nn.Module):
    def __init__(self, num_codes: tuple[int, ...], config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config = config
        d = config.d_model
        self.imu_embed = nn.Linear(config.chunk * IMU_VALUES, d)
        self.site_embed = nn.Embedding(imu.NUM_SITES, d)
        self.text_embed = nn.Linear(config.text_dim, d)
        self.image_embed = nn.Linear(config.image_dim, d)
        self.kind_embed = nn.Embedding(4, d)  # imu, text, image, query
        self.query = nn.Parameter(torch.zeros(d))
        layer = nn.TransformerEncoderLayer(d, config.heads, config.ff, config.dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleList(nn.Linear(d, n) for n in num_codes)

    def forward(self, imu_inputs: torch.Tensor, present: torch.Tensor,
                text: torch.Tensor | None = None, text_present: torch.Tensor | None = None,
                image: torch.Tensor | None = None, image_present: torch.Tensor | None = None) -> list[torch.Tensor]:
        """imu_inputs (B, T, 5, 9), present (B, T, 5) bool, text (B, text_dim), image
        (B, image_dim) with their (B,) presence -> per part logits (B, T/chunk, codes)."""
        batch, frames, sites, _ = imu_inputs.shape
        steps, chunk, d = frames // self.config.chunk, self.config.chunk, self.config.d_model
        x = (imu_inputs * present[..., None]).view(batch, steps, chunk, sites, IMU_VALUES)
        x = x.permute(0, 1, 3, 2, 4).reshape(batch, steps, sites, chunk * IMU_VALUES)
        step_pos = sinusoid(torch.arange(steps, device=x.device), d)
        imu_tokens = self.imu_embed(x) + self.site_embed.weight[None, None] + step_pos[None, :, None]
        imu_tokens = imu_tokens.reshape(batch, steps * sites, d) + self.kind_embed.weight[0]
        imu_missing = ~present.view(batch, steps, chunk, sites).any(dim=2).reshape(batch, steps * sites)

        text_token = self.text_embed(text if text is not None else imu_tokens.new_zeros(batch, self.config.text_dim))
        image_token = self.image_embed(image if image is not None else imu_tokens.new_zeros(batch, self.config.image_dim))
        no = torch.zeros(batch, dtype=torch.bool, device=x.device)
        text_missing = ~(text_present if text is not None and text_present is not None else no)
        image_missing = ~(image_present if image is not None and image_present is not None else no)
        queries = (self.query + step_pos + self.kind_embed.weight[3]).expand(batch, steps, d)

        tokens = torch.cat([imu_tokens, (text_token + self.kind_embed.weight[1])[:, None],
                            (image_token + self.kind_embed.weight[2])[:, None], queries], dim=1)
        missing = torch.cat([imu_missing, text_missing[:, None], image_missing[:, None],
                             torch.zeros(batch, steps, dtype=torch.bool, device=x.device)], dim=1)
        # A float mask (-inf) rather than bool keeps the fused fast path and ONNX export simple.
        attention_mask = torch.zeros(missing.shape, device=x.device).masked_fill(missing, float("-inf"))
        hidden = self.norm(self.transformer(tokens, src_key_padding_mask=attention_mask)[:, -steps:])
        return [head(hidden) for head in self.heads]


def code_loss(logits: list[torch.Tensor], target_ids: torch.Tensor, valid_steps: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over parts and valid steps; target_ids (B, T', parts)."""
    total = 0.0
    for part, part_logits in enumerate(logits):
        ce = F.cross_entropy(part_logits.transpose(1, 2), target_ids[..., part], reduction="none")
        total = total + (ce * valid_steps).sum() / valid_steps.sum().clamp(min=1)
    return total / len(logits)


def sample_codes(logits: list[torch.Tensor], codebooks: list[torch.Tensor], tau: float = 1.0,
                 hard: bool = True) -> list[torch.Tensor]:
    """Differentiable code choice (Gumbel-softmax) -> per part latents (B, code_dim, T')."""
    return [(F.gumbel_softmax(l, tau=tau, hard=hard) @ cb).transpose(1, 2) for l, cb in zip(logits, codebooks)]
