"""Recordings, analysed: a bag -> offline motion, descriptions, a bag to look at, arrays
and a report, without ROS (never imports rclpy).

``analyze_bags(bags, out, AnalysisConfig(), jobs=2)`` (``ego4o-analyze``) for many bags;
``Analyzer(config).analyze(bag, out_dir)`` for one. Stages: ``reading`` (rosbag2 MCAP /
sqlite3 or ROS 1, the fusion node's per-sensor conventions, killed bags repaired),
``resample`` (the model grid with presence), ``pipeline`` (offline capture on the
whole recording, descriptions, scores), ``writing`` (MCAP + npz + CSV), ``report``
(HTML with figures), ``batch`` (resumable, parallel), ``benchmark``
(``ego4o-analyze-benchmark``).
"""

from .batch import analyze_bags, analyze_one
from .pipeline import AnalysisConfig, Analyzer

__all__ = ["AnalysisConfig", "Analyzer", "analyze_bags", "analyze_one"]
