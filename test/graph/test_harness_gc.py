"""A node built in a harness freezes what is alive then (no full garbage collection walks the
~570k objects of torch and the models: a 150-300 ms stall of the executor each), and the
harness gives them back to the collector when it closes (the process may go on: a test run)."""

import gc
import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 40) % 100))

import pytest

from ego4o_ros.graph.description import capture_graph, retarget_overrides
from ego4o_ros.graph.harness import Harness

pytestmark = pytest.mark.ros


def test_a_node_built_in_a_harness_is_frozen_until_the_harness_closes():
    spec = next(s for s in capture_graph(robot="g1") if s.name == "retarget")
    with Harness(overrides=retarget_overrides("g1")) as graph:
        graph.start_node(spec)
        assert gc.get_freeze_count() > 10_000  # the modules, the robot model, the node
    assert gc.get_freeze_count() == 0
