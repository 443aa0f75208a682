"""What a ROS user hits (issue 13): junk and floods on the text topic, bad camera stamps,
clocks that lag or jump, devices in other units, bad parameters, orphaned children."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

from ego4o_ros.graph.harness import Harness, node_arguments, ros_environment  # noqa: E402
from ego4o_ros.live.images import StampGate  # noqa: E402
from ego4o_ros.live.sensors import BACKWARDS_RESET_RUN, ImuConvention, ImuSampleBuffer  # noqa: E402
from ego4o_ros.live.text import LatestWins, LruCache, TextGate  # noqa: E402

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
IDENTITY = (0.0, 0.0, 0.0, 1.0)


def test_text_gate_refuses_junk_and_floods_and_counts_them():
    gate = TextGate(max_chars=500, min_interval_s=0.5)
    assert gate.offer("a person walks forward.", 0.0) is None
    assert gate.offer("a person waves.", 0.1) == "rate_limited"
    assert gate.offer("🕺💃🕺💃🕺💃", 1.0) == "not_text"
    assert gate.offer("ẞ∂ƒ©˙∆˚¬…æ≈ç√∫˜µ≤≥÷", 2.0) == "not_text"
    assert gate.offer("walk\x00\x01 forward", 3.0) == "not_text"
    assert gate.offer("x" * 100_000, 4.0) == "too_long"
    assert gate.offer("   ", 5.0) == "empty"
    assert gate.offer("the person runs, then stops!", 6.0) is None
    assert gate.accepted == 2 and sum(gate.rejected.values()) == 6


def test_text_caches_and_queue_are_bounded():
    cache = LruCache(3)
    for i in range(10):
        cache.put(f"text {i}", i)
    assert len(cache) == 3 and cache.get("text 0") is None and cache.get("text 9") == 9
    cache.get("text 7")
    cache.put("text 10", 10)  # the least recently used (8) goes
    assert cache.get("text 8") is None and cache.get("text 7") == 7
    slot = LatestWins()
    for i in range(3000):
        slot.put(i)
    assert slot.take() == 2999 and slot.take() is None and slot.superseded == 2999


def test_one_bad_camera_stamp_does_not_block_the_camera():
    gate = StampGate()
    assert gate.check(100.0, now=100.0) is None
    assert gate.check(1e6, now=100.1) == "stamp_in_future"  # refused, so it cannot block
    assert gate.check(100.1, now=100.1) is None
    # Without a clock yet (sim time before /clock) a far-future stamp gets in; the camera
    # recovers after a short run of frames in order.
    gate = StampGate()
    assert gate.check(1e6, now=None) is None
    results = [gate.check(200.0 + k / 30, now=None) for k in range(BACKWARDS_RESET_RUN + 2)]
    assert results[: BACKWARDS_RESET_RUN - 1] == ["stamp_backwards"] * (BACKWARDS_RESET_RUN - 1)
    assert results[BACKWARDS_RESET_RUN - 1 :] == [None] * 3 and gate.clock_resets == 1


def test_imu_clock_reset_unit_warning_and_missing_acceleration():
    buffer = ImuSampleBuffer()
    assert buffer.push(1e6, (0, 0, 9.8), IDENTITY) is None  # no clock: accepted
    results = [buffer.push(10 + k * 0.01, (0, 0, 9.8), IDENTITY) for k in range(BACKWARDS_RESET_RUN + 1)]
    assert results[-2:] == [None, None] and buffer.clock_resets == 1 and buffer.newest_stamp == pytest.approx(10.1)
    assert buffer.push(11.0, (0, 0, 9.8), IDENTITY, has_acceleration=False) == "no_acceleration"
    in_g = ImuSampleBuffer()  # a device in g, configured as m/s^2
    for k in range(60):
        in_g.push(k * 0.01, (0.0, 0.02, 1.0), IDENTITY)
    warning = in_g.unit_warning()
    assert warning and "acc_unit" in warning and "'g'" in warning
    assert in_g.unit_warning() is None  # once
    right = ImuSampleBuffer(ImuConvention(acc_unit="g"))
    for k in range(60):
        right.push(k * 0.01, (0.0, 0.02, 1.0), IDENTITY)
    assert right.unit_warning() is None


def test_sensors_whose_stamps_lag_the_clock_are_not_stale():
    """Stamps 0.3 s behind the receiver's clock while samples flow: present; once they stop
    arriving, absent as the clock moves on (staleness judged on the data clock)."""
    from ego4o_ros.live.capture import load_live_capture

    live, _ = load_live_capture(lookahead=0)
    for k in range(100):
        stamp = k * 0.01
        live.push_imu("head", stamp, (0, 0, 9.8), IDENTITY, now=stamp + 0.3)
    assert live.active_sites(live.data_now(0.99 + 0.3)) == ["head"]
    assert live.advance(now=0.99 + 0.3)  # frames flow
    assert live.active_sites(live.data_now(0.99 + 0.3 + 0.5)) == []  # silent for 0.5 s


@pytest.mark.parametrize(
    "override,expected",
    [
        ("max_sensor_age:=-1.0", "max_sensor_age = -1.0 must be within"),
        ("imu_sites:=[]", "imu_sites"),
        ("imu.head.acc_unit:=ft", "must be one of"),
        ("lookahead_frames:=abc", "lookahead_frames"),
    ],
)
def test_bad_parameters_end_the_node_with_one_line(override, expected):
    result = subprocess.run(
        [sys.executable, "-m", "ego4o_ros.nodes.fusion_node", "--ros-args", "-p", override],
        capture_output=True,
        text=True,
        timeout=120,
        env=ros_environment(),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 2


def test_broken_params_file_and_misspelled_keys(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("fusion:\n  ros__parameters:\n    max_sensor_age: [0.1\n")
    result = subprocess.run(
        [sys.executable, "-m", "ego4o_ros.tools.capture", "--params", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ros_environment(),
    )
    assert result.returncode != 0 and "not valid YAML" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "ego4o_ros.tools.capture", "--clip", str(tmp_path / "none.bvh")],
        capture_output=True,
        text=True,
        timeout=120,
        env=ros_environment(),
    )
    assert result.returncode != 0 and "no such file" in result.stderr and "Traceback" not in result.stderr
    # A misspelled key is named, with the likely meant one.
    from ego4o_ros.nodes.common import declare, warn_unknown_parameters

    with Harness() as graph:
        node = graph.create_node("typo_probe", cli_args=["--ros-args", "-p", "max_sensr_age:=0.3"])
        declare(node, "max_sensor_age", 0.15, "s")
        assert warn_unknown_parameters(node) == ["max_sensr_age"]


def test_paths_reach_nodes_unmangled():
    """A clip called ``walk #1.bvh``: '#' starts a YAML comment unless the value is quoted."""
    from ego4o_ros.graph import capture_graph

    spec = next(s for s in capture_graph() if s.name == "wearable_replay")
    args = node_arguments(
        REPO / "config" / "capture.yaml", spec, {"wearable_replay": {"clip": "/data/walk #1.bvh", "speed": 2.0}}
    )
    with Harness() as graph:
        node = graph.create_node("quote_probe", cli_args=args)
        assert node.declare_parameter("clip", "").value == "/data/walk #1.bvh"
        assert node.declare_parameter("speed", 1.0).value == 2.0


def test_children_die_with_their_parent():
    """``kill -9`` of the parent (ego4o-capture) takes its node processes with it."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\n"
                "from ego4o_ros.graph.harness import start_child\n"
                "child = start_child([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
                "print(child.pid, flush=True)\n"
                "time.sleep(120)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A zombie reparented to init is reaped quickly; a live orphan stays.
        state = Path(f"/proc/{child}/stat").read_text().split()[2] if Path(f"/proc/{child}/stat").exists() else "X"
        if state in ("Z", "X"):
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its parent")
