"""The live capture loop: sensors that come and go -> poses at the model rate.

No synchroniser waits for every input (a missing wearable would block it). Each sensor
has its own buffer; frames are produced on a fixed grid at the model rate, driven by
the data's own stamps (so a bag replayed fast, or sim time, works the same). Grid
time ``t`` is produced once every *active* sensor (newest sample within
``max_sensor_age_s`` of the newest sample of any sensor) has reached ``t``; a sensor
whose newest sample is older than that is absent from the frame, so output keeps
flowing when one goes quiet. A frame at ``t`` describes the pose ``lookahead`` frames
earlier.

Stamps come from the data clock: every output carries the grid time of the input frame it
describes (``stream start + frame index / fps``, exact because a stream only ever sees
consecutive grid frames). Whatever breaks that (grid frames skipped to catch up, a hole in
the data where no sensor has samples on both sides within ``max_sensor_age_s``) ends the
stream and starts a fresh one after it, so samples from before and after a dropout are never
blended into invented motion; the frames lost are counted (``dropped``, ``gap_frames``).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import imu
from ..core.camera_views import VIEW_FRAMES
from ..models.checkpoint import ModelCard
from ..models.ego4o import Ego4oModel
from ..models.online import StreamingCapture
from ..models.onnx_export import OnnxEgo4o
from ..models.predictors import WindowPredictor
from ..paths import DEFAULT_WEIGHTS
from .sensors import ImuConvention, ImuSampleBuffer, calibrate_tpose, reset_heading


@dataclass(frozen=True)
class LiveCaptureConfig:
    max_sensor_age_s: float = 0.15  # newer than this behind the newest input = present
    max_catchup_frames: int = 15  # further behind: skip ahead (counted as dropped)
    text_max_age_s: float = 20.0  # a description older than this is no longer used
    image_max_age_s: float = 0.15  # a camera frame older than this is not used (a stopped camera is absent)
    restart_after_s: float = 1.0  # no sensor for this long: start a fresh stream
    latency_history: int = 600  # frames whose latency the statistics keep


@dataclass
class LiveFrame:
    stamp: float  # s, the time of the pose described
    frame_index: int  # frames since the stream (re)started
    input_stamp: float  # s, grid time of the newest input frame it used
    newest_sample: float  # s, stamp of the newest sample buffered when it was made
    joints: np.ndarray  # (22, 3) m, body frame, integrated root
    features: np.ndarray  # (263,)
    codes: np.ndarray | None  # (6,) part code ids
    confidence: np.ndarray | None  # (6,) 0..1 per body part
    sites: tuple[str, ...]  # sensors present in the newest input frame
    used_text: bool
    used_image: bool = False


@dataclass
class LiveCaptureStats:
    frames: int = 0
    dropped: int = 0  # grid frames skipped because processing fell behind (+ their look-ahead)
    gap_frames: int = 0  # grid frames inside a hole in the data (no sensor on both sides)
    non_finite: int = 0  # frames the model returned with NaN/inf: not published
    restarts: int = 0
    texts: int = 0
    images: int = 0  # image features received (set_image)
    # newest input stamp -> output published, filled by whoever publishes (the node)
    latencies_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=600))


class LiveCapture:
    def __init__(
        self,
        streaming: StreamingCapture,
        fps: float,
        conventions: dict[str, ImuConvention] | None = None,
        config: LiveCaptureConfig = LiveCaptureConfig(),
    ):
        conventions = conventions or {}
        unknown = set(conventions) - set(imu.IMU_SITES)
        if unknown:
            raise ValueError(f"unknown IMU sites {sorted(unknown)}; sites are {imu.IMU_SITES}")
        self.streaming, self.fps, self.config = streaming, fps, config
        self.buffers = {site: ImuSampleBuffer(conventions.get(site, ImuConvention())) for site in imu.IMU_SITES}
        self.stats = LiveCaptureStats(latencies_s=collections.deque(maxlen=config.latency_history))
        self._text: tuple[np.ndarray, float] | None = None
        # Recent camera frames (features, stamp), newest last: a model reads several per window.
        self._images: collections.deque = collections.deque(maxlen=128)
        self._next_t: float | None = None
        self._last_ready: float | None = None
        self._grid_start = 0.0  # grid time of the current stream's first step
        self._steps = 0  # steps since the stream (re)started
        self._broken = ""  # why the next step must start a fresh stream ("" = it need not)
        self._clock_offset = 0.0
        # An output stage every frame's joints pass, in order (``live/feet.py`` FootContactStage:
        # ``step(joints, frame_index)``, restarting with the stream); None: the model's joints.
        self.feet = None

    # Inputs -------------------------------------------------------------------------
    def push_imu(
        self,
        site: str,
        stamp: float,
        acc,
        quat_xyzw,
        frame_id: str = "",
        now: float | None = None,
        has_orientation: bool = True,
        has_acceleration: bool = True,
    ) -> str | None:
        """One sample of one site; None when accepted, else the reason it was dropped.
        ``now``: the receiver's clock (same time base as the stamps, e.g. ROS time)."""
        reason = self.buffers[site].push(stamp, acc, quat_xyzw, frame_id, now, has_orientation, has_acceleration)
        if reason is None and now is not None and stamp >= (self.newest_stamp() or stamp):
            self._clock_offset = stamp - now  # how far the data's clock runs behind the receiver's
        return reason

    def data_now(self, now: float | None) -> float | None:
        """The receiver's ``now`` on the data's clock: stamps that lag the clock (transport,
        a device's own latency) do not make live sensors look stale."""
        newest = self.newest_stamp()
        if newest is None or now is None:
            return newest
        return max(newest, now + self._clock_offset)

    def set_text(self, embedding: np.ndarray, stamp: float) -> None:
        """The latest description (already encoded) and the time it refers to."""
        self._text = (np.asarray(embedding, np.float32), stamp)
        self.stats.texts += 1

    def set_image(self, features: np.ndarray, stamp: float) -> None:
        """The newest camera frame's image features and its stamp (a deque append: safe
        from an encoder thread)."""
        self._images.append((np.asarray(features, np.float32), float(stamp)))
        self.stats.images += 1

    def _camera_views(self, t: float) -> tuple[np.ndarray | None, np.ndarray | int]:
        """What the model reads of the camera at time ``t``: (features (K, D), ages in
        frames (K,)), or (None, 0) when the newest frame is older than ``image_max_age_s``
        (a stopped camera). A model with several views per window gets, for each earlier
        view time (every ``view_spacing`` steps back), the frame nearest it, where one is
        within ``image_max_age_s``."""
        max_age = self.config.image_max_age_s
        newest = self._images[-1] if self._images else None
        if newest is None or t - newest[1] > max_age:
            return None, 0
        chosen = [newest]
        # The history is copied only for a model that reads older frames (not on every step).
        frames = list(self._images) if self.streaming.image_views > 1 else []
        spacing_s = self.streaming.view_spacing * VIEW_FRAMES / self.fps
        for j in range(1, self.streaming.image_views):
            target = t - j * spacing_s
            nearest = min(frames, key=lambda f: abs(f[1] - target))
            if abs(nearest[1] - target) <= max_age:
                chosen.insert(0, nearest)
        ages = np.array([max(0, round((t - stamp) * self.fps)) for _, stamp in chosen])
        return np.stack([f for f, _ in chosen]), ages

    def calibrate_tpose(self) -> list[str]:
        return calibrate_tpose(self.buffers)

    def reset_heading(self) -> float:
        return reset_heading(self.buffers)

    # Output -------------------------------------------------------------------------
    def newest_stamp(self) -> float | None:
        stamps = [b.newest_stamp for b in self.buffers.values() if b.newest_stamp is not None]
        return max(stamps) if stamps else None

    def active_sites(self, at: float | None = None) -> list[str]:
        """Sensors whose newest sample is within the age limit of ``at`` (default: the
        newest sample of any sensor)."""
        at = self.newest_stamp() if at is None else at
        if at is None:
            return []
        return [
            site
            for site, b in self.buffers.items()
            if b.newest_stamp is not None and b.newest_stamp >= at - self.config.max_sensor_age_s
        ]

    def text_age(self, at: float) -> float | None:
        return None if self._text is None else at - self._text[1]

    def advance(self, now: float | None = None) -> list[LiveFrame]:
        """Produce every grid frame the buffered data allows. ``now`` (s, same clock as
        the stamps) lets sensors that went silent expire even when nothing else arrives."""
        newest = self.newest_stamp()
        if newest is None:
            return []
        at = self.data_now(now)
        active = self.active_sites(at)
        if not active:
            return []
        ready_until = min(self.buffers[s].newest_stamp for s in active)
        dt = 1.0 / self.fps
        if self._last_ready is not None and ready_until < self._last_ready - self.config.restart_after_s:
            self._next_t = None  # the data's clock went back (a bag looped): a new grid
            self.stats.restarts += 1
        # A gap in the data (every sensor silent for a while) starts a fresh stream; falling
        # behind while data flows is handled below by skipping (and counting) frames.
        gap = False
        if self._last_ready is not None and ready_until > self._last_ready:
            resumed = min(self.buffers[s].first_after(self._last_ready) for s in active)
            gap = resumed - self._last_ready > self.config.restart_after_s
        if self._next_t is None or gap:
            if gap:
                self.stats.restarts += 1
            self._reset_stream()
            self._next_t = ready_until
        self._last_ready = ready_until
        behind = int((ready_until - self._next_t) / dt) + 1
        if behind > self.config.max_catchup_frames:
            skip = behind - self.config.max_catchup_frames
            for k in range(skip):  # frames in a hole of the data are not lost to slowness
                t = self._next_t + k * dt
                if any(self.buffers[s].gap_at(t) <= self.config.max_sensor_age_s for s in active):
                    self.stats.dropped += 1
                else:
                    self.stats.gap_frames += 1
            self._next_t += skip * dt
            if self._steps:
                self._broken = "skip"  # the model never sees a jump in time
        out = []
        while self._next_t <= ready_until + 1e-9:
            frame = self._step(self._next_t, active, ready_until)
            if frame is not None:
                out.append(frame)
            self._next_t += dt
        return out

    def warm_up(self) -> None:
        """One throw-away step, so the first real frame does not pay for lazy initialisation."""
        self.streaming.reset()
        for _ in range(self.streaming.lookahead + 1):
            self.streaming.step(
                np.zeros((imu.NUM_SITES, 3)),
                np.broadcast_to(np.eye(3), (imu.NUM_SITES, 3, 3)),
                np.ones(imu.NUM_SITES, bool),
            )
        self.streaming.reset()

    def _reset_stream(self, count_lost: bool = True) -> None:
        """End the current stream; its frames still waiting for look-ahead are lost (counted)."""
        if count_lost and self._steps:
            self.stats.dropped += min(self.streaming.lookahead, self._steps)
        self.streaming.reset()
        self._steps, self._broken = 0, ""

    def _step(self, t: float, candidates: list[str], newest_sample: float) -> LiveFrame | None:
        acc = np.zeros((imu.NUM_SITES, 3))
        ori = np.broadcast_to(np.eye(3), (imu.NUM_SITES, 3, 3)).copy()
        present = np.zeros(imu.NUM_SITES, bool)
        for i, site in enumerate(imu.IMU_SITES):
            buffer = self.buffers[site]
            # Present only with samples close on both sides of t (or the newest just before):
            # never interpolated across a hole in that sensor's data.
            if site in candidates and buffer.gap_at(t) <= self.config.max_sensor_age_s:
                sample_acc, sample_ori = buffer.sample(np.array([t]))
                acc[i], ori[i], present[i] = sample_acc[0], sample_ori[0], True
        if not present.any():  # a hole in the data: nothing to say about this instant
            self.stats.gap_frames += 1
            if self._steps:
                self._broken = "gap"
            return None
        if self._broken:
            # counted as a restart unless frames were skipped (already counted as dropped)
            self.stats.restarts += self._broken != "skip"
            self._reset_stream()
        if self._steps == 0:
            self._grid_start = t
        text = None
        if self._text is not None and t - self._text[1] <= self.config.text_max_age_s:
            text = self._text[0]
        image, image_age = self._camera_views(t)
        pose = self.streaming.step(acc, ori, present, text, image, image_age)
        self._steps += 1
        if pose is None:
            return None
        if not (np.isfinite(pose.joints).all() and np.isfinite(pose.features).all()):
            self.stats.non_finite += 1  # a broken model or input: never published, counted
            self._broken = "non_finite"  # its state (root integration) is poisoned too
            return None
        self.stats.frames += 1
        return LiveFrame(
            stamp=self._grid_start + pose.frame / self.fps,
            frame_index=pose.frame,
            input_stamp=t,
            newest_sample=newest_sample,
            joints=pose.joints if self.feet is None else self.feet.step(pose.joints, pose.frame),
            features=pose.features,
            codes=pose.codes,
            confidence=pose.confidence,
            sites=tuple(s for s, p in zip(imu.IMU_SITES, present) if p),
            used_text=text is not None,
            used_image=image is not None,
        )


BACKENDS = ("onnxruntime", "torch")


def load_live_capture(
    weights: Path = DEFAULT_WEIGHTS,
    lookahead: int = 2,
    conventions: dict[str, ImuConvention] | None = None,
    config: LiveCaptureConfig = LiveCaptureConfig(),
    backend: str = "onnxruntime",
    threads: int = 1,
) -> tuple[LiveCapture, ModelCard]:
    """The default Ego4o model (or one from ``weights``) wrapped for live use; returns
    the capture loop and the model card (rate, window, text backend).
    onnxruntime runs a step in about half the time torch needs (``ego4o-benchmark``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    model, card = Ego4oModel.load(Path(weights) / "ego4o")
    if backend == "onnxruntime":
        predictor = OnnxEgo4o.from_model(model, card.window, threads)
    else:
        predictor = WindowPredictor("ego4o", model)  # torch's threads: torch.set_num_threads
    streaming = StreamingCapture(predictor, card.normalizer(), window=card.window, lookahead=lookahead)
    return LiveCapture(streaming, card.fps, conventions, config), card
