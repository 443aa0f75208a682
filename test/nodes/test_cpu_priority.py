"""A node process can step back on a busy machine: ``lower_cpu_priority`` changes every
thread of its process (those started before, as DDS's are, and those started after), and
the captioning node runs on the CPU time the capture path leaves by default. Checked in
child processes: a process cannot step forward again, and this one runs the other tests."""

import os
import subprocess
import sys
import time

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 47) % 100))

from ego4o_ros.graph.description import capture_graph
from ego4o_ros.graph.harness import Harness
from ego4o_ros.nodes.common import lower_cpu_priority

CHILD = """
import os, sys, threading, time
from ego4o_ros.nodes.common import lower_cpu_priority
stop = threading.Event()
before = threading.Thread(target=stop.wait); before.start()
lower_cpu_priority(sys.argv[1])
after = threading.Thread(target=stop.wait); after.start()
time.sleep(0.1)
tids = [int(t) for t in os.listdir("/proc/self/task")]
policies = {os.sched_getscheduler(t) for t in tids}
nice = {os.getpriority(os.PRIO_PROCESS, t) for t in tids}
stop.set()
print(len(tids), sorted(policies) == [os.SCHED_IDLE], sorted(nice)[0], sorted(nice)[-1])
"""


def child(priority: str) -> tuple[int, bool, int, int]:
    output = subprocess.run([sys.executable, "-c", CHILD, priority], capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    threads, idle, lowest, highest = output.stdout.split()
    return int(threads), idle == "True", int(lowest), int(highest)


def test_every_thread_of_the_process_steps_back():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    threads, idle, *_ = child("idle")
    assert threads >= 3 and idle  # the two test threads and the main one, at least
    assert child("low")[1:] == (False, min(19, base + 10), min(19, base + 10))
    assert child("normal")[1:] == (False, base, base)
    with pytest.raises(ValueError, match="one of"):
        lower_cpu_priority("urgent")


@pytest.mark.ros
def test_the_captioning_node_runs_on_the_time_the_capture_path_leaves():
    spec = next(s for s in capture_graph() if s.name == "captioning")
    with Harness(overrides={"captioning": {"backend": "codes"}}) as graph:
        graph.create_node("cpu_priority_observer")
        child = graph.start_process(spec)
        assert not graph.wait_ready({"captioning"}, 60)
        deadline = time.monotonic() + 30
        while (policy := os.sched_getscheduler(child.process.pid)) != os.SCHED_IDLE and time.monotonic() < deadline:
            time.sleep(0.1)  # it steps back once built
    assert policy == os.SCHED_IDLE  # config/capture.yaml: cpu_priority idle
