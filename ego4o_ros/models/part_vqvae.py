"""Part-aware VQ-VAE (Ego4o / TLControl): six body-part encoders and codebooks, one decoder.

Input: normalised HumanML3D features (B, T, 263). Each part (``core.body.BODY_PARTS``)
reads its own dims, is encoded to (B, code_dim, T/4), normalised and quantised with
its own codebook; the decoder reads the six quantised maps together and returns the
whole 263-dim sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import body
from ..core.features import FeatureNormalizer
from .conv1d import conv_decoder, conv_encoder
from .quantizer import EmaQuantizer

PART_DIMS = tuple(len(body.PART_FEATURE_INDICES[p]) for p in body.PART_NAMES)


@dataclass(frozen=True)
class VqvaeConfig:
    width: int = 128
    depth: int = 2  # residual blocks per resolution
    code_dim: int = 64
    num_codes: int = 128  # per part
    downsamples: int = 2  # T' = T / 4
    commitment: float = 0.02
    velocity_weight: float = 0.5


def part_decoder(config: VqvaeConfig) -> nn.Sequential:
    """The shared decoder: six part latents concatenated (B, 6 * code_dim, T') -> (B, 263, T)."""
    return conv_decoder(
        len(PART_DIMS) * config.code_dim, config.width, body.FEATURE_DIM, config.downsamples, config.depth
    )


class PartVQVAE(nn.Module):
    def __init__(self, config: VqvaeConfig = VqvaeConfig()):
        super().__init__()
        self.config = config
        for name in body.PART_NAMES:
            self.register_buffer(f"dims_{name}", torch.as_tensor(body.PART_FEATURE_INDICES[name]), persistent=False)
        self.encoders = nn.ModuleList(
            conv_encoder(d, config.width, config.code_dim, config.downsamples, config.depth) for d in PART_DIMS
        )
        self.quantizers = nn.ModuleList(EmaQuantizer(config.num_codes, config.code_dim) for _ in PART_DIMS)
        self.decoder = part_decoder(config)

    @property
    def downsample_factor(self) -> int:
        return 2**self.config.downsamples

    def encode_parts(self, features: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 263) -> per part continuous latents (B, code_dim, T')."""
        latents = []
        for i, name in enumerate(body.PART_NAMES):
            part = features[..., getattr(self, f"dims_{name}")].transpose(1, 2)
            z = self.encoders[i](part)
            latents.append(F.layer_norm(z.transpose(1, 2), (self.config.code_dim,)).transpose(1, 2))
        return latents

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, 263) -> code ids (B, T', 6)."""
        latents = self.encode_parts(features)
        return torch.stack([q.indices(z) for q, z in zip(self.quantizers, latents)], dim=-1)

    def decode_latents(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Per part (B, code_dim, T') -> features (B, T, 263)."""
        return self.decoder(torch.cat(latents, dim=1)).transpose(1, 2)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Code ids (B, T', 6) -> features (B, T, 263)."""
        return self.decode_latents([q.lookup(ids[..., i]) for i, q in enumerate(self.quantizers)])

    def forward(self, features: torch.Tensor, valid: torch.Tensor | None = None):
        """Training pass: (reconstruction (B, T, 263), ids (B, T', 6), loss dict)."""
        quantized, ids, commitment = [], [], 0.0
        for quantizer, z in zip(self.quantizers, self.encode_parts(features)):
            zq, part_ids, part_commitment = quantizer(z)
            quantized.append(zq)
            ids.append(part_ids)
            commitment = commitment + part_commitment
        recon = self.decode_latents(quantized)
        mask = torch.ones_like(features[..., :1]) if valid is None else valid[..., None].to(features)
        recon_loss = (F.smooth_l1_loss(recon, features, reduction="none") * mask).sum() / (
            mask.sum() * features.shape[-1]
        )
        velocity_loss = (
            F.smooth_l1_loss(recon.diff(dim=1), features.diff(dim=1), reduction="none") * mask[:, 1:]
        ).sum() / (mask[:, 1:].sum() * features.shape[-1])
        loss = recon_loss + self.config.velocity_weight * velocity_loss + self.config.commitment * commitment
        return (
            recon,
            torch.stack(ids, dim=-1),
            {"loss": loss, "recon": recon_loss, "velocity": velocity_loss, "commitment": commitment},
        )


@torch.no_grad()
def window_codes(vqvae: PartVQVAE, features: np.ndarray, normalizer: FeatureNormalizer | None = None) -> np.ndarray:
    """The VQ-VAE's code ids of a batch of windows: features (B, W, 263) -> (B, W', parts).
    ``features`` are normalised, or raw with the ``normalizer`` the VQ-VAE was trained with.
    The one place codes of windows are computed (evaluation, captioner training, live)."""
    if normalizer is not None:
        features = normalizer.normalize(features)
    return vqvae.encode(torch.from_numpy(np.ascontiguousarray(features, np.float32))).numpy()
