"""Export a window model to ONNX and run it with onnxruntime (the online fast path)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .ego4o import Ego4oModel

INPUTS = ["imu", "present", "text", "text_present", "image", "image_present", "image_step"]


class _Ego4oWindow(torch.nn.Module):
    """Ego4o with every input explicit (ONNX has no optional inputs): text, image and their
    presence flags are always given; an absent one is a zero vector flagged False."""

    def __init__(self, model: Ego4oModel):
        super().__init__()
        self.model = model

    def forward(self, imu_inputs, present, text, text_present, image, image_present, image_step):
        return self.model(imu_inputs, present, text, text_present, image, image_present, image_step)


def export_ego4o(model: Ego4oModel, path: str | Path, window: int = 64, opset: int = 17) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text_dim, image_dim = model.encoder_config.text_dim, model.encoder_config.image_dim
    views = model.encoder_config.image_views  # a fixed axis: fewer frames are padded, masked
    example = (
        torch.zeros(1, window, 5, 9),
        torch.ones(1, window, 5, dtype=torch.bool),
        torch.zeros(1, text_dim),
        torch.zeros(1, dtype=torch.bool),
        torch.zeros(1, views, image_dim),
        torch.zeros(1, views, dtype=torch.bool),
        torch.zeros(1, views, dtype=torch.long),
    )
    torch.onnx.export(
        _Ego4oWindow(model).eval(),
        example,
        str(path),
        opset_version=opset,
        dynamo=False,
        input_names=INPUTS,
        output_names=["features", "codes", "confidence"],
        dynamic_axes={name: {0: "batch"} for name in (*INPUTS, "features", "codes", "confidence")},
    )
    return path


class OnnxEgo4o:
    """onnxruntime session with the ``WindowPredictor.predict`` signature."""

    name, uses_text = "ego4o_onnx", True

    @classmethod
    def from_model(cls, model: Ego4oModel, window: int, threads: int = 1) -> OnnxEgo4o:
        """Export to a temporary file and load it (about half a second), so the ONNX
        face can never be stale against the weights it was made from."""
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shape checks, expected here
            return cls(export_ego4o(model, Path(folder) / "ego4o.onnx", window=window), threads)

    def __init__(self, path: str | Path, threads: int = 1):
        import onnxruntime

        if not Path(path).exists():
            raise FileNotFoundError(f"ONNX model missing: {path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.text_dim, self.image_views, self.image_dim = inputs[2].shape[1], inputs[4].shape[1], inputs[4].shape[2]
        self.last_confidence: np.ndarray | None = None  # (N, T', parts), as WindowPredictor keeps it

    def predict(
        self, imu_inputs, present, text=None, text_present=None, image=None, image_present=None, image_step=None
    ):
        batch = len(imu_inputs)
        if text is None:
            text, text_present = np.zeros((batch, self.text_dim), np.float32), np.zeros(batch, bool)
        image, image_present, image_step = self._views(
            batch, np.asarray(imu_inputs).shape[1] // 4, image, image_present, image_step
        )
        features, ids, self.last_confidence = self.session.run(
            None,
            {
                "imu": np.asarray(imu_inputs, np.float32),
                "present": np.asarray(present, bool),
                "text": np.asarray(text, np.float32),
                "text_present": np.ones(batch, bool) if text_present is None else np.asarray(text_present, bool),
                "image": np.asarray(image, np.float32),
                "image_present": image_present,
                "image_step": image_step,
            },
        )
        return features, ids

    def _views(self, batch: int, steps: int, image, image_present, image_step) -> tuple:
        """Image inputs at the exported view count: (B, D) is one view; fewer views than
        exported are padded with masked ones (the model ignores them); no step = the last."""
        k = self.image_views
        if image is None:
            image, image_present = np.zeros((batch, 0, self.image_dim), np.float32), np.zeros((batch, 0), bool)
        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[:, None]
            image_present = None if image_present is None else np.asarray(image_present)[:, None]
            image_step = None if image_step is None else np.asarray(image_step)[:, None]
        views = image.shape[1]
        present = np.ones((batch, views), bool) if image_present is None else np.asarray(image_present, bool)
        step = np.full((batch, views), steps - 1) if image_step is None else np.asarray(image_step)
        if views > k:
            raise ValueError(f"this ONNX model takes at most {k} camera frames per window, got {views}")
        pad = k - views
        return (
            np.concatenate([image, np.zeros((batch, pad, self.image_dim), np.float32)], 1),
            np.concatenate([present, np.zeros((batch, pad), bool)], 1),
            np.concatenate([step, np.full((batch, pad), steps - 1)], 1).astype(np.int64),
        )
