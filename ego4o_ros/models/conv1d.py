"""1-D convolutional encoder/decoder stacks with dilated residual blocks (T2M-GPT style)."""

from __future__ import annotations

from torch import nn


class ResidualStack(nn.Sequential):
    """Dilated residual conv blocks (dilation grows by ``growth`` per block)."""

    def __init__(self, width: int, depth: int, growth: int = 3):
        super().__init__(*[_Residual(width, growth**i) for i in range(depth)])


class _Residual(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation),
            nn.ReLU(),
            nn.Conv1d(width, width, 1),
        )

    def forward(self, x):
        return x + self.block(x)


def conv_encoder(in_dim: int, width: int, out_dim: int, downsamples: int, depth: int) -> nn.Sequential:
    """(B, in_dim, T) -> (B, out_dim, T / 2**downsamples)."""
    layers = [nn.Conv1d(in_dim, width, 3, padding=1), nn.ReLU()]
    for _ in range(downsamples):
        layers += [nn.Conv1d(width, width, 4, stride=2, padding=1), ResidualStack(width, depth)]
    return nn.Sequential(*layers, nn.Conv1d(width, out_dim, 3, padding=1))


def conv_decoder(in_dim: int, width: int, out_dim: int, upsamples: int, depth: int) -> nn.Sequential:
    """(B, in_dim, T') -> (B, out_dim, T' * 2**upsamples)."""
    layers = [nn.Conv1d(in_dim, width, 3, padding=1), nn.ReLU()]
    for _ in range(upsamples):
        layers += [
            ResidualStack(width, depth),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv1d(width, width, 3, padding=1),
        ]
    return nn.Sequential(*layers, nn.ReLU(), nn.Conv1d(width, out_dim, 3, padding=1))
