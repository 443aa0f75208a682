"""The whole capture graph, described, run and measured.

``description`` (no rclpy: the launch file reads it) says which nodes make the graph;
``harness`` runs nodes in one process tree; ``runner`` is ``ego4o-capture``;
``benchmark`` and ``fault_benchmark`` measure the running graph.
"""

from .description import NodeSpec, capture_graph, retarget_overrides

__all__ = ["NodeSpec", "capture_graph", "retarget_overrides"]
