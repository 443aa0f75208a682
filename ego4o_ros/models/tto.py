"""Optional test-time optimisation (Ego4o / release): refine the motion latents so the
decoded limbs point where the worn IMUs say they point.

For each worn site the segment carrying it (left forearm 18->20, right forearm 19->21,
thighs 1->4 / 2->5, head 12->15) must point along the sensor's orientation applied to
the segment's T-pose direction (the calibration pose). The part latents, started at the
chosen codes, and one yaw per window (the decoded motion faces +Z at its first frame,
the IMU window is in its sensor-heading frame) are optimised with L-BFGS on a
SmoothL1 loss between unit directions, plus a pull towards the starting latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.features import FeatureNormalizer
from .ego4o import Ego4oModel

# site -> (segment start joint, end joint, T-pose direction of the segment)
SITE_SEGMENTS = (
    (18, 20, (1.0, 0.0, 0.0)),
    (19, 21, (-1.0, 0.0, 0.0)),
    (1, 4, (0.0, -1.0, 0.0)),
    (2, 5, (0.0, -1.0, 0.0)),
    (12, 15, (0.0, 1.0, 0.0)),
)


@dataclass(frozen=True)
class TtoConfig:
    iterations: int = 50
    lr: float = 0.5
    latent_weight: float = 0.01


def yaw_rotate(v: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate vectors (..., 3) about +Y by ``angle`` (broadcast over the leading dims)."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([c * v[..., 0] + s * v[..., 2], v[..., 1], -s * v[..., 0] + c * v[..., 2]], dim=-1)


def joints_relative_to_root(features: torch.Tensor) -> torch.Tensor:
    """Differentiable ``joints_from_features`` without the root's horizontal travel:
    (B, T, 263) -> (B, T, 22, 3), root at x = z = 0, in the first frame's facing."""
    half_yaw = torch.cumsum(F.pad(features[..., :-1, 0], (1, 0)), dim=-1)
    ric = features[..., 4:67].unflatten(-1, (21, 3))
    local = yaw_rotate(ric, -2 * half_yaw[..., None])
    root = F.pad(features[..., 3:4], (1, 1))[..., None, :]
    return torch.cat([root, local], dim=-2)


def cont6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Torch twin of ``core.rotations.cont6d_to_matrix`` (Gram-Schmidt on two columns)."""
    a = F.normalize(d6[..., 0:3], dim=-1)
    b = F.normalize(d6[..., 3:6] - (a * d6[..., 3:6]).sum(-1, keepdim=True) * a, dim=-1)
    return torch.stack([a, b, torch.cross(a, b, dim=-1)], dim=-1)


def sensor_directions(imu_inputs: torch.Tensor) -> torch.Tensor:
    """Where each site's segment should point (B, T, 5, 3), from the 6-D rotations."""
    ori = cont6d_to_matrix(imu_inputs[..., 3:9])
    tpose = torch.tensor([d for _, _, d in SITE_SEGMENTS], dtype=imu_inputs.dtype)
    return torch.einsum("btsij,sj->btsi", ori, tpose)


class TestTimeOptimizer:
    def __init__(self, model: Ego4oModel, normalizer: FeatureNormalizer, config: TtoConfig = TtoConfig()):
        self.model, self.config = model, config
        self.mean = torch.as_tensor(normalizer.mean, dtype=torch.float32)
        self.std = torch.as_tensor(normalizer.std, dtype=torch.float32)

    def limb_directions(self, normalised: torch.Tensor) -> torch.Tensor:
        joints = joints_relative_to_root(normalised * self.std + self.mean)
        segments = [joints[..., b, :] - joints[..., a, :] for a, b, _ in SITE_SEGMENTS]
        return F.normalize(torch.stack(segments, dim=-2), dim=-1)

    def refine(
        self, imu_inputs, present, text=None, text_present=None, image=None, image_present=None, image_step=None
    ) -> tuple[torch.Tensor, float]:
        """Window inputs as for ``Ego4oModel`` -> (refined normalised features, final loss)."""
        imu_inputs = torch.as_tensor(imu_inputs, dtype=torch.float32)
        present = torch.as_tensor(present, dtype=torch.bool)
        with torch.no_grad():
            start, _ = self.model.encoder(imu_inputs, present, text, text_present, image, image_present, image_step)
            target = sensor_directions(imu_inputs)
            initial = self.limb_directions(self.model.decode(start))
            # Yaw that best turns the decoded horizontal directions onto the sensors'.
            weight = present[..., None].float()
            cross = (initial[..., 2] * target[..., 0] - initial[..., 0] * target[..., 2])[..., None] * weight
            dot = (initial[..., 0] * target[..., 0] + initial[..., 2] * target[..., 2])[..., None] * weight
            yaw0 = torch.atan2(cross.sum((1, 2, 3)), dot.sum((1, 2, 3)))
        latents = [z.contiguous().clone().requires_grad_(True) for z in start]
        yaw = yaw0.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            latents + [yaw], lr=self.config.lr, max_iter=self.config.iterations, line_search_fn="strong_wolfe"
        )
        mask = present.float()

        def objective():
            directions = yaw_rotate(self.limb_directions(self.model.decode(latents)), yaw[:, None, None])
            error = F.smooth_l1_loss(directions, target, reduction="none", beta=0.1).sum(-1)
            loss = (error * mask).sum() / mask.sum().clamp(min=1)
            return loss + self.config.latent_weight * sum(F.mse_loss(z, s) for z, s in zip(latents, start))

        def closure():
            optimizer.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            return self.model.decode(latents), float(objective())
