"""What measures the models (ROS-free; ``tools/`` are the front ends, nothing that runs
imports it).

* ``clips``: the takes a measurement runs on (loading, stratified samples, IMU
  combinations, rendered camera views);
* ``scoring``: a clip's ground truth in each window's frame and the scores against it;
* ``evaluator``: every capture method on clips (``Evaluator``, the models as ``Methods``,
  the LM loop's description);
* ``tables``: the per-group tables and their Markdown;
* ``run``: one evaluation (``EvaluationConfig`` -> ``evaluate``; ``ego4o-evaluate``),
  its fork pool;
* ``captions``: the captioners' evaluation (``ego4o-caption-eval``);
* ``feedback_calibration``: the LM loop's feedback threshold (``ego4o-calibrate-feedback``).
"""

from .captions import CaptionEvaluationConfig, evaluate_captions
from .clips import EvalClip, load_clips
from .evaluator import Evaluator, Methods
from .feedback_calibration import CalibrationConfig, calibrate_feedback
from .run import EvaluationConfig, evaluate
from .tables import format_table

__all__ = [
    "CaptionEvaluationConfig",
    "CalibrationConfig",
    "EvalClip",
    "EvaluationConfig",
    "Evaluator",
    "Methods",
    "calibrate_feedback",
    "evaluate",
    "evaluate_captions",
    "format_table",
    "load_clips",
]
