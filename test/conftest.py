"""Shared fixtures: paths to the shared data (read in place, never copied).

Tests that need ``../shared`` carry ``needs_shared(path, ...)`` (marker ``shared_data``):
without the data they are skipped with the reason; with ``EGO4O_REQUIRE_SHARED=1`` (CI,
``.ci/run``) they are never skipped, so missing data fails the run instead of hiding."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HUMANML3D_SAMPLE = SHARED / "data" / "humanml3d_sample"
BANDAI_ARCHIVE = SHARED / "data" / "bandai" / "bandai_train.tar.xz"
REQUIRE_SHARED = os.environ.get("EGO4O_REQUIRE_SHARED", "") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ros: starts rclpy (real DDS on localhost, this run's ROS_DOMAIN_ID); deselect with -m 'not ros'",
    )
    config.addinivalue_line(
        "markers",
        "shared_data: needs ../shared/data beside the repository "
        "(skipped without it, except where EGO4O_REQUIRE_SHARED=1)",
    )


def shared_missing(*paths) -> str | None:
    missing = [Path(p) for p in paths if not Path(p).exists()]
    if not missing:
        return None
    return f"needs the shared data: {missing[0]} is missing (clone ../shared beside the repository)"


def needs_shared(*paths):
    """Marks for a test (or ``pytestmark``) that reads ``paths`` under ../shared."""
    reason = shared_missing(*paths)
    return [pytest.mark.shared_data, pytest.mark.skipif(reason is not None and not REQUIRE_SHARED, reason=reason or "")]


def skip_without_shared(*paths) -> None:
    """The same rule from inside a fixture or test: skip (with the reason) when ``paths``
    are missing, unless EGO4O_REQUIRE_SHARED says missing data must fail."""
    reason = shared_missing(*paths)
    if reason and not REQUIRE_SHARED:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def humanml3d_sample():
    """The shipped HumanML3D clip 012314: joints (170, 22, 3) and features (170, 263)."""
    skip_without_shared(HUMANML3D_SAMPLE)
    joints = np.load(HUMANML3D_SAMPLE / "012314_new_joints.npy").astype(np.float64)
    features = np.load(HUMANML3D_SAMPLE / "012314_new_joint_vecs.npy").astype(np.float64)
    return joints, features


class MqttBroker:
    """A real MQTT broker (amqtt, a test dependency) on loopback, with a TCP and a WebSocket
    listener; ``stop()`` / ``start()`` take it away and bring it back on the same ports."""

    def __init__(self, folder: Path):
        def free_port() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        self.tcp_port, self.ws_port = free_port(), free_port()
        self.config = folder / "broker.yaml"
        self.log = folder / "broker.log"
        self.config.write_text(
            "listeners:\n"
            f"  default: {{type: tcp, bind: '127.0.0.1:{self.tcp_port}'}}\n"
            f"  ws: {{type: ws, bind: '127.0.0.1:{self.ws_port}'}}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin: {allow_anonymous: true}\n"
        )
        self.process = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/mqtt"

    def start(self, timeout_s: float = 20.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from amqtt.scripts.broker_script import main; main()", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.ws_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the MQTT broker did not listen within {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def mqtt_broker(tmp_path):
    """A fresh broker per test (not started: ``mqtt_broker.start()``)."""
    broker = MqttBroker(tmp_path)
    yield broker
    broker.stop()
