"""Train the models: ``ego4o-train {vqvae,encoder,baseline}``.

Resumable (a training state is saved every ``--save-every`` steps and picked up on the
next run), with a progress bar and a JSON-lines log of the losses; the result is written
as ``<out>/<kind>.safetensors`` + ``<out>/<kind>.json`` (see ``models/checkpoint.py``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from ..core import body, imu
from ..core.dataset import MotionCache
from ..models import checkpoint
from ..models.data import MaskingConfig, TrainingWindows
from ..models.part_vqvae import PartVQVAE, VqvaeConfig
from . import build_dataset

DEFAULT_CONFIG = build_dataset.PROJECT_ROOT / "config" / "train.yaml"
DATA_LICENCE = "trained on Bandai-Namco Research Motion datasets (CC BY-NC 4.0): non-commercial use only"


def read_section(path: Path, kind: str) -> tuple[dict, dict]:
    section = (yaml.safe_load(Path(path).read_text()) or {}).get(kind, {})
    return section.get("model", {}), section.get("training", {})


def common_metadata(cache: MotionCache) -> dict:
    normalizer = cache.normalizer()
    return {"fps": cache.config.fps, "window": cache.config.window, "sites": list(imu.IMU_SITES),
            "parts": list(body.PART_NAMES), "feature_mean": normalizer.mean.tolist(),
            "feature_std": normalizer.std.tolist(), "dataset": asdict(cache.config),
            "units": {"imu_acc": "m/s^2 world, gravity included, / 30 at the input",
                      "imu_ori": "world-from-sensor, identity in the T-pose", "features": "HumanML3D 263, normalised",
                      "frames": "body frame: metres, Y up, facing +Z"},
            "licence": DATA_LICENCE}


def learning_rate(step: int, base: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def run_training(kind: str, model: torch.nn.Module, loss_fn, windows: TrainingWindows, training: dict,
                 out_dir: Path, metadata: dict, save_every: int = 200, progress: bool = True) -> Path:
    """The loop every model shares: sample, step, log, save state, resume."""
    steps, batch, lr = int(training.get("steps", 1000)), int(training.get("batch", 64)), float(training.get("lr", 3e-4))
    warmup = int(training.get("warmup", 100))
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = out_dir / f"{kind}.state.pt", out_dir / f"{kind}.log.jsonl"
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=1e-4)
    step = 0
    if state_path.exists():
        step, _ = checkpoint.load_training_state(state_path, model, optimizer)
        tqdm.write(f"resuming {kind} from step {step} ({state_path})", file=sys.stderr)
    rng = np.random.default_rng([int(training.get("seed", 0)), step])
    model.train()
    started = time.monotonic()
    with log_path.open("a", buffering=1) as log, tqdm(total=steps, initial=step, desc=kind, disable=not progress,
                                          file=sys.stderr, dynamic_ncols=True) as bar:
        while step < steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, lr, warmup, steps)
            losses = loss_fn(windows, rng.integers(0, len(windows), batch), rng)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            step += 1
            bar.update()
            if step % 20 == 0 or step == steps:
                record = {"step": step, "lr": optimizer.param_groups[0]["lr"],
                          "seconds": round(time.monotonic() - started, 1),
                          **{k: round(float(v.detach()), 5) for k, v in losses.items()}}
                log.write(json.dumps(record) + "\n")
                bar.set_postfix(loss=f"{record['loss']:.4f}")
            if step % save_every == 0 or step == steps:
                checkpoint.save_training_state(state_path, model, optimizer, step)
                log.flush()
    model.eval()
    return checkpoint.save_checkpoint(out_dir / kind, model, {"kind": kind, **metadata,
                                                               "training": {**training, "steps_done": step}})


# ---------------------------------------------------------------- per model
def train_vqvae(cache: MotionCache, model_cfg: dict, training: dict, out_dir: Path, progress=True) -> Path:
    config = VqvaeConfig(**model_cfg)
    model = PartVQVAE(config)
    windows = TrainingWindows(cache, "train", cache.normalizer())

    def loss_fn(windows, index, rng):
        batch = windows.batch(index, rng, MaskingConfig())
        _, _, losses = model(batch["features"], batch["valid"])
        usage = sum(q.usage() for q in model.quantizers) / len(model.quantizers)
        return {**losses, "code_usage": torch.tensor(usage)}

    return run_training("vqvae", model, loss_fn, windows, training, out_dir,
                        {**common_metadata(cache), "model_config": asdict(config)}, progress=progress)


def fit_captioner(cache: MotionCache, out_dir: Path, vqvae_stem: Path) -> Path:
    """The code-histogram captioner over the training windows' VQ-VAE codes."""
    from ..models.capture import load_vqvae
    from ..models.code_captioner import CodeCaptioner
    from .train_encoder import precompute_codes
    vqvae = load_vqvae(vqvae_stem)
    windows = TrainingWindows(cache, "train", cache.normalizer())
    rng = np.random.default_rng(0)
    texts = [str(rng.choice(windows.descriptions[c])) for c in windows.clip_index]
    captioner = CodeCaptioner.fit(precompute_codes(vqvae, windows).numpy(), texts,
                                  [q.num_codes for q in vqvae.quantizers])
    captioner.save(out_dir / "captioner")
    return (out_dir / "captioner").with_suffix(".safetensors")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["vqvae", "encoder", "baseline", "captioner"])
    parser.add_argument("--cache", type=Path, default=build_dataset.default_cache_dir())
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints and logs")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--steps", type=int, help="override the config's step count")
    parser.add_argument("--vqvae", type=Path, help="trained VQ-VAE (stem) for the encoder")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cache = MotionCache(args.cache)
    model_cfg, training = read_section(args.config, args.kind)
    if args.steps:
        training = {**training, "steps": args.steps}
    started = time.monotonic()
    if args.kind == "vqvae":
        path = train_vqvae(cache, model_cfg, training, args.out, progress=not args.quiet)
    elif args.kind == "captioner":
        if args.vqvae is None:
            parser.error("captioner fitting needs --vqvae STEM")
        path = fit_captioner(cache, args.out, args.vqvae)
    elif args.kind == "encoder":
        from .train_encoder import train_encoder
        if args.vqvae is None:
            parser.error("encoder training needs --vqvae STEM")
        path = train_encoder(cache, model_cfg, training, args.out, args.vqvae, progress=not args.quiet)
    else:
        from .train_encoder import train_baseline
        path = train_baseline(cache, model_cfg, training, args.out, progress=not args.quiet)
    print(f"{args.kind}: {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
