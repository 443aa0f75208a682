"""The bridge without ROS: packets in, standard samples per site out; refusals counted by
reason; device clocks mapped; a silent device reported and never invented."""

import numpy as np
import pytest

from ego4o_ros.devices import Bridge, BridgeLimits, ClockConfig, load_profile
from ego4o_ros.devices.imuposer import format_line
from ego4o_ros.devices.sensor_logger import batch, entries

T0 = 5000.0  # receiver's clock at the start


def line(key, t, sensor0=100.0, acc=(0.0, 0.0, 0.0), quat=(0.0, 0.0, 0.0, 1.0)):
    return format_line(key, 1.7e9 + t, sensor0 + t, acc, quat)


def imuposer_bridge(**limits):
    return Bridge(load_profile(None, "imuposer"), BridgeLimits(**limits))


def test_three_devices_each_on_the_receivers_clock():
    bridge = imuposer_bridge()
    out = []
    # the watch's clock is 7 s off the phone's (and boot times differ): each has its own offset
    for i in range(100):
        t = i / 50
        for key, sensor0 in (("right;phone", 100.0), ("left;watch", 93.0), ("left;headphone", 4000.0)):
            out += bridge.feed(line(key, t, sensor0), T0 + t + 0.01)
    assert len(out) == 300
    assert {o.site for o in out} == {"right_pocket", "left_wrist", "head"}
    stamps = np.array([o.stamp for o in out])
    np.testing.assert_allclose(stamps, T0 + np.repeat(np.arange(100) / 50, 3) + 0.01, atol=1e-6)
    # a still, level device: +g up, its x to the north (ENU y) for the phone
    np.testing.assert_allclose(out[0].acc, [0, 0, 9.80665], atol=1e-9)
    values = {s.name: s.values for s in bridge.statuses(T0 + 2.0)}
    assert values["ego4o bridge: apple_watch"]["clock_offset_s"] == f"{T0 - 93.0 + 0.01:.3f}"
    assert float(values["ego4o bridge: iphone"]["rate_hz"]) == pytest.approx(50, abs=0.5)


def test_refusals_are_counted_by_reason_and_device():
    bridge = imuposer_bridge()
    good = line("left;watch", 0.0)
    feeds = {
        b"left;watch:1 2 3": ("apple_watch", "wrong_length"),
        good.replace(b"0.000000 0.000000 0.000000 1.0", b"0.000000 0.000000 0.000000 abc"): (
            "apple_watch",
            "non_numeric",
        ),
        good.replace(b" 1.000000", b" nan"): ("apple_watch", "not_finite"),
        line("left;watch", 0.1, quat=(0, 0, 0, 2)): ("apple_watch", "bad_quaternion"),
        line("left;watch", 0.2, acc=(30.0, 0, 0)): ("apple_watch", "out_of_range"),
        line("right;watch", 0.0): (None, "unknown_device"),
        b"garbage": (None, "truncated"),
        b"\xff" * 10: (None, "not_text"),
        b"x" * 5000: (None, "oversize"),
    }
    assert bridge.feed(good, T0) != []
    for data in feeds:
        assert bridge.feed(data, T0 + 0.5) == []
    watch = bridge.devices["apple_watch"].refused
    for name, reason in feeds.values():
        assert (watch if name else bridge.refused)[reason] == 1, reason
    assert sum(watch.values()) == 5 and sum(bridge.refused.values()) == 4
    # a reordered packet (stamped before the last one published) is refused, not published
    assert bridge.feed(line("left;watch", 1.0), T0 + 1.0) != []
    assert bridge.feed(line("left;watch", 0.98), T0 + 1.01) == []
    assert watch["out_of_order"] == 1


