"""Torch models of Ego4o (ROS-free): part-aware VQ-VAE, fusion encoder, the LSTM peer,
the code captioner, test-time optimisation, streaming and ONNX faces.

The API most callers need::

    from ego4o_ros.models import Ego4oModel, StreamingCapture, WindowPredictor, load_baseline
"""

from .checkpoint import CheckpointError, ModelCard
from .ego4o import Ego4oModel
from .fusion_encoder import EncoderConfig, FusionEncoder
from .lstm_baseline import BaselineConfig, LstmBaseline
from .online import StreamingCapture
from .part_vqvae import PartVQVAE, VqvaeConfig
from .predictors import WindowPredictor, load_baseline, load_vqvae

__all__ = [
    "BaselineConfig",
    "CheckpointError",
    "EncoderConfig",
    "Ego4oModel",
    "FusionEncoder",
    "LstmBaseline",
    "ModelCard",
    "PartVQVAE",
    "StreamingCapture",
    "VqvaeConfig",
    "WindowPredictor",
    "load_baseline",
    "load_vqvae",
]
