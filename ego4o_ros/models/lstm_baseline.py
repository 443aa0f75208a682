"""IMUPoser-style peer baseline: a 2-layer bidirectional LSTM from IMU frames to features.

Same inputs as Ego4o (five sites x 9 values, absent sites zeroed, plus the presence
flags) and the same output representation (normalised 263-dim HumanML3D features), so
the two are compared on equal terms. IMUPoser uses hidden 512 at 25 fps; the size is
config here so both models get the same CPU budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core import body, imu
from .fusion_encoder import IMU_VALUES


@dataclass(frozen=True)
class BaselineConfig:
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.1


class LstmBaseline(nn.Module):
    def __init__(self, config: BaselineConfig = BaselineConfig()):
        super().__init__()
        self.config = config
        inputs = imu.NUM_SITES * (IMU_VALUES + 1)
        self.inp = nn.Sequential(nn.Linear(inputs, config.hidden), nn.ReLU())
        self.lstm = nn.LSTM(
            config.hidden, config.hidden, config.layers, batch_first=True, bidirectional=True, dropout=config.dropout
        )
        self.out = nn.Linear(2 * config.hidden, body.FEATURE_DIM)

    def forward(self, imu_inputs: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """imu_inputs (B, T, 5, 9), present (B, T, 5) -> normalised features (B, T, 263)."""
        x = torch.cat([imu_inputs * present[..., None], present[..., None].to(imu_inputs)], dim=-1)
        hidden, _ = self.lstm(self.inp(x.flatten(2)))
        return self.out(hidden)


def feature_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    velocity_weight: float = 0.5,
    frame_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The same feature + velocity terms (and frame weights) as the Ego4o encoder's loss (a
    fair comparison)."""
    from .fusion_encoder import masked_mean

    if frame_weights is not None:
        valid = valid.float() * frame_weights
    feature = masked_mean(F.smooth_l1_loss(predicted, target, reduction="none"), valid)
    velocity = masked_mean(
        F.smooth_l1_loss(predicted.diff(dim=1), target.diff(dim=1), reduction="none"), valid[:, 1:] * valid[:, :-1]
    )
    return {"loss": feature + velocity_weight * velocity, "feature": feature.detach(), "velocity": velocity.detach()}
