"""A phone, a watch and earbuds, played from the bundled walk, sent to a wearable bridge over
real sockets from this separate process: ``python wearable_sender.py imuposer PORT PORT PORT``
(UDP lines, one port per device), ``python wearable_sender.py sensor_logger PORT`` (HTTP
push) or ``python wearable_sender.py sensor_logger_mqtt WS_PORT`` (MQTT over WebSockets to a
broker on loopback, QoS 0, topic ``sensor-logger``: as the app publishes). The watch's
clock runs ``WATCH_AHEAD_S`` ahead of the others (which read this machine's wall clock), the
earbuds stop from ``GAP`` [0] to [1] s, and 1,000 malformed packets go with the good ones
(counts by kind in the JSON summary printed at the end)."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np

from ego4o_ros.core import features, imu
from ego4o_ros.devices import load_profile
from ego4o_ros.devices.recordings import imuposer_datagrams, sensor_logger_entries
from ego4o_ros.devices.sensor_logger import batch
from ego4o_ros.paths import SAMPLE_CLIP
from ego4o_ros.readers import read_clip

SECONDS = 7.0
RATE = 50.0
WATCH_AHEAD_S = 7.0
GAP = (2.5, 4.5)
SITES = {
    "right_pocket": ("right;phone", "phone"),
    "left_wrist": ("left;watch", "watch"),
    "head": ("left;headphone", "headphone"),
}
# IMUPoser: what is sent, and the reason the bridge must give each (1,000 in all).
BAD_LINES = {
    "truncated": 200,
    "wrong_length": 200,
    "non_numeric": 200,
    "not_finite": 150,
    "bad_quaternion": 100,
    "unknown_device": 100,
    "oversize": 50,
}
# Sensor Logger: 150 bad bodies and 850 bad readings inside good batches.
BAD_BODIES = {"truncated": 50, "not_text": 50, "bad_batch": 50}
BAD_ENTRIES = {"non_numeric": 300, "not_finite": 300, "wrong_length": 250}


def readings():
    clip = read_clip(SAMPLE_CLIP, target_fps=30)
    clip = replace(clip, joints=features.retarget_to_template(clip.joints))
    r = imu.resample_imu(imu.synthesize_from_clip(clip), RATE)
    n = int(SECONDS * RATE)
    return np.arange(n) / RATE, r.acc[:n], r.ori[:n]


def device_time_offset(site: str) -> float:
    return WATCH_AHEAD_S if site == "left_wrist" else 0.0


def silent(site: str, t: float) -> bool:
    return site == "head" and GAP[0] <= t < GAP[1]


def bad_line(kind: str, t: float, good: bytes) -> bytes:
    head, _, body = good.partition(b":")
    numbers = body.split()
    if kind == "truncated":
        return head
    if kind == "wrong_length":
        return head + b":" + b" ".join(numbers[:6])
    if kind == "non_numeric":
        return head + b":" + b" ".join(numbers[:4] + [b"fast"] + numbers[5:])
    if kind == "not_finite":
        return head + b":" + b" ".join(numbers[:3] + [b"nan"] + numbers[4:])
    if kind == "bad_quaternion":
        return head + b":" + b" ".join(numbers[:5] + [b"0", b"0", b"0", b"0"])
    if kind == "unknown_device":
        return b"right;watch:" + body
    return good + b" " * 2000  # oversize


def schedule(kinds: dict[str, int], seed: int = 0) -> list[tuple[float, str]]:
    names = [k for k, n in kinds.items() for _ in range(n)]
    rng = np.random.default_rng(seed)
    rng.shuffle(names)
    return list(zip(np.linspace(0.05, SECONDS - 0.3, len(names)), names))


def run_imuposer(ports: list[int]) -> dict:
    times, acc, ori = readings()
    profile = load_profile(None, "imuposer")
    start = time.time() + 0.2
    lines = {}
    for device in profile.devices:
        i = imu.IMU_SITES.index(device.site)
        clock = start + device_time_offset(device.site)
        lines[device.site] = imuposer_datagrams(
            SITES[device.site][0], times, acc[:, i], ori[:, i], device.convention, sensor_time0=clock, unix_time0=clock
        )
    port_of = dict(zip(SITES, ports))
    bad = schedule(BAD_LINES)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = {site: 0 for site in SITES}
    k = 0
    for j, t in enumerate(times):
        _sleep_until(start + t)
        for site, site_lines in lines.items():
            if not silent(site, t):
                sock.sendto(site_lines[j], ("127.0.0.1", port_of[site]))
                sent[site] += 1
        while k < len(bad) and bad[k][0] <= t:
            site = list(SITES)[k % 3]
            sock.sendto(bad_line(bad[k][1], t, lines[site][j]), ("127.0.0.1", port_of[site]))
            k += 1
    return {"start": start, "sent": sent, "bad": BAD_LINES, "bad_sent": k, "gap": [start + GAP[0], start + GAP[1]]}


def run_sensor_logger(send) -> dict:
    """``send(body)``: one batch as the app pushes or publishes it."""
    times, acc, ori = readings()
    profile = load_profile(None, "sensor_logger")
    start = time.time() + 0.2
    samples = {}
    for device in profile.devices:
        i = imu.IMU_SITES.index(device.site)
        clock_ns = (start + device_time_offset(device.site) + times) * 1e9
        samples[device.site] = sensor_logger_entries(
            SITES[device.site][1], clock_ns, acc[:, i], ori[:, i], device.convention
        )
    bad_bodies, bad_entries = schedule(BAD_BODIES, 1), schedule(BAD_ENTRIES, 2)
    sent = {site: 0 for site in SITES}
    period, k_body, k_entry, message = 0.1, 0, 0, 0
    per_batch = int(period * RATE)
    for b in range(int(len(times) / per_batch)):
        rows = range(b * per_batch, (b + 1) * per_batch)
        t_end = times[rows[-1]]
        _sleep_until(start + t_end + 0.01)
        payload = [{"name": "gravity", "time": int((start + t_end) * 1e9), "values": {"x": 0, "y": 0, "z": -9.8}}]
        for site, entries in samples.items():
            for j in rows:
                if not silent(site, times[j]):
                    payload += entries[j]
                    sent[site] += 1
        while k_entry < len(bad_entries) and bad_entries[k_entry][0] <= t_end:
            payload.append(_bad_entry(bad_entries[k_entry][1], start + t_end, k_entry))
            k_entry += 1
        send(batch("iphone-A", message, payload))
        message += 1
        while k_body < len(bad_bodies) and bad_bodies[k_body][0] <= t_end:
            send(_bad_body(bad_bodies[k_body][1]))
            k_body += 1
    return {
        "start": start,
        "sent": sent,
        "bad": {**BAD_BODIES, **BAD_ENTRIES},
        "bad_sent": k_body + k_entry,
        "bodies": message + k_body,
        "gap": [start + GAP[0], start + GAP[1]],
    }


def _bad_entry(kind: str, t: float, k: int) -> dict:
    stream = ("phone", "watch", "headphone")[k % 3]
    offset = WATCH_AHEAD_S if stream == "watch" else 0.0
    (entry,) = [e for e in sensor_logger_entries_one(stream, t + offset) if e["name"] != "orientation"]
    field = next(iter(entry["values"]))
    if kind == "non_numeric":
        entry["values"][field] = "fast"
    elif kind == "not_finite":
        entry["values"][field] = float("nan")
    else:
        del entry["values"][field]
    return entry


def sensor_logger_entries_one(stream: str, t: float) -> list[dict]:
    from ego4o_ros.devices.sensor_logger import entries

    return entries(stream, int(t * 1e9), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0])


def _bad_body(kind: str) -> bytes:
    if kind == "truncated":
        return batch("iphone-A", -1, sensor_logger_entries_one("watch", time.time()))[:-25]
    if kind == "not_text":
        return b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    return json.dumps({"hello": "world"}).encode()


def http_sender(port: int):
    return lambda body: _post(f"http://127.0.0.1:{port}/", body)


def mqtt_sender(ws_port: int):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
    client.connect("127.0.0.1", ws_port, keepalive=15)
    client.loop_start()
    return lambda body: client.publish("sensor-logger", body, qos=0).wait_for_publish(timeout=5)


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(request, timeout=5).read()
    except urllib.error.HTTPError:
        pass


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


if __name__ == "__main__":
    kind, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    if kind == "imuposer":
        summary = run_imuposer(ports)
    else:
        summary = run_sensor_logger((mqtt_sender if kind == "sensor_logger_mqtt" else http_sender)(ports[0]))
    print(json.dumps(summary), flush=True)
