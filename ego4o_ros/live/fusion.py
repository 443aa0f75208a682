"""What the fusion node runs, ROS-free: the capture loop with its three inputs (IMUs, the
head camera, descriptions) and the status the node publishes on ``/diagnostics``.

``load_fusion`` builds it from a weights folder: the capture model (``load_live_capture``),
the text encoder the model was trained with (``TextInput``, when descriptions are used) and
its image encoder (``CameraEncoder``, when the model takes images). The node converts
messages and calls ``push_imu`` / ``offer_image`` / ``offer_text`` / ``advance``;
``statuses`` says, per sensor, camera and for the whole capture, what is present and what
was refused (counted by reason).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.camera_views import VIEW_FRAMES
from ..core.diagnostics import OK, STALE, WARN, Status
from ..models.feature_encoders import make_text_encoder
from ..models.image_model import image_encoder_of
from ..paths import DEFAULT_WEIGHTS
from . import images
from .calibration import Calibration, CalibrationConfig
from .camera import CameraEncoder
from .capture import LiveCapture, LiveCaptureConfig, load_live_capture
from .feet import FootContactConfig, FootContactStage
from .sensors import REJECT_REASONS, ImuConvention
from .text import TEXT_REJECT_REASONS, TextGate, TextInput

IMAGE_REJECT_REASONS = ("unsupported_encoding", "bad_size", "corrupt", "stamp_backwards", "stamp_in_future")


class CameraInput:
    """Camera frames offered by the node: checked (encoding, size, stamps: the IMU rules),
    counted, and handed to the image encoder when the model takes images: the first frame
    of each ``step_s`` of stamps (a model step; 0 = every frame). The model reads one view per
    step, as it was trained and evaluated (``core/camera_views``), so encoding a 30 Hz camera's
    other three frames would be three quarters of the encoder's CPU for nothing."""

    def __init__(self, encoder: CameraEncoder | None, step_s: float = 0.0):
        self.encoder = encoder
        self.step_s = step_s
        self.gate = images.StampGate()
        self.rejected = {reason: 0 for reason in IMAGE_REJECT_REASONS}
        self.received = 0
        self.not_encoded = 0  # accepted frames in a step that already had one encoded
        self._encoded_step: int | None = None
        self.newest: tuple[float, float] | None = None  # (stamp, arrival on the receiver's clock)

    def offer(self, stamp: float, reason: str | None, decode, clock: float | None, arrival: float) -> str | None:
        """None if the frame (``decode()`` -> HxWx3 uint8) is accepted, else why not (counted).
        ``reason``: what the message check already found wrong; ``clock``: the receiver's clock
        (None while sim time has not started)."""
        if reason is None:  # future stamps refused, a clock that went back recovers
            reason = self.gate.check(stamp, clock)
        if reason:
            self.rejected[reason] += 1
            return reason
        self.received += 1
        self.newest = (stamp, arrival)
        if self.encoder is not None:
            step = int(np.floor(stamp / self.step_s)) if self.step_s > 0 else None
            if step is not None and step == self._encoded_step:
                self.not_encoded += 1
                return None
            self._encoded_step = step
            self.encoder.submit(stamp, decode)
        return None

    def close(self) -> None:
        if self.encoder is not None:
            self.encoder.close()


