"""The training loop every model but the language-model captioner shares (``run_training``).

Sample a batch, step, log, save a resumable state every ``save_every`` steps; an
interrupted run resumes where it stopped. The result is ``<out>/<kind>.safetensors`` +
its model card ``<out>/<kind>.json``, and ``<out>/<kind>.log.jsonl`` holds the losses.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..models import checkpoint
from ..models.checkpoint import ModelCard
from .distributed import Session
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
    save_every: int | None = None,
    progress: bool = True,
    draw_probabilities: np.ndarray | None = None,
    session: Session | None = None,
) -> Path:
    """The loop every model shares: sample, step, log, save state, resume.

    ``param_groups``: optimizer groups, each may carry ``lr_scale`` (default: all
    trainable parameters at the base rate). ``draw_probabilities``: (num_windows,) how often
    each window is drawn (``TrainingWindows.draw_probabilities``; default uniform).
    ``session``: rank, world size and device (``distributed.Session``; default one CPU
    process): each rank draws ``batch / world_size`` windows of its own shard, gradients are
    averaged over the ranks, rank 0 writes the log, the state and the result."""
    session = session or Session()
    steps, batch, lr = int(training.get("steps", 1000)), int(training.get("batch", 64)), float(training.get("lr", 3e-4))
    warmup = int(training.get("warmup", 100))
    save_every = int(save_every or training.get("save_every", 200))
    local_batch = session.local_batch(batch)
    shard, shard_probabilities = session.shard(num_windows, draw_probabilities)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = out_dir / f"{kind}.state.pt", out_dir / f"{kind}.log.jsonl"
    model.to(session.device)
    groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
    trainable = [p for g in optimizer.param_groups for p in g["params"]]
    step, seconds_before = 0, 0.0
    if state_path.exists():  # every rank reads rank 0's state (a shared folder across machines)
        step, extra = checkpoint.load_training_state(state_path, model, optimizer, session.device)
        seconds_before = float(extra.get("seconds", 0.0))
        if session.is_main:
            tqdm.write(f"resuming {kind} from step {step} ({state_path})", file=sys.stderr)
    else:
        session.broadcast_parameters(model)
    seed = int(training.get("seed", 0))
    # One random stream per rank (a single process keeps the stream it always had).
    rng = np.random.default_rng([seed, step] + ([session.rank] if session.distributed else []))
    torch.manual_seed(seed + step + 1_000_003 * session.rank)
    model.train()
    started = time.monotonic()
    main = session.is_main
    with (
        log_path.open("a", buffering=1) if main else open(os.devnull, "w") as log,
        tqdm(
            total=steps, initial=step, desc=kind, disable=not (progress and main), file=sys.stderr, dynamic_ncols=True
        ) as bar,
    ):
        while step < steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, lr, warmup, steps) * group.get("lr_scale", 1.0)
            if shard_probabilities is None:
                index = shard[rng.integers(0, len(shard), local_batch)]
            else:
                index = shard[rng.choice(len(shard), local_batch, p=shard_probabilities)]
            with session.autocast():
                losses = loss_fn(index, rng)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            session.average_gradients(trainable)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            step += 1
            bar.update()
            seconds = seconds_before + time.monotonic() - started
            if step % 20 == 0 or step == steps:
                values = session.average({k: float(v.detach()) for k, v in losses.items()})
                record = {
                    "step": step,
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": round(seconds, 3),
                    **{k: round(v, 5) for k, v in values.items()},
                }
                log.write(json.dumps(record) + "\n")
                bar.set_postfix(loss=f"{record['loss']:.4f}")
            if step % save_every == 0 or step == steps:
                if main:
                    checkpoint.save_training_state(state_path, model, optimizer, step, {"seconds": seconds})
                session.barrier()
    model.eval()
    seconds = seconds_before + time.monotonic() - started
    peak_rss_mb = session.maximum(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB
    card = ModelCard(
        **{
            **asdict(card),
            "training": {
                **card.training,
                **training,
                **session.card_entry(batch),
                "steps_done": step,
                "train_seconds": round(seconds),
                "peak_rss_mb": round(peak_rss_mb),
            },
        }
    )
    path = out_dir / f"{kind}.safetensors"
    if main:
        path = checkpoint.save_checkpoint(out_dir / kind, model.cpu(), card)
    session.barrier()
    return path
