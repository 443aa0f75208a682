"""The whole capture graph, described, run and measured.

``description`` (no rclpy: the launch file reads it) says which nodes make the graph;
``harness`` runs nodes in one process tree (rclpy, executor, child processes, readiness,
spinning, draining, teardown), for ``runner`` (``ego4o-capture``), both benchmarks and the ROS
tests; ``benchmark`` measures the running graph; ``fault_benchmark`` measures it under faults,
in three parts: ``fault_run`` (relay, injection, supervision), its measures
(``analysis/faults.py``) and ``fault_report`` (targets, table).
"""

from .description import NodeSpec, capture_graph, retarget_overrides

__all__ = ["NodeSpec", "capture_graph", "retarget_overrides"]
