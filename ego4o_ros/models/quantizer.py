"""Vector quantiser with an EMA codebook and dead-code reset (VQ-VAE-2 / T2M-GPT style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EmaQuantizer(nn.Module):
    """Nearest-code quantisation of (B, D, T) features; the codebook follows an EMA of
    the features assigned to each code, and codes that fall out of use are re-seeded
    from the current batch."""

    def __init__(self, num_codes: int, code_dim: int, decay: float = 0.99, dead_code_threshold: float = 1.0):
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.decay, self.dead_code_threshold = decay, dead_code_threshold
        self.register_buffer("codebook", torch.randn(num_codes, code_dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(num_codes))
        self.register_buffer("code_sum", self.codebook.clone())

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, T) -> code ids (B, T)."""
        flat = z.permute(0, 2, 1).reshape(-1, self.code_dim)
        distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        return distance.argmin(1).view(z.shape[0], z.shape[2])

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Code ids (B, T) -> (B, D, T)."""
        return F.embedding(ids, self.codebook).permute(0, 2, 1)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        one_hot = F.one_hot(ids, self.num_codes).type(flat.dtype)
        self.cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        self.code_sum.mul_(self.decay).add_(one_hot.t() @ flat, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (total + self.num_codes * 1e-5) * total
        self.codebook.copy_(self.code_sum / smoothed[:, None])
        dead = self.cluster_size < self.dead_code_threshold
        if dead.any():
            picks = flat[torch.randint(0, len(flat), (int(dead.sum()),), device=flat.device)]
            self.codebook[dead] = picks
            self.code_sum[dead] = picks
            self.cluster_size[dead] = 1.0

    def forward(self, z: torch.Tensor):
        """(B, D, T) -> (straight-through quantised (B, D, T), ids (B, T), commitment loss)."""
        ids = self.indices(z)
        quantized = self.lookup(ids)
        if self.training:
            self._update(z.permute(0, 2, 1).reshape(-1, self.code_dim).detach(), ids.view(-1))
        commitment = F.mse_loss(z, quantized.detach())
        return z + (quantized - z).detach(), ids, commitment

    def usage(self) -> float:
        """Share of codes in use (EMA count above the dead-code threshold)."""
        return float((self.cluster_size >= self.dead_code_threshold).float().mean())
