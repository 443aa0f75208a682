"""Wearable bridge node: your phone, watch and earbuds -> ``imu/<site>`` (``sensor_msgs/Imu``).

Listens for the apps people stream with (``config/devices.yaml``, parameter ``profile``):
the IMUPoser / MobilePoser iOS app's UDP lines (``udp_ports``, 8001-8005) or Sensor
Logger's HTTP push (``http_port``, 8000), on 127.0.0.1 unless ``address`` names another
(0.0.0.0: every network, for a phone on the Wi-Fi); it logs where it listens at start.
Sensor Logger's MQTT publishing instead: ``mqtt_broker`` names the broker the app publishes
to (``ws://host:8000/mqtt``, ``mqtt://host:1883``, ...; password from the environment
variable ``EGO4O_MQTT_PASSWORD``), and the bridge subscribes to ``mqtt_topic`` there.
Each worn site is published in the message standard the fusion node expects by default
(``devices/conventions.py``), stamped on this node's clock through each device's own clock
mapping (``devices/clock.py``). ``/diagnostics``: per device its counts, refusals by
reason, rate, clock offset and the age of its last sample; a silent device is reported
and logged, never filled in. Sockets are read in a thread; the samples are published from
a timer. All the work is in ``ego4o_ros.devices``.
"""

from __future__ import annotations

import collections
import http.server
import os
import selectors
import socket
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Imu
from std_msgs.msg import Header

from .. import interface
from ..devices import Bridge, BridgeLimits, ClockConfig, DevicesFileError, load_profile
from ..devices.imuposer import MAX_LINE_BYTES
from ..devices.mqtt import DEFAULT_TOPIC, BrokerAddress, MqttSubscriber
from ..devices.sensor_logger import MAX_BODY_BYTES
from .common import (
    ParameterError,
    declare,
    diagnostic_array,
    reliable_qos,
    run_node,
    sensor_qos,
    to_stamp,
    warn_unknown_parameters,
)

QUEUE_LIMIT = 20000  # packets waiting for the timer; beyond: refused as "flood"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MQTT_PASSWORD_ENV = "EGO4O_MQTT_PASSWORD"  # a password is no parameter: parameters are logged and dumped


