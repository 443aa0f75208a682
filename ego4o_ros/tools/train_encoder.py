"""Training of the fusion encoder (on a frozen VQ-VAE) and of the LSTM peer baseline."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..core.dataset import MotionCache
from ..models.data import MaskingConfig, TrainingWindows, text_table
from ..models.feature_encoders import make_text_encoder
from ..models.fusion_encoder import EncoderConfig, FusionEncoder, code_loss, sample_codes
from ..models.lstm_baseline import BaselineConfig, LstmBaseline, feature_loss
from ..models.capture import load_vqvae
from .train import common_metadata, run_training


@torch.no_grad()
def precompute_codes(vqvae, windows: TrainingWindows, batch: int = 256) -> torch.Tensor:
    """The frozen VQ-VAE's code ids of every window (N, T', 6): the encoder's targets."""
    ids = [vqvae.encode(torch.from_numpy(windows.features[i:i + batch])) for i in range(0, len(windows), batch)]
    return torch.cat(ids)


def train_encoder(cache: MotionCache, model_cfg: dict, training: dict, out_dir: Path, vqvae_stem: Path,
                  progress: bool = True, text_backend: str = "minilm") -> Path:
    vqvae = load_vqvae(vqvae_stem)
    for p in vqvae.parameters():
        p.requires_grad_(False)
    config = EncoderConfig(**model_cfg)
    model = FusionEncoder(tuple(q.num_codes for q in vqvae.quantizers), config)
    windows = TrainingWindows(cache, "train", cache.normalizer(), text_table(cache, make_text_encoder(text_backend)))
    targets = precompute_codes(vqvae, windows)
    codebooks = [q.codebook for q in vqvae.quantizers]
    factor = vqvae.downsample_factor
    masking = MaskingConfig()

    def loss_fn(windows, index, rng):
        batch = windows.batch(index, rng, masking)
        logits = model(batch["imu"], batch["present"], batch["text"], batch["text_present"])
        valid_steps = batch["valid"][:, ::factor].float()
        ce = code_loss(logits, targets[index], valid_steps)
        recon = vqvae.decode_latents(sample_codes(logits, codebooks, tau=1.0))
        mask = batch["valid"][..., None].float()
        recon_loss = ((recon - batch["features"]) ** 2 * mask).sum() / (mask.sum() * recon.shape[-1])
        accuracy = torch.stack([(l.argmax(-1) == targets[index][..., i]).float().mean() for i, l in enumerate(logits)]).mean()
        return {"loss": ce + config.recon_weight * recon_loss, "code_ce": ce.detach(),
                "recon_mse": recon_loss.detach(), "code_accuracy": accuracy}

    metadata = {**common_metadata(cache), "model_config": asdict(config), "vqvae": Path(vqvae_stem).name,
                "num_codes": [q.num_codes for q in vqvae.quantizers], "text_backend": text_backend}
    return run_training("encoder", model, loss_fn, windows, training, out_dir, metadata, progress=progress)


def train_baseline(cache: MotionCache, model_cfg: dict, training: dict, out_dir: Path, progress: bool = True) -> Path:
    config = BaselineConfig(**model_cfg)
    model = LstmBaseline(config)
    windows = TrainingWindows(cache, "train", cache.normalizer())
    masking = MaskingConfig()

    def loss_fn(windows, index, rng):
        batch = windows.batch(index, rng, masking)
        return {"loss": feature_loss(model(batch["imu"], batch["present"]), batch["features"], batch["valid"])}

    return run_training("baseline", model, loss_fn, windows, training, out_dir,
                        {**common_metadata(cache), "model_config": asdict(config)}, progress=progress)