class Fusion:
    """The capture loop and its camera and text inputs; ``published`` / ``publish_errors``
    are counted by whoever publishes the frames."""

    def __init__(self, capture: LiveCapture, camera: CameraInput, text: TextInput | None):
        self.capture, self.camera, self.text = capture, camera, text
        self.published = self.publish_errors = 0
        self.calibration: Calibration | None = None  # the guided calibration, once started
        # Grounded feet, on by default (docs/evaluation.md, "Feet").
        self.feet = FootContactStage(FootContactConfig(fps=capture.fps))

    @property
    def feet(self) -> FootContactStage | None:
        """The contact-aware output stage (``live/feet.py``) every captured frame passes before
        it is returned (``capture.advance``, so however the node asks for frames) and published
        or retargeted; set None for the frames as captured."""
        return self.capture.feet

    @feet.setter
    def feet(self, stage: FootContactStage | None) -> None:
        self.capture.feet = stage

    def start_calibration(self, config: CalibrationConfig = CalibrationConfig()) -> str:
        """Start the guided calibration (``live/calibration.py``); returns what to tell the person."""
        self.calibration = Calibration(config)
        return self.calibration.instructions

    def advance(self, clock: float | None) -> tuple[list, list[str]]:
        """The frames ready now (``LiveCapture.advance``, through ``feet`` when set) and the
        calibration's lines to log."""
        frames_out = self.capture.advance(now=clock)
        lines = []
        if self.calibration is not None and not self.calibration.finished:
            lines = self.calibration.update(self.capture.buffers, self.capture.data_now(clock))
        return frames_out, lines

    def push_imu(self, site: str, stamp: float, acc, quat_xyzw, frame_id: str = "", **kwargs) -> list[tuple[str, str]]:
        """One IMU sample (``LiveCapture.push_imu``); returns warnings worth logging once
        each, as (key, message): a device that sends no orientation or no acceleration, or
        readings in another unit than declared."""
        self.capture.push_imu(site, stamp, acc, quat_xyzw, frame_id, **kwargs)
        warnings = []
        if not kwargs.get("has_orientation", True):
            message = "orientation not provided (orientation_covariance[0] = -1); the model needs it"
            warnings.append((f"{site}:orientation", f"imu {site}: {message}: its samples are dropped"))
        if not kwargs.get("has_acceleration", True):
            message = "linear acceleration not provided (linear_acceleration_covariance[0] = -1)"
            warnings.append((f"{site}:acceleration", f"imu {site}: {message}: its samples are dropped"))
        unit = self.capture.buffers[site].unit_warning()
        if unit:
            warnings.append((f"{site}:unit", f"imu {site}: {unit}"))
        return warnings

    def offer_text(self, text: str, now: float, stamp: float | None) -> str | None:
        """A description (None if accepted, else why not); aged on the data's clock, like the
        frames it is used for (bags replay old stamps): ``stamp`` when there is no data yet."""
        if self.text is None:
            return "unused"
        return self.text.offer(text, now, self.capture.newest_stamp() or stamp)

    def frame_published(self, now: float, frame) -> None:
        self.published += 1
        self.capture.stats.latencies_s.append(now - frame.newest_sample)

    def close(self) -> None:
        if self.text is not None:
            self.text.close()
        self.camera.close()

    def statuses(self, clock: float | None, now: float) -> list[Status]:
        """Per IMU site, the camera, and the capture as a whole. ``clock``: the receiver's
        clock (None before sim time starts), ``now``: it or the wall clock."""
        capture, camera = self.capture, self.camera
        # Staleness on the data clock (stamps that lag the receiver's clock are not stale),
        # and a sensor whose messages stopped arriving goes stale as the clock moves on.
        data_now = capture.data_now(clock)
        active = capture.active_sites(data_now) if data_now is not None else []
        out = []
        for site, buffer in capture.buffers.items():
            age = None if buffer.newest_stamp is None or data_now is None else data_now - buffer.newest_stamp
            message = "active" if site in active else ("never seen" if age is None else "absent (stale)")
            values = {
                "rate_hz": f"{buffer.rate_hz():.1f}",
                "age_s": "" if age is None else f"{age:.3f}",
                "accepted": str(buffer.accepted),
                "clock_resets": str(buffer.clock_resets),
                **{f"rejected_{r}": str(buffer.rejected[r]) for r in REJECT_REASONS},
            }
            out.append(Status(f"ego4o fusion: imu {site}", OK if site in active else STALE, message, values))
        camera_age = None
        if camera.newest is not None:  # on the data clock when there is one, like the IMUs
            has_data = data_now is not None and capture.newest_stamp()
            camera_age = (data_now - camera.newest[0]) if has_data else now - camera.newest[1]
        camera_present = camera_age is not None and camera_age <= capture.config.image_max_age_s
        encoder = camera.encoder
        if not camera_present:
            camera_message = "never seen" if camera.newest is None else "absent (stale)"
        else:
            camera_message = "active" if encoder else "active (image token masked: the capture model takes no image)"
        camera_values = {
            "age_s": "" if camera_age is None else f"{camera_age:.3f}",
            "received": str(camera.received),
            "clock_resets": str(camera.gate.clock_resets),
            **{f"rejected_{r}": str(n) for r, n in camera.rejected.items()},
        }
        if encoder is not None:
            camera_values |= {
                "encoded": str(encoder.encoded),
                "encoded_rate_hz": f"{encoder.rate_hz():.1f}",
                "encode_p50_ms": f"{encoder.encode_ms(50):.2f}",
                "encode_p99_ms": f"{encoder.encode_ms(99):.2f}",
                "superseded": str(encoder.superseded),
                "not_encoded_same_step": str(camera.not_encoded),
                "encode_errors": str(encoder.errors),
            }
        out.append(Status("ego4o fusion: camera", OK if camera_present else STALE, camera_message, camera_values))
        out.append(self._capture_status(active, data_now if data_now is not None else now, camera_present))
        if self.calibration is not None:
            out.append(Status("ego4o fusion: calibration", *self.calibration.status()))
        return out

    def _capture_status(self, active: list[str], at: float, camera_present: bool) -> Status:
        capture, stats, text = self.capture, self.capture.stats, self.text
        latencies = np.array(stats.latencies_s) * 1000 if stats.latencies_s else np.array([np.nan])
        text_age = capture.text_age(at)
        modalities = [f"imu:{s}" for s in active]
        modalities += ["text"] if text_age is not None and text_age <= capture.config.text_max_age_s else []
        if camera_present:
            modalities += ["image"] if self.camera.encoder else ["image(masked: no image input)"]
        values = {
            "active_modalities": " ".join(modalities),
            "frames_published": str(self.published),
            "dropped_frames": str(stats.dropped),
            "gap_frames": str(stats.gap_frames),
            "non_finite_frames": str(stats.non_finite),
            "publish_errors": str(self.publish_errors),
            "stream_restarts": str(stats.restarts),
            "latency_p50_ms": f"{np.percentile(latencies, 50):.2f}",
            "latency_p99_ms": f"{np.percentile(latencies, 99):.2f}",
            "descriptions_received": str(stats.texts),
            "text_age_s": "" if text_age is None else f"{text_age:.2f}",
            "descriptions_superseded": str(text.superseded if text else 0),
            "text_errors": str(text.errors if text else 0),
            **{f"descriptions_rejected_{r}": str(text.gate.rejected[r] if text else 0) for r in TEXT_REJECT_REASONS},
            "images_received": str(self.camera.received),
            **{f"images_rejected_{r}": str(n) for r, n in self.camera.rejected.items()},
        }
        message = "capturing" if active else "no sensor"
        return Status("ego4o fusion: capture", OK if active else WARN, message, values)


def load_fusion(
    weights: Path | None = None,
    lookahead: int = 2,
    conventions: dict[str, ImuConvention] | None = None,
    config: LiveCaptureConfig = LiveCaptureConfig(),
    backend: str = "onnxruntime",
    threads: int = 1,
    use_text: bool = True,
    use_image: bool = True,
    text_gate: TextGate | None = None,
) -> Fusion:
    """The default models (or those in ``weights``), warmed up: the capture model, its text
    encoder (``use_text``) and its image encoder (``use_image`` and a model that takes images)."""
    weights = Path(weights) if weights else DEFAULT_WEIGHTS
    capture, card = load_live_capture(weights, lookahead, conventions, config, backend, threads)
    capture.warm_up()
    text = TextInput(make_text_encoder(card.text_backend), capture.set_text, text_gate) if use_text else None
    image_encoder = image_encoder_of(weights, card) if use_image else None
    camera = CameraInput(
        CameraEncoder(image_encoder, capture.set_image) if image_encoder is not None else None,
        step_s=VIEW_FRAMES / capture.fps,
    )
    return Fusion(capture, camera, text)
