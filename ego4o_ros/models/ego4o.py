"""The Ego4o capture model: fusion encoder -> part latents -> part decoder -> motion.

``Ego4oModel`` holds the multi-modal ``FusionEncoder``, the part decoder (initialised
from the trained part VQ-VAE and trained further with the encoder) and the VQ-VAE's
six codebooks (frozen). Motion is decoded from the predicted *continuous* part
latents; each part's code (for the captioner) is the codebook entry nearest to its
latent, and its confidence the encoder's probability of that code.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from . import checkpoint
from .fusion_encoder import EncoderConfig, FusionEncoder
from .part_vqvae import PartVQVAE, VqvaeConfig, part_decoder


class Ego4oModel(nn.Module):
    def __init__(
        self,
        encoder_config: EncoderConfig = EncoderConfig(),
        vqvae_config: VqvaeConfig = VqvaeConfig(),
        num_parts: int = 6,
    ):
        super().__init__()
        self.encoder_config, self.vqvae_config = encoder_config, vqvae_config
        num_codes = (vqvae_config.num_codes,) * num_parts
        self.encoder = FusionEncoder(num_codes, vqvae_config.code_dim, encoder_config)
        self.decoder = part_decoder(vqvae_config)
        self.register_buffer("codebooks", torch.zeros(num_parts, vqvae_config.num_codes, vqvae_config.code_dim))

    @classmethod
    def from_vqvae(cls, vqvae: PartVQVAE, encoder_config: EncoderConfig = EncoderConfig()) -> Ego4oModel:
        """A fresh encoder on a trained VQ-VAE's decoder and codebooks."""
        model = cls(encoder_config, vqvae.config, len(vqvae.quantizers))
        model.decoder.load_state_dict(vqvae.decoder.state_dict())
        model.codebooks.copy_(torch.stack([q.codebook for q in vqvae.quantizers]))
        return model

    @property
    def downsample_factor(self) -> int:
        return 2**self.vqvae_config.downsamples

    def decode(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Per part (B, code_dim, T') -> normalised features (B, T, 263)."""
        return self.decoder(torch.cat(latents, dim=1)).transpose(1, 2)

    def nearest_codes(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Per part (B, code_dim, T') -> ids of the nearest codebook entries (B, T', parts)."""
        # Squared distances spelled out (not cdist) so the ONNX export stays plain matmuls.
        ids = [
            (book.pow(2).sum(-1) - 2 * (z.transpose(1, 2) @ book.t())).argmin(-1)
            for z, book in zip(latents, self.codebooks)
        ]
        return torch.stack(ids, dim=-1)

    def forward(
        self, imu_inputs, present, text=None, text_present=None, image=None, image_present=None, image_step=None
    ):
        """Window inputs (see ``FusionEncoder.forward``) -> normalised features (B, T, 263),
        code ids (B, T', parts) and per-part confidence (B, T', parts)."""
        latents, logits = self.encoder(imu_inputs, present, text, text_present, image, image_present, image_step)
        ids = self.nearest_codes(latents)
        probabilities = [part.softmax(-1) for part in logits]
        confidence = torch.stack([p.gather(-1, ids[..., i : i + 1])[..., 0] for i, p in enumerate(probabilities)], -1)
        return self.decode(latents), ids, confidence

    def config_dict(self) -> dict:
        return {
            "encoder": asdict(self.encoder_config),
            "vqvae": asdict(self.vqvae_config),
            "num_parts": int(self.codebooks.shape[0]),
        }

    @classmethod
    def load(cls, stem: str | Path) -> tuple[Ego4oModel, checkpoint.ModelCard]:
        card = checkpoint.ModelCard.read(stem, "ego4o")
        config = card.model_config
        model = cls(EncoderConfig(**config["encoder"]), VqvaeConfig(**config["vqvae"]), config["num_parts"])
        return checkpoint.load_weights(stem, model, card).eval(), card
