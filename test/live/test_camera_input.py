"""The live camera input encodes one frame per model step: the view the model reads, as it
was trained and evaluated (``core/camera_views``); the other frames are counted, not encoded."""

import numpy as np

from ego4o_ros.core.camera_views import VIEW_FRAMES
from ego4o_ros.live.camera import CameraEncoder
from ego4o_ros.live.fusion import CameraInput

FPS = 30.0


class MeanColour:
    """An image encoder in the shape the capture's take (frames -> features)."""

    def encode(self, frames):
        return np.asarray(frames, np.float32).mean(axis=(1, 2))


def offer_frames(step_s: float, stamps) -> tuple[list[float], CameraInput]:
    encoded = []
    camera = CameraInput(CameraEncoder(MeanColour(), lambda features, stamp: encoded.append(stamp)), step_s)
    for stamp in stamps:
        assert camera.offer(stamp, None, lambda: np.full((8, 8, 3), 7, np.uint8), None, stamp) is None
        assert camera.encoder.wait_idle()
    camera.close()
    return encoded, camera


def test_a_30_hz_camera_is_encoded_once_per_model_step():
    stamps = 100.0 + np.arange(120) / FPS + np.random.default_rng(0).normal(0, 0.002, 120)  # 4 s, jittered
    encoded, camera = offer_frames(VIEW_FRAMES / FPS, stamps)
    steps = np.floor(np.array(encoded) / (VIEW_FRAMES / FPS))
    assert len(set(steps)) == len(steps)  # never two in one step
    assert len(encoded) == len(set(np.floor(stamps / (VIEW_FRAMES / FPS))))  # nor a step left out
    assert camera.received == 120 and camera.not_encoded == 120 - len(encoded)
    assert np.diff(encoded).max() < 2 * VIEW_FRAMES / FPS


def test_a_slower_camera_is_encoded_whole_and_step_zero_encodes_every_frame():
    slow = 50.0 + np.arange(40) / 5.0  # 5 Hz: slower than the model's 7.5 steps per second
    assert offer_frames(VIEW_FRAMES / FPS, slow)[0] == list(slow)
    fast = 50.0 + np.arange(40) / FPS
    assert offer_frames(0.0, fast)[0] == list(fast)
