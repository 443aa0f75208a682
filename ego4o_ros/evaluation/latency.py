"""Per-step latency of online capture (``ego4o-benchmark``): ``StreamingCapture.step`` (one
new IMU frame in, one pose out) with the torch model and with its onnxruntime export, for
1, 2 and 3 IMUs; p50/p99/max in ms."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..core import imu, rotations
from ..models import Ego4oModel, WindowPredictor
from ..models.online import StreamingCapture
from ..models.onnx_export import OnnxEgo4o, export_ego4o


def step_latencies(capture: StreamingCapture, sites: list[int], steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    present = np.zeros(imu.NUM_SITES, bool)
    present[sites] = True
    acc = rng.normal(0, 2, (steps, imu.NUM_SITES, 3)) + [0, imu.GRAVITY, 0]
    ori = rotations.axis_angle_to_matrix(rng.normal(0, 0.5, (steps, imu.NUM_SITES, 3)))
    capture.reset()
    times = np.empty(steps)
    for i in range(steps):
        started = time.perf_counter()
        capture.step(acc[i], ori[i], present)
        times[i] = time.perf_counter() - started
    return times[capture.window :] * 1000  # after the window has filled


def latency_table(weights: Path, steps: int = 600, lookahead: int = 5, threads: int = 1) -> str:
    """The benchmark's table (markdown) for the capture model in ``weights``."""
    model, card = Ego4oModel.load(Path(weights) / "ego4o")
    normalizer, window = card.normalizer(), card.window
    lines = [
        f"online step latency, window {window} frames, look-ahead {lookahead}, {threads} thread(s), {steps} steps",
        "backend | IMUs | p50 ms | p99 ms | max ms",
        "--- | --- | --- | --- | ---",
    ]
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = export_ego4o(model, Path(folder) / "ego4o.onnx", window=window)
        backends = {"torch": WindowPredictor("ego4o", model), "onnxruntime": OnnxEgo4o(onnx_path, threads)}
        for name, predictor in backends.items():
            capture = StreamingCapture(predictor, normalizer, window=window, lookahead=lookahead)
            for count, sites in ((1, [0]), (2, [0, 3]), (3, [0, 1, 4])):
                ms = step_latencies(capture, sites, steps + window)
                lines.append(
                    f"{name} | {count} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} | {ms.max():.2f}"
                )
    return "\n".join(lines)
