"""``ego4o-capture --bridge imuposer``: the one-command graph with real devices in the
replay's place. The front end runs as a user starts it (its own process, its own domain,
localhost only); a separate process streams the bundled walk as the IMUPoser app's UDP
lines (a watch whose clock runs 7 s ahead, earbuds that stop for 2 s, 1,000 malformed
lines); the summary must show the body captured at 30 Hz from those devices."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ego4o_ros.paths import share_file

pytestmark = pytest.mark.ros

SENDER = Path(__file__).resolve().parents[1] / "nodes" / "wearable_sender.py"


def free_udp_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_capture_streams_from_devices_through_the_bridge(tmp_path):
    ports = free_udp_ports(3)
    params = yaml.safe_load(share_file("config", "capture.yaml").read_text())
    params["wearable_bridge"]["ros__parameters"]["udp_ports"] = ports
    # The codes captioner: this test is about the devices, not about the language model's load time.
    params["captioning"]["ros__parameters"]["backend"] = "codes"
    params_file = tmp_path / "capture.yaml"
    params_file.write_text(yaml.safe_dump(params))
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    summary_file = tmp_path / "summary.json"
    capture = subprocess.Popen(
        [sys.executable, "-m", "ego4o_ros.tools.capture", "--bridge", "imuposer", "--duration", "45",
         "--params", str(params_file), "--no-record", "--json", str(summary_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        for line in capture.stdout:  # wait until the graph streams (models loaded)
            lines.append(line)
            if "streaming from the devices" in line:
                break
        assert "streaming from the devices" in "".join(lines), "".join(lines)
        sender = subprocess.run(
            [sys.executable, str(SENDER), "imuposer", *map(str, ports)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert sender.returncode == 0, sender.stderr
        sent = json.loads(sender.stdout.strip().splitlines()[-1])
        capture.send_signal(2)  # Ctrl-C: the capture ends and writes its summary
        out, _ = capture.communicate(timeout=60)
    finally:
        if capture.poll() is None:
            capture.kill()
    assert capture.returncode == 0, "".join(lines) + out
    summary = json.loads(summary_file.read_text())
    devices = summary["devices"]
    assert set(devices) == {"iphone", "apple_watch", "airpods"}, devices
    refused = sum(d["refused"] for d in devices.values()) + sum(summary["packets_refused"].values())
    assert refused == sum(sent["bad"].values()) == 1000  # every malformed line counted, nothing else
    assert all(d["published"] > 100 for d in devices.values()), devices
    assert summary["joint_states"] >= 0.8 * 30 * 7.0, (summary, sent)
    assert 29.0 <= summary["rate_hz"] <= 31.0, summary
    assert "streamed from the devices (imuposer)" in out
