"""Training of every model (library code; ``ego4o-train`` is its front end).

One loop for all (``train_loop.run_training``; the language-model captioner has its own
two-stage loop in ``lm_training.py``): resumable, logged, a checkpoint + model card.

Order: ``vqvae`` first; ``image`` (the egocentric image encoder, ``image_model.py``, on the
cache's rendered views); ``ego4o`` (fusion encoder + decoder, initialised from the VQ-VAE,
with ``--image`` also on image features) and ``baseline`` (the LSTM peer) on the same
windows, the same masking and mirroring, the same training time; ``captioner`` last.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import yaml

from ..core.dataset import MotionCache
from ..models.checkpoint import ModelCard
from ..models.ego4o import Ego4oModel
from ..models.fusion_encoder import EncoderConfig, encoder_loss, present_weights
from ..models.lstm_baseline import BaselineConfig, LstmBaseline, feature_loss
from ..models.part_vqvae import PartVQVAE, VqvaeConfig, window_codes
from ..models.predictors import load_vqvae
from .data import MaskingConfig, TrainingWindows, text_table
from .distributed import Session
from .loop import run_training

KINDS = ("vqvae", "ego4o", "baseline", "captioner", "lm_captioner", "image")


def read_section(path: Path, kind: str) -> tuple[dict, dict]:
    """``kind: {model: ..., training: ...}`` of a training YAML (config/train.yaml)."""
    sections = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(sections) - set(KINDS)
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}; expected {KINDS}")
    section = sections.get(kind, {})
    return section.get("model", {}), section.get("training", {})


def train_on_windows(
    kind: str, model, loss_fn, windows: TrainingWindows, training: dict, out_dir: Path, card, session, progress, **kw
) -> Path:
    """``run_training`` over a split's windows, drawn as ``collection_weights`` in the
    ``training:`` section say (uniform without)."""
    probabilities = windows.draw_probabilities(training.get("collection_weights"))
    return run_training(
        kind,
        model,
        loss_fn,
        len(windows),
        training,
        out_dir,
        card,
        progress=progress,
        draw_probabilities=probabilities,
        session=session,
        **kw,
    )


# ---------------------------------------------------------------- per model
def train_vqvae(
    cache: MotionCache,
    model_cfg: dict,
    training: dict,
    out_dir: Path,
    progress=True,
    init: Path | None = None,
    session: Session | None = None,
) -> Path:
    """The motion prior; with ``init`` (a trained VQ-VAE's stem) it goes on from that model in
    that model's feature space (its statistics, not the cache's), so a capture model trained
    on it can be fine-tuned onto the result."""
    config = VqvaeConfig(**model_cfg)
    model = PartVQVAE(config)
    init_entry = initialise_from(model, init, "vqvae")
    normalizer = ModelCard.read(init, "vqvae").normalizer() if init else cache.normalizer()
    session = session or Session()
    with session.main_first():
        windows = TrainingWindows(cache, "train", normalizer, device=session.device, progress=progress)
    masking = MaskingConfig()

    def loss_fn(index, rng):
        batch = windows.batch(index, rng, masking)
        _, _, losses = model(batch["features"], batch["valid"])
        usage = sum(q.usage() for q in model.quantizers) / len(model.quantizers)
        return {**losses, "code_usage": torch.tensor(usage, device=session.device)}

    card = ModelCard.for_cache(
        cache, "vqvae", asdict(config), {"masking": asdict(masking)}, normalizer, initialised_from=init_entry
    )
    return train_on_windows("vqvae", model, loss_fn, windows, training, out_dir, card, session, progress)


@torch.no_grad()
def vqvae_targets(vqvae: PartVQVAE, features: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The frozen VQ-VAE's latents (per part (B, D, T')) and code ids (B, T', parts) of a
    batch's (normalised, mirrored where mirrored) features: the encoder's targets."""
    z = vqvae.encode_parts(features)
    return list(z), torch.stack([q.indices(zp) for q, zp in zip(vqvae.quantizers, z)], dim=-1)


