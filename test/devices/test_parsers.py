"""The two wire formats: good packets parse to samples, each kind of bad one to its reason."""

import json
import math

import numpy as np
import pytest

from ego4o_ros.devices import imuposer, sensor_logger
from ego4o_ros.devices.packets import Packet, Refusal

LINE = b"right;phone:1700000000.250000 1234.500000 0.01 -0.02 0.03 0.1 0.2 0.3 0.927362 0.5 0.6 0.7"


def test_imuposer_line_with_and_without_roll_pitch_yaw():
    (packet,) = imuposer.parse(LINE)
    assert isinstance(packet, Packet) and packet.key == "right;phone"
    assert packet.device_time == 1234.5
    np.testing.assert_allclose(packet.acc, [0.01, -0.02, 0.03])
    np.testing.assert_allclose(packet.quat, [0.1, 0.2, 0.3, 0.927362])
    (short,) = imuposer.parse(LINE.rsplit(b" ", 3)[0] + b"\n")
    assert isinstance(short, Packet) and short.device_time == 1234.5
    (wall,) = imuposer.parse(LINE, clock="unix")
    assert wall.device_time == 1700000000.25


def test_imuposer_formats_what_it_parses():
    data = imuposer.format_line("Left;Watch", 1.7e9, 55.5, [1, 2, 3], [0, 0, 0, 1])
    (packet,) = imuposer.parse(data)
    assert packet.key == "left;watch" and packet.device_time == 55.5


@pytest.mark.parametrize(
    "data, reason, key",
    [
        (b"right;phone", "truncated", None),
        (b"right phone:1 2 3 4 5 6 7 8 9", "truncated", None),
        (b"1700000000.25 1234.5 0.01", "truncated", None),
        (LINE[:60], "wrong_length", "right;phone"),
        (LINE + b" 1.0", "wrong_length", "right;phone"),
        (LINE.replace(b"0.02", b"0.0x2"), "non_numeric", "right;phone"),
        (LINE.replace(b"0.03", b"nan"), "not_finite", "right;phone"),
        (LINE.replace(b"0.03", b"inf"), "not_finite", "right;phone"),
        (b"\xff\xfe" + LINE, "not_text", None),
        (LINE + b" " * 2000, "oversize", None),
    ],
)
def test_imuposer_bad_lines_are_refused_with_a_reason(data, reason, key):
    (refusal,) = imuposer.parse(data)
    assert isinstance(refusal, Refusal) and (refusal.reason, refusal.key) == (reason, key)


def test_imuposer_blank_and_stop_are_neither():
    assert imuposer.parse(b"\n  \n") == [] and imuposer.parse(b"stop") == []


def phone_batch(t0_ns=1_700_000_000_000_000_000, n=5, device="phone-1", orientation_shift_ns=0):
    entries = []
    for i in range(n):
        t = t0_ns + i * 10_000_000
        entries += sensor_logger.entries("phone", t, [0.1 * i, 0, 0], [0, 0, 0, 1])
        entries[-1]["time"] += orientation_shift_ns
    entries.append({"name": "gravity", "time": t0_ns, "values": {"x": 0, "y": 0, "z": -9.8}})
    entries.append({"name": "location", "time": t0_ns, "values": {"latitude": 51.5}})
    entries += sensor_logger.entries("watch", t0_ns, [0.01, 0.02, 0.03], [0, 0, 0.6, 0.8])
    entries[-1]["name"] = "Wrist Motion"  # names are compared without case and spaces
    entries += sensor_logger.entries("headphone", t0_ns, [0, 0, 0], [0, 0, 0, 1])
    return sensor_logger.batch(device, 3, entries)


def test_sensor_logger_batch_pairs_phone_readings_and_reads_watch_and_earbuds():
    out = sensor_logger.SensorLoggerParser().parse(phone_batch())
    assert all(isinstance(p, Packet) for p in out)
    keys = [p.key for p in out]
    assert keys.count("phone-1/phone") == 5 and "phone-1/watch" in keys and "phone-1/headphone" in keys
    phone = [p for p in out if p.key == "phone-1/phone"]
    np.testing.assert_allclose([p.acc[0] for p in phone], [0, 0.1, 0.2, 0.3, 0.4])
    assert phone[1].device_time == pytest.approx(1_700_000_000.01)
    (watch,) = [p for p in out if p.key == "phone-1/watch"]
    np.testing.assert_allclose(watch.quat, [0, 0, 0.6, 0.8])  # xyzw


def test_sensor_logger_values_may_sit_on_the_entry():
    entry = {"name": "headphone", "time": 5_000_000_000, "accelerationX": 0, "accelerationY": 0, "accelerationZ": 1}
    entry |= {"quaternionX": 0, "quaternionY": 0, "quaternionZ": 0, "quaternionW": 1}
    (packet,) = sensor_logger.SensorLoggerParser().parse(sensor_logger.batch("d", 0, [entry]))
    assert packet.key == "d/headphone" and packet.device_time == 5.0


def test_sensor_logger_orientation_from_the_last_batch_pairs_with_the_next():
    parser = sensor_logger.SensorLoggerParser()
    parser.parse(phone_batch())
    late = {"name": "accelerometer", "time": 1_700_000_000_050_000_000, "values": {"x": 1, "y": 0, "z": 0}}
    (packet,) = parser.parse(sensor_logger.batch("phone-1", 4, [late]))
    assert isinstance(packet, Packet)
    far = dict(late, time=late["time"] + 10**9)
    (refusal,) = parser.parse(sensor_logger.batch("phone-1", 5, [far]))
    assert (refusal.reason, refusal.key) == ("no_orientation", "phone-1/phone")


def bad_entry(**change):
    entry = sensor_logger.entries("watch", 10**18, [0, 0, 0], [0, 0, 0, 1])[0]
    entry["values"].update(change)
    return sensor_logger.batch("w", 1, [entry])


@pytest.mark.parametrize(
    "body, reason, key",
    [
        (phone_batch()[:-40], "truncated", None),
        (b"<html>hello</html>", "not_text", None),
        (b"\xff\xfe{}", "not_text", None),
        (b'{"payload": "nope", "deviceId": "x"}', "bad_batch", None),
        (b'{"payload": []}', "bad_batch", None),
        (b"[1, 2]", "bad_batch", None),
        (bad_entry(accelerationX="fast"), "non_numeric", "w/watch"),
        (bad_entry(accelerationX=True), "non_numeric", "w/watch"),
        (bad_entry(quaternionW=None), "non_numeric", "w/watch"),
        (bad_entry(accelerationX=math.nan), "not_finite", "w/watch"),
        (bad_entry(accelerationX=1e400), "not_finite", "w/watch"),
        (b" " * (sensor_logger.MAX_BODY_BYTES + 1), "oversize", None),
    ],
)
def test_sensor_logger_bad_batches_are_refused_with_a_reason(body, reason, key):
    (refusal,) = sensor_logger.SensorLoggerParser().parse(body)
    assert isinstance(refusal, Refusal) and (refusal.reason, refusal.key) == (reason, key)


def test_sensor_logger_missing_field_is_wrong_length():
    entry = sensor_logger.entries("watch", 10**18, [0, 0, 0], [0, 0, 0, 1])[0]
    del entry["values"]["quaternionW"]
    (refusal,) = sensor_logger.SensorLoggerParser().parse(json.dumps({"deviceId": "w", "payload": [entry]}).encode())
    assert (refusal.reason, refusal.key) == ("wrong_length", "w/watch")
