"""Sensor Logger over MQTT, without ROS: a real broker (amqtt) on loopback, a real client
publishing as the app does (paho-mqtt over WebSockets, QoS 0), the bridge's subscriber
receiving; the broker comes up late, goes away and comes back."""

import time

import paho.mqtt.client as mqtt
import pytest

from ego4o_ros.devices import Bridge, load_profile
from ego4o_ros.devices.mqtt import BrokerAddress, MqttSubscriber
from ego4o_ros.devices.sensor_logger import batch, entries


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://10.0.0.5:8000/mqtt", ("10.0.0.5", 8000, "websockets", False, "/mqtt")),
        ("wss://broker.example", ("broker.example", 8884, "websockets", True, "/mqtt")),
        ("mqtt://localhost", ("localhost", 1883, "tcp", False, "/mqtt")),
        ("mqtts://[::1]:9000", ("::1", 9000, "tcp", True, "/mqtt")),
        (" ws://127.0.0.1:9001/ws ", ("127.0.0.1", 9001, "websockets", False, "/ws")),
    ],
)
def test_broker_urls(url, expected):
    broker = BrokerAddress.parse(url)
    assert (broker.host, broker.port, broker.transport, broker.tls, broker.path) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:8000", "give a URL starting"),
        ("127.0.0.1:1883", "give a URL starting"),
        ("ws://:8000", "no host"),
        ("mqtt://host:99999", "port"),
        ("mqtt://user:secret@host", "mqtt_username"),
    ],
)
def test_bad_broker_urls_say_what_is_wrong(url, says):
    with pytest.raises(ValueError, match=says):
        BrokerAddress.parse(url)


def test_wildcard_topics_are_refused():
    with pytest.raises(ValueError, match="no wildcards"):
        MqttSubscriber(BrokerAddress.parse("mqtt://127.0.0.1"), "sensor-logger/#", lambda payload: None)


def wait_for(condition, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def app_client(broker) -> mqtt.Client:
    """Sensor Logger's side: a client over WebSockets that publishes at QoS 0."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.connect_async("127.0.0.1", broker.ws_port, keepalive=15)
    client.loop_start()
    assert wait_for(client.is_connected), "the app's client did not connect"
    return client


def publish_watch(client, first: int, count: int, t0: float) -> None:
    for i in range(first, first + count):
        body = batch("watch-1", i, entries("watch", int((t0 + 0.02 * i) * 1e9), [0.0, 0.0, 0.1], [0, 0, 0, 1.0]))
        client.publish("sensor-logger", body, qos=0).wait_for_publish(timeout=5)


def test_subscriber_survives_a_late_and_a_restarted_broker(mqtt_broker):
    received = []
    subscriber = MqttSubscriber(BrokerAddress.parse(mqtt_broker.ws_url), "sensor-logger", received.append)
    subscriber.start()  # before the broker is there: it keeps trying
    try:
        assert wait_for(lambda: subscriber.last_problem == "cannot connect", 10.0)
        assert not subscriber.connected
        mqtt_broker.start()
        assert wait_for(lambda: subscriber.connected), subscriber.values()
        time.sleep(0.5)  # the subscription is in place
        t0 = time.time()
        client = app_client(mqtt_broker)
        publish_watch(client, 0, 50, t0)
        assert wait_for(lambda: len(received) == 50), len(received)
        client.loop_stop()
        client.disconnect()

        mqtt_broker.stop()  # the broker goes away ...
        assert wait_for(lambda: not subscriber.connected)
        mqtt_broker.start()  # ... and comes back: the subscriber reconnects and subscribes again
        assert wait_for(lambda: subscriber.connects == 2, 20.0), subscriber.values()
        time.sleep(0.5)
        client = app_client(mqtt_broker)
        publish_watch(client, 50, 50, t0)
        assert wait_for(lambda: len(received) == 100), len(received)
        client.loop_stop()
        client.disconnect()
    finally:
        subscriber.stop()
    lines = [text for _, text in subscriber.lines()]
    assert any("cannot reach" in line for line in lines)
    assert any(line.startswith("mqtt: lost") for line in lines)
    assert any("connected again" in line for line in lines)
    values = subscriber.values()
    assert (values["mqtt_connects"], values["mqtt_disconnects"], values["mqtt_messages"]) == ("2", "1", "100")
    # what came through the broker is what the app sent: every sample taken by the bridge
    profile = load_profile(None, "sensor_logger")
    bridge = Bridge(profile)
    published = [s for k, body in enumerate(received) for s in bridge.feed(body, t0 + 0.02 * k + 0.05)]
    assert len(published) == 100 and {s.site for s in published} == {"left_wrist"}
    assert sum(bridge.devices["apple_watch"].refused.values()) == 0
