"""Sensor Logger's MQTT publishing, received through the user's broker (paho-mqtt).

The app publishes the same JSON batches as its HTTP push, with QoS 0, to a topic
(``sensor-logger`` by default) on a broker it reaches over WebSockets only
(tszheichoi/awesome-sensor-logger, PUSHING.md). The bridge subscribes to that topic on the
same broker, over WebSockets or plain MQTT (a local Mosquitto/EMQX serves both), and
feeds every message to the parser as if it had been POSTed.

``BrokerAddress.parse`` reads the broker as one URL (``ws://host:8000/mqtt``,
``wss://host:8884/mqtt``, ``mqtt://host:1883``, ``mqtts://host:8883``). ``MqttSubscriber``
connects in paho's own thread, reconnects by itself (1-8 s apart) when the broker goes
away, and keeps what happened as lines to log and counts for ``/diagnostics``; it hands
each payload to a callback and never blocks on it. No ROS here.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_TOPIC = "sensor-logger"  # Sensor Logger's default
SCHEMES = {  # scheme -> (transport, TLS, default port)
    "ws": ("websockets", False, 8000),
    "wss": ("websockets", True, 8884),
    "mqtt": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
}
KEEPALIVE_S = 15


@dataclass(frozen=True)
class BrokerAddress:
    url: str
    host: str
    port: int
    transport: str  # "websockets" or "tcp"
    tls: bool
    path: str  # the WebSocket path ("/mqtt"); unused over tcp

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``scheme://host[:port][/path]``; a one-line ValueError for anything else."""
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in SCHEMES:
            raise ValueError(f"MQTT broker {url!r}: give a URL starting {', '.join(s + '://' for s in SCHEMES)}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"MQTT broker {url!r}: the port is not a number in 1..65535") from None
        if not parts.hostname:
            raise ValueError(f"MQTT broker {url!r}: no host")
        if parts.username or parts.password:
            raise ValueError(f"MQTT broker {url!r}: give the user as mqtt_username (and the password in an env var)")
        transport, tls, default_port = SCHEMES[parts.scheme]
        return cls(url.strip(), parts.hostname, port or default_port, transport, tls, parts.path or "/mqtt")

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")


class MqttSubscriber:
    """Subscribes to ``topic`` on ``broker`` and calls ``on_payload(bytes)`` for every
    message, from paho's network thread. ``lines()`` returns what is worth logging since the
    last call ((level, text): "info" / "warning"); ``values()`` the counts."""

    def __init__(
        self,
        broker: BrokerAddress,
        topic: str,
        on_payload: Callable[[bytes], None],
        username: str = "",
        password: str = "",
        client_id: str = "",
    ):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:  # pragma: no cover - a dependency in requirements.txt
            raise RuntimeError("MQTT needs paho-mqtt (pip install 'paho-mqtt>=2,<3')") from None
        if not topic or any(c in topic for c in "+#"):
            raise ValueError(f"MQTT topic {topic!r}: give the one topic the app publishes to (no wildcards)")
        self.broker, self.topic, self._on_payload = broker, topic, on_payload
        self.connected = False
        self.connects = self.disconnects = self.messages = 0
        self.last_problem = ""
        self._stopping = False
        self._lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            transport=broker.transport,
            protocol=mqtt.MQTTv311,
        )
        if broker.transport == "websockets":
            self._client.ws_set_options(path=broker.path)
        if broker.tls:
            self._client.tls_set()
        if username:
            self._client.username_pw_set(username, password or None)
        self._client.reconnect_delay_set(min_delay=1, max_delay=8)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_subscribe = self._subscribed
        self._client.on_message = self._message
        self._client.on_connect_fail = self._connect_failed

    def start(self) -> None:
        """Connect in the background (and keep trying while the broker is not there)."""
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True  # our own disconnect is no loss
        self._client.disconnect()
        self._client.loop_stop()

    def lines(self) -> list[tuple[str, str]]:
        with self._lock:
            out, self._lines = self._lines, []
        return out

    @property
    def problem(self) -> str | None:
        """Why nothing can be received now (None while connected)."""
        return None if self.connected else f"not connected: {self.last_problem or 'connecting'}"

    def values(self) -> dict[str, str]:
        return {
            "mqtt_broker": self.broker.url,
            "mqtt_topic": self.topic,
            "mqtt_connected": str(self.connected).lower(),
            "mqtt_connects": str(self.connects),
            "mqtt_disconnects": str(self.disconnects),
            "mqtt_messages": str(self.messages),
            "mqtt_last_problem": self.last_problem,
        }

    # -- paho callbacks (its network thread) ----------------------------------------------
    def _say(self, level: str, text: str) -> None:
        with self._lock:
            if len(self._lines) < 100:  # a broker that refuses every second must not grow this
                self._lines.append((level, text))

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_problem = f"connection refused: {reason_code}"
            self._say("warning", f"mqtt: {self.broker.url} refused the connection: {reason_code} (check mqtt_username)")
            return
        self.connected = True
        self.connects += 1
        client.subscribe(self.topic, qos=0)
        again = " again" if self.connects > 1 else ""
        self._say("info", f"mqtt: connected{again} to {self.broker.url}, subscribing to '{self.topic}'")

    def _subscribed(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            self.last_problem = f"subscription refused: {', '.join(failed)}"
            self._say("warning", f"mqtt: {self.broker.url} refused the subscription to '{self.topic}': {failed[0]}")

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected, self.connected = self.connected, False
        if not was_connected or self._stopping:
            return
        self.disconnects += 1
        self.last_problem = f"disconnected: {reason_code}"
        self._say("warning", f"mqtt: lost {self.broker.url} ({reason_code}); reconnecting")

    def _connect_failed(self, client, userdata) -> None:
        if self.last_problem != "cannot connect":
            self._say("warning", f"mqtt: cannot reach {self.broker.url}; trying again every few seconds")
        self.last_problem = "cannot connect"

    def _message(self, client, userdata, message) -> None:
        self.messages += 1
        self._on_payload(bytes(message.payload))
