"""Live captioning: the captured joint stream -> a description of the recent motion.

The captioner sees only what any consumer of the capture sees (joint positions), so
it runs anywhere, in its own process: the last window of joints is put in its
canonical frame, turned into HumanML3D features, encoded to part codes by the VQ-VAE
and described by one of two backends behind the same ``describe``:

* ``llm``: the language-model captioner (``models/lm_captioner.py``, weights
  ``lm_captioner.*``), over the last ``windows`` consecutive windows (each window in
  its own canonical frame, as in training; default: the model's ``max_windows``
  capped at 2, about 4 s);
* ``codes``: the code-histogram captioner (nearest training window, ``captioner.*``),
  over the last window.

``backend="auto"`` takes ``llm`` when its weights are there, else ``codes``.

The LM captioner also says how sure it is of the action; below its calibrated
``feedback_min_confidence`` a description is still said, but not fed back into capture
(``Description.fed_back``): a wrong action in the text costs capture more than a right
one gains.

A language-model captioner trained with images (its card names an image model) also
reads the newest camera frame (``set_image``) through its image slot: the [image, motion]
instruction; without a recent frame it gets the [motion] one.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..core import features, frames
from ..core.dataset import DatasetConfig
from ..models.checkpoint import ModelCard
from ..models.code_captioner import CodeCaptioner
from ..models.part_vqvae import window_codes
from ..models.predictors import load_vqvae
from ..paths import DEFAULT_WEIGHTS


@dataclass
class Description:
    text: str
    window_start: float  # s, stamp of the first frame described
    window_end: float  # s, stamp of the last
    source: str
    with_image: bool = False
    confidence: float | None = None  # the LM captioner's certainty of the action (None: codes)
    fed_back: bool = True  # whether the capture model should take it as its text input


BACKENDS = ("auto", "llm", "codes")
SOURCES = {"llm": "lm_captioner", "codes": "code_captioner"}


def resolve_backend(weights: Path, backend: str) -> str:
    """``auto`` -> ``llm`` when ``weights`` holds the LM captioner, else ``codes``."""
    if backend not in BACKENDS:
        raise ValueError(f"captioning backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "auto":
        return "llm" if (Path(weights) / "lm_captioner.json").exists() else "codes"
    return backend


class LiveCaptioner:
    source = "code_captioner"

    def __init__(
        self,
        weights: Path = DEFAULT_WEIGHTS,
        min_frames: int = 64,
        backend: str = "auto",
        windows: int | None = None,
        base_model: str | None = None,
        image_max_age_s: float = 1.0,
        feedback_min_confidence: float | None = None,
        use_image: bool = True,
    ):
        """``feedback_min_confidence``: overrides the LM captioner card's calibrated threshold
        (0 = feed every description back, > 1 = none). ``use_image`` False: the camera is
        never read (no image encoder is loaded; every description takes the [motion] prompt)."""
        weights = Path(weights)
        self.image_encoder, self.image_max_age_s = None, image_max_age_s
        self._image = None  # (stamp, decode) of the newest camera frame
        self.backend = resolve_backend(weights, backend)
        self.source = SOURCES[self.backend]
        self.config = DatasetConfig(**ModelCard.read(weights / "ego4o", "ego4o").dataset)
        self.vqvae, vqvae_card = load_vqvae(weights / "vqvae")
        self.normalizer = vqvae_card.normalizer()
        if self.backend == "llm":
            from ..models.lm_captioner import LmCaptioner

            if not (weights / "lm_captioner.json").exists():
                raise FileNotFoundError(
                    f"no language-model captioner in {weights} (lm_captioner.json); "
                    "train one (ego4o-train lm_captioner) or use backend 'codes'"
                )
            self.captioner, card = LmCaptioner.load(weights / "lm_captioner", base_model, merged=True)
            if feedback_min_confidence is not None:
                self.captioner.config = replace(self.captioner.config, feedback_min_confidence=feedback_min_confidence)
            books = torch.stack([q.codebook for q in self.vqvae.quantizers])
            if card.feature_mean != vqvae_card.feature_mean or not torch.allclose(books, self.captioner.codebooks):
                raise ValueError(
                    f"{weights / 'lm_captioner'} was trained with another VQ-VAE than {weights / 'vqvae'} "
                    "(retrain it: ego4o-train lm_captioner)"
                )
            self.windows = max(
                1, min(windows or min(2, self.captioner.config.max_windows), self.captioner.config.max_windows)
            )
            from ..models.image_model import image_encoder_of

            self.image_encoder = image_encoder_of(weights, card) if use_image else None
        else:
            self.captioner = CodeCaptioner.load(weights / "captioner")
            self.windows = 1
        self.min_frames = max(min_frames, 2)
        # One frame more than the windows: T positions give T - 1 feature rows.
        self._joints = collections.deque(maxlen=self.windows * self.config.window + 1)
        self._stamps = collections.deque(maxlen=self.windows * self.config.window + 1)

    def reset(self) -> None:
        self._joints.clear()
        self._stamps.clear()

    def push(self, stamp: float, joints_body: np.ndarray) -> None:
        """One captured frame (22, 3), body frame. Out-of-order frames are ignored."""
        if self._stamps and stamp <= self._stamps[-1]:
            return
        self._stamps.append(stamp)
        self._joints.append(np.asarray(joints_body, np.float64))

    def push_ros(self, stamp: float, joints_ros: np.ndarray) -> None:
        self.push(stamp, np.asarray(joints_ros) @ frames.ROS_FROM_BODY)

    def set_image(self, stamp: float, decode) -> None:
        """The newest camera frame: its stamp and a callable giving (H, W, 3) uint8 RGB
        (decoded only if a description uses it)."""
        self._image = (float(stamp), decode)

    @property
    def uses_images(self) -> bool:
        return self.image_encoder is not None

    def snapshot(self) -> tuple | None:
        """What a description reads, copied (so it can be described in another thread
        while frames keep arriving): (joints (T, 22, 3), first stamp, last stamp, newest
        camera frame or None), or None with too few frames."""
        if len(self._joints) < self.min_frames:
            return None
        image = self._image
        if image is not None and abs(self._stamps[-1] - image[0]) > self.image_max_age_s:
            image = None
        return np.stack(self._joints), self._stamps[0], self._stamps[-1], image

    @torch.inference_mode()
    def describe(self, snapshot: tuple | None = None) -> Description | None:
        """A description of ``snapshot`` (default: the buffered window now), or None with
        too few frames."""
        snapshot = self.snapshot() if snapshot is None else snapshot
        if snapshot is None:
            return None
        joints, first, last, image = snapshot
        ids = self.codes(joints)
        if self.backend != "llm":
            return Description(self.captioner.describe(ids[None])[0], first, last, self.source)
        confidence = float(self.captioner.confidence([ids])[0])
        features = None
        if self.image_encoder is not None and image is not None:
            features = self.image_encoder.encode(np.asarray(image[1]())[None])
        present = None if features is None else np.ones(1, bool)
        text = self.captioner.describe(ids[None], features, present)[0]
        with_image = features is not None
        return Description(
            text, first, last, self.source, with_image, confidence, self.captioner.feeds_back(confidence)
        )

    def codes(self, joints: np.ndarray) -> np.ndarray:
        """Joints (T, 22, 3), body frame -> part codes (K * T', parts) of the last K whole
        windows (at least one: fewer frames hold the first one), each window in its own
        canonical frame."""
        window = self.config.window
        if len(joints) < window + 1:  # hold the first frame (the captioner reads whole windows)
            joints = np.concatenate([np.repeat(joints[:1], window + 1 - len(joints), 0), joints])
        count = min(self.windows, (len(joints) - 1) // window)
        rows = []
        for k in range(count, 0, -1):
            start = len(joints) - 1 - k * window
            poses = joints[start : start + window + 1]
            canonical = features.window_frame(poses, self.config.feature_config).points(poses)
            rows.append(features.features_from_joints(canonical, self.config.feature_config, canonicalize=False))
        return window_codes(self.vqvae, np.stack(rows), self.normalizer).reshape(-1, self.vqvae_parts)

    @property
    def vqvae_parts(self) -> int:
        return len(self.vqvae.quantizers)