def train_ego4o(
    cache: MotionCache,
    model_cfg: dict,
    training: dict,
    out_dir: Path,
    vqvae_stem: Path,
    progress: bool = True,
    text_backend: str = "minilm",
    image_stem: Path | None = None,
    init: Path | None = None,
    session: Session | None = None,
) -> Path:
    """The capture model; with ``image_stem`` (an image model from ``ego4o-train image``) it
    also learns from the cache's egocentric views, encoded by that model; with ``init`` (a
    trained capture model's stem, of the same config) it starts from that model's weights."""
    from ..models.feature_encoders import make_text_encoder

    session = session or Session()
    vqvae, vqvae_card = load_vqvae(vqvae_stem)
    vqvae.requires_grad_(False)
    vqvae.to(session.device)
    image_table = image_entry = None
    if image_stem is not None:
        from .image import cached_features

        with session.main_first():
            image_dim, image_table, image_entry = cached_features(image_stem, cache, progress)
        model_cfg = {**model_cfg, "image_dim": image_dim}
    config = EncoderConfig(**model_cfg)
    model = Ego4oModel.from_vqvae(vqvae, config)
    init_entry = initialise_from(model, init, "ego4o")
    if init and ModelCard.read(init, "ego4o").initialised_from["vqvae"]["sha256"] != vqvae_card.weights_sha256:
        # Moving onto another motion prior (e.g. one fine-tuned on more motion): the encoder
        # goes on from ``init``, the decoder and codebooks are the new prior's.
        fresh = Ego4oModel.from_vqvae(vqvae, config)
        model.decoder.load_state_dict(fresh.decoder.state_dict())
        model.codebooks.copy_(fresh.codebooks)
    # Ego4o lives in the VQ-VAE's feature space: the same statistics, whatever the cache says.
    normalizer = vqvae_card.normalizer()
    with session.main_first():
        windows = TrainingWindows(cache, "train", normalizer, device=session.device, progress=progress)
        windows.text_table = text_table(cache, make_text_encoder(text_backend), texts=windows.all_texts())
    windows.image_table, windows.image_views = image_table, config.image_views
    masking, training, weights = training_options(training, windows.features.shape[1], session.device)

    def loss_fn(index, rng):
        batch = windows.batch(index, rng, masking)
        targets, target_ids = vqvae_targets(vqvae, batch["features"])
        latents, logits = model.encoder(
            batch["imu"],
            batch["present"],
            batch["text"],
            batch["text_present"],
            batch.get("image"),
            batch.get("image_present"),
            batch.get("image_step"),
        )
        decoded = model.decode(latents)
        return encoder_loss(
            latents, logits, decoded, targets, target_ids, batch["features"], batch["valid"], config, weights
        )

    # The decoder starts from the VQ-VAE's and adapts to predicted latents, more slowly.
    groups = [
        {"params": list(model.encoder.parameters())},
        {"params": list(model.decoder.parameters()), "lr_scale": float(training.get("decoder_lr_scale", 0.3))},
    ]
    card = ModelCard.for_cache(
        cache,
        "ego4o",
        model.config_dict(),
        {"masking": asdict(masking)},
        normalizer,
        text_backend=text_backend,
        image_backend="clip" if image_entry else None,
        initialised_from={
            "vqvae": {"file": Path(vqvae_stem).name, "sha256": vqvae_card.weights_sha256},
            **({"image": image_entry} if image_entry else {}),
            **init_entry,
        },
    )
    return train_on_windows(
        "ego4o", model, loss_fn, windows, training, out_dir, card, session, progress, param_groups=groups
    )


def initialise_from(model: torch.nn.Module, stem: Path | None, kind: str) -> dict:
    """Load a trained model's weights (``stem``, same kind and config) into ``model`` to go on
    training it (fine-tuning); the card entry that names them ({} without a stem)."""
    if stem is None:
        return {}
    from ..models import checkpoint

    card = ModelCard.read(stem, kind)
    config = model.config_dict() if hasattr(model, "config_dict") else asdict(model.config)
    if card.model_config != json.loads(json.dumps(config)):
        raise ValueError(f"--init {stem}: its model config differs from config/train.yaml's {kind} model")
    checkpoint.load_weights(stem, model, card)
    return {"init": {"file": Path(stem).name, "sha256": card.weights_sha256}}


def training_options(
    training: dict, frames: int, device: torch.device | str = "cpu"
) -> tuple[MaskingConfig, dict, torch.Tensor | None]:
    """A ``training:`` section's masking (``MaskingConfig``; the peer gets the same), the rest
    for the loop, and the frame weights of ``present_weight`` / ``present_frames`` (the loss
    on the newest frames of a window, which online capture reports: ``present_weights``), on
    ``device``."""
    masking = MaskingConfig(**training.get("masking", {}))
    rest = {k: v for k, v in training.items() if k != "masking"}  # the card keeps all of ``masking``
    weights = present_weights(frames, float(rest.get("present_weight", 0.0)), int(rest.get("present_frames", 16)))
    return masking, rest, None if weights is None else weights.to(device)