class WearableBridgeNode(Node):
    def __init__(self, **kwargs):
        super().__init__("wearable_bridge", **kwargs)
        devices = declare(self, "devices", "", "devices file: sites and conventions ('' = config/devices.yaml)")
        profile_name = declare(
            self, "profile", "imuposer", "the app: a profile of the devices file (imuposer, sensor_logger)"
        )
        address = declare(
            self,
            "address",
            "127.0.0.1",
            "address to listen on (127.0.0.1 = this machine only; 0.0.0.0 = every network)",
            nonempty=True,
        )
        udp_ports = declare(
            self, "udp_ports", [8001, 8002, 8003, 8004, 8005], "UDP ports for the IMUPoser app (0 = any free one)"
        )
        http_port = declare(self, "http_port", 8000, "HTTP port for Sensor Logger's push (0 = any free one)")
        mqtt_broker = declare(
            self,
            "mqtt_broker",
            "",
            "Sensor Logger over MQTT instead of HTTP: the broker the app publishes to "
            "(ws://host:8000/mqtt, wss://, mqtt://host:1883, mqtts://); '' = HTTP push",
        )
        mqtt_topic = declare(self, "mqtt_topic", DEFAULT_TOPIC, "MQTT topic the app publishes to", nonempty=True)
        mqtt_username = declare(
            self, "mqtt_username", "", f"MQTT user ('' = anonymous; the password: env {MQTT_PASSWORD_ENV})"
        )
        limits = BridgeLimits(
            max_device_rate_hz=declare(
                self, "max_device_rate", 400.0, "samples/s a device may send; beyond: refused", min=1.0, max=10000.0
            ),
            max_packets_per_s=declare(
                self, "max_packets", 2000.0, "datagrams or HTTP bodies/s in all; beyond: refused", min=1.0, max=1e6
            ),
            stale_after_s=declare(
                self, "stale_after", 0.5, "s without a sample before a device is reported silent", min=0.05, max=60.0
            ),
        )
        clock = ClockConfig(
            window_s=declare(self, "clock_window", 10.0, "s of packets the clock offset's minimum covers", min=0.5),
            jump_s=declare(self, "clock_jump", 0.5, "s; an offset change beyond this is a clock jump", min=0.01),
            confirm_s=declare(self, "clock_confirm", 0.3, "s packets must agree before a jump is taken", min=0.0),
        )
        diagnostics_period = declare(self, "diagnostics_period", 1.0, "s between /diagnostics", min=0.05, max=60.0)
        warn_unknown_parameters(self)
        try:
            profile = load_profile(devices, profile_name)
        except DevicesFileError as error:
            raise ParameterError(f"wearable_bridge: {error}") from None
        self.bridge = Bridge(profile, limits, clock)
        self.publishers_by_site = {
            d.site: self.create_publisher(Imu, interface.imu_topic(d.site), sensor_qos()) for d in profile.devices
        }
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, interface.DIAGNOSTICS, reliable_qos())
        self.published = 0
        self._queue: collections.deque = collections.deque()
        self._overflow = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self.mqtt: MqttSubscriber | None = None
        if mqtt_broker and profile.format != "sensor_logger":
            raise ParameterError(f"wearable_bridge: mqtt_broker is for Sensor Logger, not the {profile.format} profile")
        if profile.format == "imuposer":
            self.ports = [self._bind_udp(address, int(port)) for port in udp_ports]
            self.listening = ", ".join(f"udp {address}:{port}" for port in self.ports)
            self._start(self._read_udp)
        elif mqtt_broker:
            try:
                broker = BrokerAddress.parse(mqtt_broker)
                self.mqtt = MqttSubscriber(
                    broker,
                    mqtt_topic,
                    self._receive_mqtt,
                    mqtt_username,
                    os.environ.get(MQTT_PASSWORD_ENV, ""),
                    client_id=f"ego4o_bridge_{os.getpid()}",
                )
            except ValueError as error:
                raise ParameterError(f"wearable_bridge: {error}") from None
            self.ports = [broker.port]
            self.listening = f"mqtt {broker.url} topic '{mqtt_topic}'"
            if not broker.loopback and not broker.tls:
                self.get_logger().warning(f"{broker.url}: readings (and any password) cross the network unencrypted")
            self.mqtt.start()
        else:
            self.ports = [self._serve_http(address, http_port)]
            self.listening = f"http://{address}:{self.ports[0]}/ (POST)"
        self.get_logger().info(
            f"{'subscribing to' if self.mqtt else 'listening on'} {self.listening} for {profile.name} ("
            + ", ".join(f"{d.name} '{d.key}' -> {interface.imu_topic(d.site)}" for d in profile.devices)
            + ")"
        )
        if address not in LOOPBACK and self.mqtt is None:
            self.get_logger().warning(f"{address} is reachable from other machines: anyone on that network can send")
        self.create_timer(0.005, self._drain)
        self.create_timer(diagnostics_period, self._publish_diagnostics)

    # -- receiving (threads) --------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _enqueue(self, data: bytes | None, reason: str | None = None) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            with self._lock:
                self._overflow += 1
            return
        self._queue.append((self._now(), data, reason))

    def _bind_udp(self, address: str, port: int) -> int:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError as error:
            sock.close()
            self._close_sockets()
            raise ParameterError(f"wearable_bridge: cannot listen on udp {address}:{port}: {error.strerror}") from None
        sock.setblocking(False)
        self._sockets.append(sock)
        return sock.getsockname()[1]

    def _read_udp(self) -> None:
        selector = selectors.DefaultSelector()
        for sock in self._sockets:
            selector.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                while True:  # everything waiting on this socket
                    try:
                        data = key.fileobj.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # closed while stopping
                        return
                    if len(data) > MAX_LINE_BYTES:
                        self._enqueue(None, "oversize")
                    else:
                        self._enqueue(data)
        selector.close()

    def _receive_mqtt(self, payload: bytes) -> None:
        if len(payload) > MAX_BODY_BYTES:
            self._enqueue(None, "oversize")
        else:
            self._enqueue(payload)

    def _serve_http(self, address: str, port: int) -> int:
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 5.0  # a body that never comes in full

            def do_POST(self):  # noqa: N802 (http.server's name)
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_BODY_BYTES:
                    node._enqueue(None, "oversize" if length > 0 else "truncated")
                    self.send_error(413 if length > 0 else 411)
                    return
                try:
                    body = self.rfile.read(length)
                except OSError:
                    body = b""
                if len(body) < length:
                    node._enqueue(None, "truncated")
                    return
                node._enqueue(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self):  # noqa: N802
                text = f"ego4o wearable bridge ({node.bridge.profile.name}): POST Sensor Logger batches here\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):  # the node logs, not stderr per request
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

        try:
            self._server = Server((address, port), Handler)
        except OSError as error:
            raise ParameterError(f"wearable_bridge: cannot listen on http {address}:{port}: {error.strerror}") from None
        self._start(lambda: self._server.serve_forever(poll_interval=0.2))
        return self._server.server_address[1]

    def _start(self, target) -> None:
        thread = threading.Thread(target=target, name="wearable_bridge_io", daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- publishing (timer) --------------------------------------------------------------
    def _drain(self) -> None:
        with self._lock:
            overflow, self._overflow = self._overflow, 0
        if overflow:
            self.bridge.refuse("flood", count=overflow)
        while self._queue:
            receive_time, data, reason = self._queue.popleft()
            if data is None:
                self.bridge.refuse(reason)
                continue
            for sample in self.bridge.feed(data, receive_time):
                msg = Imu(header=Header(stamp=to_stamp(sample.stamp), frame_id=f"{sample.site}_imu"))
                msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = map(float, sample.acc)
                q = sample.quat_xyzw
                msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = map(float, q)
                msg.angular_velocity_covariance[0] = -1.0  # the apps send no rotation rate here
                self.publishers_by_site[sample.site].publish(msg)
                self.published += 1
        for line in self.bridge.events(self._now()):
            if "silent" in line:
                self.get_logger().warning(line)
            else:
                self.get_logger().info(line)
        for level, line in self.mqtt.lines() if self.mqtt else ():
            if level == "warning":  # one severity per call site: rclpy refuses a change
                self.get_logger().warning(line)
            else:
                self.get_logger().info(line)

    def _publish_diagnostics(self) -> None:
        now = self._now()
        if self.mqtt is None:
            transport = self.bridge.bridge_status(self.listening)
        else:
            transport = self.bridge.bridge_status(self.listening, self.mqtt.values(), self.mqtt.problem)
        statuses = self.bridge.statuses(now) + [transport]
        header = Header(stamp=to_stamp(now))
        self.pub_diagnostics.publish(diagnostic_array(header, statuses, self.get_name()))

    # -- stopping ------------------------------------------------------------------------
    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def destroy_node(self):
        self._stop.set()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._close_sockets()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(WearableBridgeNode, args)


if __name__ == "__main__":
    sys.exit(main())