def test_a_flood_is_capped_per_device_and_for_the_bridge():
    bridge = imuposer_bridge(max_device_rate_hz=100.0, burst_s=1.0, max_packets_per_s=10000.0)
    published = sum(len(bridge.feed(line("right;phone", i * 1e-4), T0 + i * 1e-4)) for i in range(1000))
    assert 100 <= published <= 112  # the burst, plus what 0.1 s at 100 Hz refills
    assert bridge.devices["iphone"].refused["flood"] == 1000 - published
    bridge = imuposer_bridge(max_packets_per_s=50.0)
    published = sum(len(bridge.feed(line("right;phone", i * 1e-3), T0 + i * 1e-3)) for i in range(200))
    assert 50 <= published <= 60 and bridge.refused["flood"] == 200 - published


def test_a_silent_device_is_reported_and_nothing_is_invented():
    bridge = imuposer_bridge(stale_after_s=0.5)
    levels = {s.name: s.level for s in bridge.statuses(T0)}
    assert set(levels.values()) == {"stale"}  # waiting for the first sample
    stamps = []
    lines = []
    for i in range(250):  # 5 s at 50 Hz; the earbuds stop from 1.5 s to 3.5 s
        t = i / 50
        keys = ["right;phone"] + ([] if 1.5 <= t < 3.5 else ["left;headphone"])
        for key in keys:
            stamps += [(o.site, o.stamp) for o in bridge.feed(line(key, t), T0 + t)]
        lines += bridge.events(T0 + t)
        if t == 3.0:
            status = {s.name: s for s in bridge.statuses(T0 + t)}["ego4o bridge: airpods"]
            assert status.level == "stale" and status.message.startswith("silent for 1.5")
    head = np.array([s for site, s in stamps if site == "head"])
    assert len(head) == 250 - 100
    assert np.diff(head).max() == pytest.approx(2.02, abs=1e-6)  # the hole is there, unfilled
    assert any(line.startswith("airpods (head): silent for 0.5") for line in lines)
    assert any(line == "airpods (head): back after 2.0 s" for line in lines)
    values = {s.name: s.values for s in bridge.statuses(T0 + 5.0)}["ego4o bridge: airpods"]
    assert values["gaps"] == "1" and float(values["longest_gap_s"]) == pytest.approx(2.02, abs=0.01)


def test_a_device_clock_jump_is_taken_after_confirmation():
    bridge = Bridge(load_profile(None, "imuposer"), clock=ClockConfig(confirm_s=0.2))
    out = []
    for i in range(200):
        t = i / 50
        sensor0 = 100.0 if t < 2.0 else -500.0  # the app restarted: its clock went back
        out += bridge.feed(line("right;phone", t, sensor0), T0 + t)
    stamps = np.array([o.stamp for o in out])
    assert np.all(np.diff(stamps) > 0)
    assert bridge.devices["iphone"].clock.jumps == 1
    assert 150 <= len(out) < 200 and stamps[-1] == pytest.approx(T0 + 199 / 50)
    assert bridge.devices["iphone"].refused["out_of_order"] == 200 - len(out)


def test_sensor_logger_batches_over_the_bridge():
    bridge = Bridge(load_profile(None, "sensor_logger"))
    out = []
    for b in range(10):  # 0.1 s batches at 100 Hz; the watch's clock 6 s ahead
        payload = []
        for i in range(10):
            t = b * 0.1 + i * 0.01
            payload += entries("phone", int((1.7e9 + t) * 1e9), [0, 0, 0], [0, 0, 0, 1])
            payload += entries("watch", int((1.7e9 + 6 + t) * 1e9), [0, 0, 0], [0, 0, 0, 1])
        out += bridge.feed(batch("ABC", b, payload), T0 + b * 0.1 + 0.12)
    assert len(out) == 200
    for site in ("right_pocket", "left_wrist"):
        stamps = np.array([o.stamp for o in out if o.site == site])
        np.testing.assert_allclose(np.diff(stamps), 0.01, atol=1e-6)
        assert stamps[-1] == pytest.approx(T0 + 0.99 + 0.03, abs=1e-6)
    assert bridge.feed(b'{"deviceId": "ABC", "payload": [', T0 + 2) == []
    assert bridge.refused["truncated"] == 1
