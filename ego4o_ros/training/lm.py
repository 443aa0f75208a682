"""Training of the language-model captioner (``ego4o-train lm_captioner``), ROS-free.

Two stages, as in the Ego4o paper (LLaVA-style), after a cheap one of ours:

0. **motion encoder** (only with ``encoder_layers`` > 0; no LM in the loop, seconds per
   hundred steps): the encoder learns to name the action and the style of the
   description (labels read from its words by the Bandai phrase tables; unknown = not
   counted) and to predict its MiniLM sentence embedding; then it is frozen;
1. **alignment**: only the motion (and image) projector learns; the LM is frozen;
2. **LoRA + projectors**: LoRA adapters on the LM's attention projections learn too.

Each sample is 1..``max_windows`` consecutive, non-overlapping windows of one training
take (plain or left/right mirrored, the description mirrored with it). Its motion
codes come either from the ground truth (the VQ-VAE's codes of the window features)
or, with probability ``captured_fraction``, from the capture model (``Ego4oModel``)
run on the window's synthesised IMUs with 1-3 random sites (its nearest codes): the
captioner sees at training what it sees live. The target is one of the take's
descriptions.

Resumable like every other model (``train_loop.run_training``): a state file holds the
stage, the step, our tensors and the optimizer, every ``save_every`` steps and at the
stage change; ``<out>/lm_captioner.log.jsonl`` holds the losses; the result is
``<out>/lm_captioner.safetensors`` + ``.json`` (LoRA + projectors only, see
``lm_captioner.py``). The LM's 135 M parameters are never written.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core import imu, mirror
from ..core.dataset import MotionCache
from ..models.checkpoint import ModelCard
from ..models.lm_captioner import LmCaptioner, LmCaptionerConfig, encoder_loss
from ..models.part_vqvae import window_codes
from ..models.predictors import load_vqvae
from ..readers import bandai
from .data import MaskingConfig, TrainingWindows, mirror_text, random_sites, text_table
from .distributed import Session
from .schedule import learning_rate

STAGES = ("stage0", "stage1", "stage2")
DEFAULT_STAGE = {
    "stage0": {"steps": 1500, "batch": 64, "lr": 1e-3, "warmup": 50},
    "stage1": {"steps": 300, "batch": 8, "lr": 1e-3, "warmup": 20},
    "stage2": {"steps": 600, "batch": 8, "lr": 5e-4, "warmup": 20},
}


def ground_truth_codes(vqvae, windows: TrainingWindows, batch: int = 256, progress: bool = True) -> torch.Tensor:
    """VQ-VAE code ids of every training window (``part_vqvae.window_codes`` of ``batch``
    windows at a time), plain and mirrored: (2, N, T', parts)."""
    out = []
    for mirrored in (False, True):
        ids = []
        for start in tqdm(
            range(0, len(windows), batch),
            desc="codes" + (" (mirrored)" if mirrored else ""),
            disable=not progress,
            file=sys.stderr,
        ):
            stop = min(start + batch, len(windows))
            features = windows.mirrored_features(start, stop) if mirrored else windows.features[start:stop]
            ids.append(torch.from_numpy(window_codes(vqvae, features)))
        out.append(torch.cat(ids))
    return torch.stack(out)


def next_windows(windows: TrainingWindows, step: int) -> np.ndarray:
    """(N,) index of the window ``step`` windows later in the same take (-1: none)."""
    n = len(windows)
    out = np.full(n, -1)
    later = np.arange(n) + step
    ok = later < n
    ok[ok] = windows.clip_index[later[ok]] == windows.clip_index[np.flatnonzero(ok)]
    out[ok] = later[ok]
    return out


class CaptionBatches:
    """Samples (codes per sample, target texts) from the training windows."""

    def __init__(
        self,
        windows: TrainingWindows,
        gt_codes: torch.Tensor,
        max_windows: int,
        following: np.ndarray,
        ego4o=None,
        captured_fraction: float = 0.5,
        masking: MaskingConfig = MaskingConfig(),
        image_fraction: float = 0.5,
    ):
        self.windows, self.gt_codes, self.max_windows, self.following = windows, gt_codes, max_windows, following
        self.image_fraction = image_fraction
        self.ego4o, self.masking = ego4o, masking
        self.captured_fraction = captured_fraction if ego4o is not None else 0.0
        self.shard: np.ndarray | None = None  # the windows this process draws chains from (None: all)

    def chain(self, first: int, count: int) -> list[int]:
        out = [int(first)]
        while len(out) < count and self.following[out[-1]] >= 0:
            out.append(int(self.following[out[-1]]))
        return out

    @torch.no_grad()
    def captured(
        self, index: np.ndarray, mirrored: np.ndarray, sites: np.ndarray, rng: np.random.Generator
    ) -> torch.Tensor:
        """The capture model's nearest codes of windows ``index`` (K,), each with its
        mirroring (K,) and sensor set (K, 5), accelerometer noise as in training."""
        acc, ori = self.windows.acc[index].astype(np.float64), self.windows.ori[index].astype(np.float64)
        if mirrored.any():
            acc[mirrored], ori[mirrored] = mirror.mirror_imu(acc[mirrored], ori[mirrored])
        acc = acc + rng.normal(0.0, self.masking.acc_noise_std, acc.shape)
        present = np.repeat(sites[:, None, :], acc.shape[1], axis=1)
        inputs = torch.from_numpy(imu.network_inputs(acc, ori, present))
        _, ids, _ = self.ego4o(inputs, torch.from_numpy(present))
        return ids

    def sample(self, rng: np.random.Generator, batch: int) -> tuple:
        """(codes per sample, texts, info, image features (B, D) or None, image flags (B,) or None)."""
        shard = self.shard if self.shard is not None else np.arange(len(self.windows))
        firsts = shard[rng.integers(0, len(shard), batch)]
        chains = [self.chain(f, int(rng.integers(1, self.max_windows + 1))) for f in firsts]
        mirrored = rng.random(batch) < self.masking.mirror_probability
        captured = rng.random(batch) < self.captured_fraction
        codes: list[torch.Tensor | None] = [None] * batch
        for b in np.flatnonzero(~captured):
            codes[b] = self.gt_codes[int(mirrored[b]), chains[b]].flatten(0, 1)
        if captured.any():
            sites = random_sites(rng, batch, self.masking)
            flat = [(b, w) for b in np.flatnonzero(captured) for w in chains[b]]
            owners = np.array([b for b, _ in flat])
            ids = self.captured(np.array([w for _, w in flat]), mirrored[owners], sites[owners], rng)
            for b in np.flatnonzero(captured):
                codes[b] = ids[owners == b].flatten(0, 1)
        texts = []
        for b, chain in enumerate(chains):
            text = str(rng.choice(self.windows.variants[self.windows.clip_index[chain[0]]]["full"]))
            texts.append(mirror_text(text) if mirrored[b] else text)
        info = {"captured": float(captured.mean()), "windows": float(np.mean([len(c) for c in chains]))}
        images = image_present = None
        if self.windows.image_table is not None:  # [image, motion] or [motion], at random
            images = self.windows.images(np.array([c[0] for c in chains]), rng, mirrored)[0][:, 0]
            image_present = rng.random(batch) < self.image_fraction
            info["with_image"] = float(image_present.mean())
        return codes, texts, info, images, image_present


def description_labels(config: LmCaptionerConfig, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(action, style) label indices of descriptions in the config's vocabularies (-100: none)."""
    actions = {a: i for i, a in enumerate(config.actions)}
    styles = {a: i for i, a in enumerate(config.styles)}
    action = [actions.get(bandai.action_of(t), -100) for t in texts]
    style = [styles.get(bandai.style_of(t), -100) for t in texts]
    return torch.tensor(action), torch.tensor(style)


def _stage_settings(training: dict) -> dict[str, dict]:
    out = {}
    for stage in STAGES:
        settings = {**DEFAULT_STAGE[stage], **training.get(stage, {})}
        if training.get("steps") is not None:  # --steps overrides each stage's step count
            settings["steps"] = int(training["steps"])
        out[stage] = settings
    return out


def _save_state(
    path: Path, model: LmCaptioner, optimizer, stage: int, step: int, seconds: float, progress: dict
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "tensors": model.own_state(),
            "optimizer": optimizer.state_dict() if optimizer else None,
            "stage": stage,
            "step": step,
            "seconds": seconds,
            "stages": {k: dict(v) for k, v in progress.items()},
        },
        tmp,
    )
    tmp.replace(path)


def train_lm_captioner(
    cache: MotionCache,
    model_cfg: dict,
    training: dict,
    out_dir: Path,
    vqvae_stem: Path,
    ego4o_stem: Path | None = None,
    progress: bool = True,
    save_every: int = 50,
    base_model=None,
    image_stem: Path | None = None,
    session: Session | None = None,
    init: Path | None = None,
) -> Path:
    """All stages; resumable. ``ego4o_stem``: the capture model whose codes the
    captioner also learns from (None: ground-truth codes only). ``base_model``: an
    already loaded ``load_base_lm`` triple (tests). ``image_stem``: an image model whose
    view features (cached by ``ego4o-train image``) fill the image slot in half the samples.
    ``session``: under torchrun each rank draws its share of the batch from its own shard,
    gradients are averaged, the stages' time budgets follow rank 0's clock, rank 0 writes
    (CPU only: the captioner's batches are built on the CPU). ``init``: a trained captioner
    (same config) to go on from, e.g. onto a fine-tuned VQ-VAE: its encoder, projectors and
    LoRA are kept, the codebooks are the new VQ-VAE's, and the stages re-learn to read them."""
    session = session or Session()
    if session.device.type != "cpu":
        raise ValueError("lm_captioner trains on the CPU (--device cpu); the CUDA path is not written yet")
    vqvae, vqvae_card = load_vqvae(vqvae_stem)
    vqvae.requires_grad_(False)
    codebooks = torch.stack([q.codebook for q in vqvae.quantizers]).detach().clone()
    ego4o, ego4o_card = None, None
    if ego4o_stem is not None:
        from ..models.ego4o import Ego4oModel

        ego4o, ego4o_card = Ego4oModel.load(ego4o_stem)
        ego4o.requires_grad_(False)
        if ego4o.codebooks.shape != codebooks.shape or not torch.allclose(ego4o.codebooks, codebooks, atol=1e-6):
            raise ValueError(f"{ego4o_stem} was not trained on the VQ-VAE {vqvae_stem} (its codebooks differ)")
    else:
        tqdm.write(
            "lm_captioner: no capture model given (--ego4o): training on ground-truth codes only", file=sys.stderr
        )
    normalizer = vqvae_card.normalizer()
    with session.main_first():
        windows = TrainingWindows(cache, "train", normalizer, progress=progress)
    initialised = {"vqvae": {"file": Path(vqvae_stem).name, "sha256": vqvae_card.weights_sha256}}
    if image_stem is not None:
        from .image import cached_features

        with session.main_first():
            image_dim, windows.image_table, initialised["image"] = cached_features(image_stem, cache, progress)
        model_cfg = {**model_cfg, "image_dim": image_dim}
    config = LmCaptionerConfig.from_dict(
        {
            "num_parts": codebooks.shape[0],
            "num_codes": codebooks.shape[1],
            "code_dim": codebooks.shape[2],
            "actions": bandai.ACTION_LABELS,
            "styles": bandai.STYLE_LABELS,
            **model_cfg,
        }
    )
    stages = _stage_settings(training)
    if not config.encoder_layers:
        stages["stage0"]["steps"] = 0
    captured_fraction = float(training.get("captured_fraction", 0.5))
    seed = int(training.get("seed", 0))
    masking = MaskingConfig()

    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = out_dir / "lm_captioner.state.pt", out_dir / "lm_captioner.log.jsonl"
    torch.manual_seed(seed)
    if init is not None:
        init_card = ModelCard.read(init, "lm_captioner")
        # The base model's path and the feedback threshold (set after training by
        # ego4o-calibrate-feedback, carried over) are not the architecture.
        ignored = {"base": "", "feedback_min_confidence": 0.0}
        if {**init_card.model_config, **ignored} != {**json.loads(json.dumps(asdict(config))), **ignored}:
            raise ValueError(f"--init {init}: its model config differs from this lm_captioner's")
        threshold = init_card.model_config.get("feedback_min_confidence", config.feedback_min_confidence)
        config = replace(config, feedback_min_confidence=threshold)
    model = LmCaptioner(config, codebooks, base_model)
    if init is not None:
        from ..models import checkpoint

        tensors = checkpoint.load_tensors(init, init_card)
        model.load_own_state({**tensors, "codebooks": codebooks})
        initialised["init"] = {"file": Path(init).name, "sha256": init_card.weights_sha256}
    sentence_table = None
    if config.encoder_layers:
        from ..models.feature_encoders import make_text_encoder

        with session.main_first():
            sentence_table = text_table(cache, make_text_encoder("minilm"), texts=windows.all_texts())
    stage, step, seconds_before, optimizer_state = 0, 0, 0.0, None
    # Per stage: seconds spent, and the step count a time budget ("minutes") settled on.
    progress_of = {name: {"seconds": 0.0, "steps": 0.0} for name in STAGES}
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_own_state(state["tensors"])
        stage, step, seconds_before = int(state["stage"]), int(state["step"]), float(state["seconds"])
        optimizer_state = state["optimizer"]
        progress_of.update(state.get("stages", {}))
        if session.is_main:
            tqdm.write(f"resuming lm_captioner at stage {stage}, step {step} ({state_path})", file=sys.stderr)
    else:
        session.broadcast_parameters(model)

    gt_codes = ground_truth_codes(vqvae, windows, progress=progress)
    cache_step = max(1, cache.config.window // cache.config.stride)  # next window that does not overlap
    batches = CaptionBatches(
        windows, gt_codes, config.max_windows, next_windows(windows, cache_step), ego4o, captured_fraction, masking
    )
    batches.shard = session.shard(len(windows), None)[0]
    started = time.monotonic()
    seconds = seconds_before
    with log_path.open("a", buffering=1) if session.is_main else open(os.devnull, "w") as log:
        while stage < len(STAGES):
            name = STAGES[stage]
            settings, done = stages[name], progress_of[name]
            if not int(settings["steps"]):  # stage 0 without an encoder
                stage, step = stage + 1, 0
                continue
            steps, batch, lr, warmup = (
                int(settings["steps"]),
                int(settings["batch"]),
                float(settings["lr"]),
                int(settings["warmup"]),
            )
            model.set_stage(stage)
            model.train()
            optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=lr, weight_decay=0.0)
            if optimizer_state is not None:
                optimizer.load_state_dict(optimizer_state)
                optimizer_state = None
            if done["steps"]:
                steps = int(done["steps"])
            budget = float(settings.get("minutes", 0)) * 60
            rng = np.random.default_rng([seed, stage, step] + ([session.rank] if session.distributed else []))
            torch.manual_seed(seed + 1000 * stage + step + 1_000_003 * session.rank)
            stage_started, stage_step0, stage_seconds0 = time.monotonic(), step, float(done["seconds"])
            recent = []  # losses since the last log record
            with tqdm(
                total=steps,
                initial=step,
                desc=f"lm_captioner {name}",
                disable=not (progress and session.is_main),
                file=sys.stderr,
                dynamic_ncols=True,
            ) as bar:
                while step < steps:
                    for group in optimizer.param_groups:
                        group["lr"] = learning_rate(step, lr, warmup, steps)
                    codes, texts, info, images, image_present = batches.sample(rng, session.local_batch(batch))
                    if stage == 0:
                        _, _, summary = model.encode(codes)
                        embedding = torch.from_numpy(np.stack([sentence_table[t] for t in texts]))
                        losses = encoder_loss(
                            model.motion_encoder, summary, *description_labels(config, texts), embedding
                        )
                    else:
                        losses = model.loss(codes, texts, images, image_present)
                    optimizer.zero_grad(set_to_none=True)
                    losses["loss"].backward()
                    session.average_gradients(list(model.trainable_parameters()))
                    torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
                    optimizer.step()
                    recent.append(float(losses["loss"].detach()))
                    step += 1
                    bar.update()
                    seconds = seconds_before + time.monotonic() - started
                    done["seconds"] = stage_seconds0 + time.monotonic() - stage_started
                    if budget and not done["steps"] and step >= 5:
                        # Time budget: as many steps as fit at the speed measured so far.
                        fit = step + int((budget - done["seconds"]) / (done["seconds"] / step))
                        fit = int(session.from_main(fit))  # every rank stops at the same step
                        steps = done["steps"] = max(step, min(steps, fit))
                        bar.total = steps
                        if session.is_main:
                            tqdm.write(
                                f"lm_captioner {name}: {steps} steps fit in {budget / 60:g} min", file=sys.stderr
                            )
                    if step % 10 == 0 or step == steps:
                        rate = (step - stage_step0) / max(time.monotonic() - stage_started, 1e-9)
                        record = {
                            "stage": stage,
                            "step": step,
                            "lr": optimizer.param_groups[0]["lr"],
                            "seconds": round(seconds, 1),
                            "steps_per_s": round(rate, 4),
                            **info,
                            **{k: round(float(v.detach()), 5) for k, v in losses.items()},
                            "loss_mean": round(float(np.mean(recent)), 5),  # over the steps since the last record
                        }
                        recent = []
                        log.write(json.dumps(record) + "\n")
                        accuracy = record.get("token_accuracy", record.get("action_accuracy", 0.0))
                        bar.set_postfix(loss=f"{record['loss_mean']:.3f}", acc=f"{accuracy:.2f}")
                    if step % save_every == 0 or step == steps:
                        if session.is_main:
                            _save_state(state_path, model, optimizer, stage, step, seconds, progress_of)
                        session.barrier()
            done["steps"] = steps
            stage, step = stage + 1, 0
            if session.is_main:
                _save_state(state_path, model, None, stage, step, seconds, progress_of)
            session.barrier()
    model.set_stage(None)
    model.eval()
    if ego4o_card is not None:
        initialised["ego4o"] = {"file": Path(ego4o_stem).name, "sha256": ego4o_card.weights_sha256}
    card = ModelCard.for_cache(
        cache,
        "lm_captioner",
        asdict(config),
        {
            **{k: v for k, v in training.items() if k not in STAGES and k != "steps"},
            **{
                name: {
                    **stages[name],
                    "steps_done": int(progress_of[name]["steps"]),
                    "seconds": round(progress_of[name]["seconds"]),
                }
                for name in STAGES
            },
            "captured_fraction": batches.captured_fraction,
            "masking": asdict(masking),
            "train_seconds": round(seconds),
        },
        normalizer,
        initialised_from=initialised,
        image_backend="clip" if image_stem is not None else None,
    )
    card = replace(card, training={**card.training, **session.card_entry(int(stages["stage2"]["batch"]))})
    path = out_dir / "lm_captioner.safetensors"
    if session.is_main:
        path = model.save(out_dir / "lm_captioner", replace(card, extra={"train_seconds": round(seconds)}))
    session.barrier()
    return path