def train_baseline(
    cache: MotionCache,
    model_cfg: dict,
    training: dict,
    out_dir: Path,
    progress: bool = True,
    vqvae_stem: Path | None = None,
    init: Path | None = None,
    session: Session | None = None,
) -> Path:
    """The LSTM peer; with ``vqvae_stem`` it uses that VQ-VAE's feature statistics, so
    that both methods are trained on identically normalised targets; ``init`` as for Ego4o."""
    config = BaselineConfig(**model_cfg)
    model = LstmBaseline(config)
    init_entry = initialise_from(model, init, "baseline")
    normalizer = load_vqvae(vqvae_stem)[1].normalizer() if vqvae_stem else cache.normalizer()
    session = session or Session()
    with session.main_first():
        windows = TrainingWindows(cache, "train", normalizer, device=session.device, progress=progress)
    masking, training, weights = training_options(training, windows.features.shape[1], session.device)

    def loss_fn(index, rng):
        batch = windows.batch(index, rng, masking)
        predicted = model(batch["imu"], batch["present"])
        return feature_loss(predicted, batch["features"], batch["valid"], frame_weights=weights)

    card = ModelCard.for_cache(
        cache, "baseline", asdict(config), {"masking": asdict(masking)}, normalizer, initialised_from=init_entry
    )
    return train_on_windows("baseline", model, loss_fn, windows, training, out_dir, card, session, progress)


def fit_code_captioner(cache: MotionCache, out_dir: Path, vqvae_stem: Path) -> Path:
    """The code-histogram captioner over the training windows' VQ-VAE codes."""
    from ..models.code_captioner import CodeCaptioner

    vqvae, vqvae_card = load_vqvae(vqvae_stem)
    windows = TrainingWindows(cache, "train", vqvae_card.normalizer())
    rng = np.random.default_rng(0)
    texts = [str(rng.choice(windows.descriptions[c])) for c in windows.clip_index]
    ids = np.concatenate([window_codes(vqvae, windows.features[i : i + 256]) for i in range(0, len(windows), 256)])
    captioner = CodeCaptioner.fit(ids, texts, [q.num_codes for q in vqvae.quantizers])
    card = ModelCard.for_cache(
        cache,
        "captioner",
        {"num_codes": captioner.num_codes},
        {},
        initialised_from={"vqvae": {"file": Path(vqvae_stem).name, "sha256": vqvae_card.weights_sha256}},
    )
    return captioner.save(out_dir / "captioner", card)


def train(
    kind: str,
    cache_dir: Path,
    out_dir: Path,
    config_path: Path,
    steps: int | None = None,
    vqvae: Path | None = None,
    progress: bool = True,
    ego4o: Path | None = None,
    image: Path | None = None,
    init: Path | None = None,
    device: str = "auto",
) -> Path:
    """One model, as ``ego4o-train KIND`` asks (``init``: start vqvae, ego4o or baseline from a
    trained one; ``device``: auto, cpu or cuda). Under torchrun, every rank runs this."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    cache = MotionCache(cache_dir)
    model_cfg, training = read_section(config_path, kind)
    if steps:
        training = {**training, "steps": steps}
    if kind in ("ego4o", "captioner", "baseline", "lm_captioner") and vqvae is None:
        raise ValueError(f"{kind} needs a trained VQ-VAE (--vqvae STEM)")
    if init is not None and kind not in ("vqvae", "ego4o", "baseline", "lm_captioner"):
        raise ValueError(f"--init fine-tunes vqvae, ego4o, baseline or lm_captioner, not {kind}")
    session = Session.start(device)
    if not session.is_main:
        progress = False
    torch.manual_seed(int(training.get("seed", 0)))
    if kind == "vqvae":
        return train_vqvae(cache, model_cfg, training, out_dir, progress, init=init, session=session)
    if kind == "ego4o":
        return train_ego4o(
            cache, model_cfg, training, out_dir, vqvae, progress, image_stem=image, init=init, session=session
        )
    if kind == "baseline":
        return train_baseline(cache, model_cfg, training, out_dir, progress, vqvae, init=init, session=session)
    if kind == "image":  # the egocentric image encoder: models/image_model.py
        from .image import train_image_model

        return train_image_model(cache, model_cfg, training, out_dir, progress, session=session)
    if kind == "lm_captioner":  # the language-model captioner: models/lm_training.py
        from .lm import train_lm_captioner

        return train_lm_captioner(
            cache, model_cfg, training, out_dir, vqvae, ego4o, progress, image_stem=image, session=session, init=init
        )
    return fit_code_captioner(cache, out_dir, vqvae)
