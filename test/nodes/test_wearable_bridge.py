"""Real devices' wire formats, over real sockets from a separate process, through the real
wearable bridge into the real fusion node (localhost discovery, this run's own domain):
IMUPoser UDP lines and Sensor Logger HTTP batches from a phone, a watch whose clock is 7 s
ahead and earbuds that stop for 2 s, with 1,000 malformed packets. joint_states come out at
30 Hz stamped on the receiver's clock, the silence is reported and not filled in, every
malformed packet is counted by its reason. The same Sensor Logger batches published over
MQTT (WebSockets, QoS 0) to a real broker on loopback, which the bridge subscribes to."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 70) % 100))

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402

from ego4o_ros.graph.description import bridge_overrides, capture_graph  # noqa: E402
from ego4o_ros.graph.harness import Harness, merge_overrides  # noqa: E402
from ego4o_ros.nodes.common import reliable_qos, sensor_qos, to_seconds  # noqa: E402

pytestmark = pytest.mark.ros

SENDER = Path(__file__).with_name("wearable_sender.py")
SITES = ("right_pocket", "left_wrist", "head")


def run_graph(
    profile: str, bridge_parameters: dict, sender: str | None = None, sender_ports=None, before_sending=None
) -> dict:
    """The bridge and the fusion node, then ``before_sending(graph, bridge)``, then the sender."""
    specs = {s.name: s for s in capture_graph(record=False, bridge=profile)}
    overrides = merge_overrides(
        bridge_overrides(profile),
        {
            "wearable_bridge": {"diagnostics_period": 0.25, **bridge_parameters},
            "fusion": {"use_text": False, "use_image": False, "diagnostics_period": 0.25},
        },
    )
    received = {"joint_states": [], "diagnostics": [], **{site: [] for site in SITES}}
    with Harness(overrides=overrides) as graph:
        probe = graph.create_node("bridge_probe")
        probe.create_subscription(JointState, "joint_states", received["joint_states"].append, reliable_qos(500))
        probe.create_subscription(DiagnosticArray, "/diagnostics", received["diagnostics"].append, reliable_qos(100))
        for site in SITES:
            probe.create_subscription(Imu, f"imu/{site}", received[site].append, sensor_qos(1000))
        fusion = graph.start_node(specs["fusion"])
        bridge = graph.start_node(specs["wearable_bridge"])
        graph.spin(0.5)  # discovery
        if before_sending is not None:
            before_sending(graph, bridge)
        sender = graph.start_command(
            [sys.executable, str(SENDER), sender or profile, *map(str, sender_ports or bridge.ports)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert graph.spin_until(lambda: sender.poll() is not None, timeout_s=40.0), "the sender did not finish"
        assert sender.returncode == 0
        graph.drain(1.0)
        summary = json.loads(sender.stdout.read().strip().splitlines()[-1])
        return {"summary": summary, "received": received, "bridge": bridge.bridge, "fusion": fusion.fusion}


def statuses(received, name):
    return [s for d in received["diagnostics"] for s in d.status if s.name == name]


def check_capture(run):
    summary, received, fusion = run["summary"], run["received"], run["fusion"]
    states = np.array([to_seconds(s.header.stamp) for s in received["joint_states"]])
    start, end = summary["start"], summary["start"] + 7.0
    # 30 Hz on the grid for the whole run (the earbuds' silence does not stop it). A frame the
    # fusion node skips because it fell behind (this machine is shared) leaves a whole step out.
    steps = np.diff(states) * 30
    np.testing.assert_allclose(steps, np.round(steps), atol=3e-3)
    assert np.all(steps >= 1 - 1e-3)
    assert len(states) >= 0.8 * 30 * 7.0 and (states[-1] - states[0]) >= 6.5
    assert len(states) + fusion.capture.stats.dropped >= 0.95 * 30 * (states[-1] - states[0])
    # on the receiver's clock, where the samples were measured (not 7 s off with the watch)
    assert start - 0.1 <= states[0] and states[-1] <= end + 0.1
    # every published sample reached the fusion node and was taken: the watch's too
    for site in SITES:
        buffer = fusion.capture.buffers[site]
        assert buffer.accepted == len(received[site]) == summary["sent"][site], site
        assert sum(buffer.rejected.values()) == 0, (site, buffer.rejected)
        stamps = np.array([to_seconds(m.header.stamp) for m in received[site]])
        assert start - 0.05 <= stamps[0] and stamps[-1] <= end + 0.05
    # the earbuds' silence: nothing published inside it, and reported while it lasted
    head = np.array([to_seconds(m.header.stamp) for m in received["head"]])
    gap_start, gap_end = summary["gap"]
    assert not np.any((head > gap_start + 0.05) & (head < gap_end - 0.05))
    assert np.diff(head).max() == pytest.approx(2.0, abs=0.1)
    airpods = statuses(received, "ego4o bridge: airpods")
    assert any(s.level == DiagnosticStatus.STALE and s.message.startswith("silent for") for s in airpods)
    last = {kv.key: kv.value for kv in airpods[-1].values}
    assert last["gaps"] == "1" and float(last["longest_gap_s"]) == pytest.approx(2.0, abs=0.15)
    head_in_fusion = statuses(received, "ego4o fusion: imu head")
    assert {"active", "absent (stale)"} <= {s.message for s in head_in_fusion}


def refused_counts(bridge):
    counts = dict(bridge.refused)
    for state in bridge.devices.values():
        for reason, n in state.refused.items():
            counts[reason] = counts.get(reason, 0) + n
    return {reason: n for reason, n in counts.items() if n}


def test_imuposer_udp_lines_from_three_devices_into_fusion():
    run = run_graph("imuposer", {"udp_ports": [0, 0, 0]})
    check_capture(run)
    summary = run["summary"]
    assert summary["bad_sent"] == 1000
    assert refused_counts(run["bridge"]) == summary["bad"]
    watch = {kv.key: kv.value for kv in statuses(run["received"], "ego4o bridge: apple_watch")[-1].values}
    phone = {kv.key: kv.value for kv in statuses(run["received"], "ego4o bridge: iphone")[-1].values}
    assert float(phone["clock_offset_s"]) - float(watch["clock_offset_s"]) == pytest.approx(7.0, abs=0.02)
    assert float(watch["rate_hz"]) == pytest.approx(50.0, abs=2.0)


def test_sensor_logger_http_batches_from_three_devices_into_fusion():
    run = run_graph("sensor_logger", {"http_port": 0})
    check_capture(run)
    summary = run["summary"]
    assert summary["bad_sent"] == 1000
    assert refused_counts(run["bridge"]) == summary["bad"]


def test_sensor_logger_mqtt_batches_through_a_broker_into_fusion(mqtt_broker):
    def broker_comes_up(graph, bridge):  # after the bridge: it keeps trying, then subscribes
        graph.spin(1.0)
        assert bridge.mqtt.last_problem == "cannot connect" and not bridge.mqtt.connected
        mqtt_broker.start()
        assert graph.spin_until(lambda: bridge.mqtt.connected, timeout_s=20.0), bridge.mqtt.values()
        graph.spin(0.5)  # the subscription is in place (QoS 0: nothing published before it is kept)

    run = run_graph(
        "sensor_logger",
        {"mqtt_broker": mqtt_broker.ws_url},
        "sensor_logger_mqtt",
        [mqtt_broker.ws_port],
        broker_comes_up,
    )
    check_capture(run)
    summary = run["summary"]
    assert summary["bad_sent"] == 1000
    assert refused_counts(run["bridge"]) == summary["bad"]
    transport = {kv.key: kv.value for kv in statuses(run["received"], "ego4o bridge: sensor_logger")[-1].values}
    assert transport["mqtt_connected"] == "true" and transport["mqtt_connects"] == "1"
    assert transport["mqtt_messages"] == str(summary["bodies"])  # every one the app published


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["profile:=sensor_logger", "mqtt_broker:=http://127.0.0.1:8000"], "give a URL starting ws://"),
        (["profile:=sensor_logger", "mqtt_broker:=ws://127.0.0.1:8000", "mqtt_topic:=sensor-logger/+"], "no wildcards"),
        (["profile:=imuposer", "mqtt_broker:=ws://127.0.0.1:8000"], "mqtt_broker is for Sensor Logger"),
    ],
)
def test_bad_mqtt_parameters_end_the_bridge_with_one_line(overrides, expected):
    arguments = [a for o in overrides for a in ("-p", o)]
    result = subprocess.run(
        [sys.executable, "-m", "ego4o_ros.nodes.wearable_bridge_node", "--ros-args", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr and "Traceback" not in result.stderr
