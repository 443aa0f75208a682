"""The training loop every model but the language-model captioner shares (``run_training``).

Sample a batch, step, log, save a resumable state every ``save_every`` steps; an
interrupted run resumes where it stopped. The result is ``<out>/<kind>.safetensors`` +
its model card ``<out>/<kind>.json``, and ``<out>/<kind>.log.jsonl`` holds the losses.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..models import checkpoint
from ..models.checkpoint import ModelCard
from .schedule import learning_rate


def run_training(
    kind: str,
    model: torch.nn.Module,
    loss_fn,
    num_windows: int,
    training: dict,
    out_dir: Path,
    card: ModelCard,
    param_groups: list[dict] | None = None,
    save_every: int = 200,
    progress: bool = True,
) -> Path:
    """The loop every model shares: sample, step, log, save state, resume.

    ``param_groups``: optimizer groups, each may carry ``lr_scale`` (default: all
    trainable parameters at the base rate)."""
    steps, batch, lr = int(training.get("steps", 1000)), int(training.get("batch", 64)), float(training.get("lr", 3e-4))
    warmup = int(training.get("warmup", 100))
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = out_dir / f"{kind}.state.pt", out_dir / f"{kind}.log.jsonl"
    groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
    trainable = [p for g in optimizer.param_groups for p in g["params"]]
    step, seconds_before = 0, 0.0
    if state_path.exists():
        step, extra = checkpoint.load_training_state(state_path, model, optimizer)
        seconds_before = float(extra.get("seconds", 0.0))
        tqdm.write(f"resuming {kind} from step {step} ({state_path})", file=sys.stderr)
    rng = np.random.default_rng([int(training.get("seed", 0)), step])
    torch.manual_seed(int(training.get("seed", 0)) + step)
    model.train()
    started = time.monotonic()
    with (
        log_path.open("a", buffering=1) as log,
        tqdm(total=steps, initial=step, desc=kind, disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar,
    ):
        while step < steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, lr, warmup, steps) * group.get("lr_scale", 1.0)
            losses = loss_fn(rng.integers(0, num_windows, batch), rng)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            step += 1
            bar.update()
            seconds = seconds_before + time.monotonic() - started
            if step % 20 == 0 or step == steps:
                record = {
                    "step": step,
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": round(seconds, 1),
                    **{k: round(float(v.detach()), 5) for k, v in losses.items()},
                }
                log.write(json.dumps(record) + "\n")
                bar.set_postfix(loss=f"{record['loss']:.4f}")
            if step % save_every == 0 or step == steps:
                checkpoint.save_training_state(state_path, model, optimizer, step, {"seconds": seconds})
    model.eval()
    seconds = seconds_before + time.monotonic() - started
    card = ModelCard(
        **{
            **asdict(card),
            "training": {**card.training, **training, "steps_done": step, "train_seconds": round(seconds)},
        }
    )
    return checkpoint.save_checkpoint(out_dir / kind, model, card)
