"""Sensor Logger's HTTP push (and MQTT) batches (tszheichoi/awesome-sensor-logger, PUSHING.md).

Every batching period the app POSTs one JSON object::

    {"messageId": 12, "sessionId": "...", "deviceId": "...",
     "payload": [{"name": "accelerometer", "time": <UTC ns>, "values": {"x": .., "y": .., "z": ..}}, ...]}

The streams the bridge reads, each a device of its own (key ``<deviceId>/<stream>``):

* ``phone``: ``accelerometer`` (x, y, z; m/s^2, gravity removed) paired with the nearest
  ``orientation`` (qx, qy, qz, qw; x-north-z-vertical on iOS) within ``MAX_PAIR_S``;
* ``watch``: ``wrist motion`` (accelerationX/Y/Z in g, gravity removed; quaternionX/Y/Z/W);
* ``headphone``: AirPods' ``headphone`` motion (the same fields).

Other sensors (gravity, location, battery, ...) are ignored. Names are compared without
case, spaces or underscores; a reading's fields may sit in ``values`` or on the entry.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .packets import Packet, Refusal

MAX_BODY_BYTES = 4 << 20  # a 10 s batch of every sensor at 100 Hz is ~1 MB
MAX_PAIR_S = 0.1  # an acceleration further than this from any orientation has none
STREAMS = ("phone", "watch", "headphone")
_MOTION = ("accelerationX", "accelerationY", "accelerationZ")
_QUATERNION = ("quaternionX", "quaternionY", "quaternionZ", "quaternionW")
READINGS = {  # normalised name -> (stream, acceleration fields, quaternion fields (x, y, z, w))
    "accelerometer": ("phone", ("x", "y", "z"), ()),
    "orientation": ("phone", (), ("qx", "qy", "qz", "qw")),
    "wristmotion": ("watch", _MOTION, _QUATERNION),
    "headphone": ("headphone", _MOTION, _QUATERNION),
}


def _name(value) -> str:
    return str(value).lower().replace(" ", "").replace("_", "") if isinstance(value, str) else ""


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    return float(value)


class SensorLoggerParser:
    """Batches -> samples. Keeps each phone's newest orientation, so an acceleration at the
    start of a batch can pair with the end of the last one."""

    def __init__(self):
        self._orientation: dict[str, tuple[float, np.ndarray]] = {}

    def parse(self, body: bytes) -> list[Packet | Refusal]:
        if len(body) > MAX_BODY_BYTES:
            return [Refusal("oversize")]
        try:
            text = body.decode("utf-8")
            batch = json.loads(text)
        except UnicodeDecodeError:
            return [Refusal("not_text")]
        except json.JSONDecodeError as error:  # cut off at the end, or not JSON at all
            cut = error.pos >= len(text.rstrip()) - 1 or error.msg.startswith("Unterminated string")
            return [Refusal("truncated" if cut and text.lstrip().startswith("{") else "not_text")]
        except RecursionError:  # deeply nested garbage
            return [Refusal("not_text")]
        if not isinstance(batch, dict) or not isinstance(batch.get("payload"), list):
            return [Refusal("bad_batch")]
        device = batch.get("deviceId")
        if not isinstance(device, (str, int)) or isinstance(device, bool):
            return [Refusal("bad_batch")]
        device = str(device)
        out: list[Packet | Refusal] = []
        accelerations, orientations = [], []
        for entry in batch["payload"]:
            reading = READINGS.get(_name(entry.get("name"))) if isinstance(entry, dict) else None
            if reading is None:
                continue  # another sensor (or not an entry): not ours to judge
            stream, acc_fields, quat_fields = reading
            key = f"{device}/{stream}"
            values = entry.get("values") if isinstance(entry.get("values"), dict) else entry
            if "time" not in entry or any(f not in values for f in (*acc_fields, *quat_fields)):
                out.append(Refusal("wrong_length", key))
                continue
            try:
                time_s = _number(entry["time"]) * 1e-9
                acc = np.array([_number(values[f]) for f in acc_fields])
                quat = np.array([_number(values[f]) for f in quat_fields])
            except (ValueError, OverflowError):
                out.append(Refusal("non_numeric", key))
                continue
            if not (math.isfinite(time_s) and np.isfinite(acc).all() and np.isfinite(quat).all()):
                out.append(Refusal("not_finite", key))
            elif stream != "phone":
                out.append(Packet(key, time_s, acc, quat))
            elif acc_fields:
                accelerations.append((time_s, acc))
            else:
                orientations.append((time_s, quat))
        out += self._pair(device, accelerations, orientations)
        return out

    def _pair(self, device: str, accelerations, orientations) -> list[Packet | Refusal]:
        key = f"{device}/phone"
        candidates = sorted(orientations, key=lambda o: o[0])
        if device in self._orientation:
            candidates.insert(0, self._orientation[device])
        if orientations:
            self._orientation[device] = candidates[-1]
        out: list[Packet | Refusal] = []
        if not accelerations:
            return out
        times = np.array([t for t, _ in candidates])
        for time_s, acc in sorted(accelerations, key=lambda a: a[0]):
            if not len(times):
                out.append(Refusal("no_orientation", key))
                continue
            nearest = int(np.argmin(np.abs(times - time_s)))
            if abs(times[nearest] - time_s) > MAX_PAIR_S:
                out.append(Refusal("no_orientation", key))
            else:
                out.append(Packet(key, time_s, acc, candidates[nearest][1]))
        return out


def batch(device_id: str, message_id: int, entries: list[dict], session_id: str = "session") -> bytes:
    """One push as the app sends it (tests, recordings made here)."""
    return json.dumps(
        {"messageId": message_id, "sessionId": session_id, "deviceId": device_id, "payload": entries}
    ).encode()


def entries(stream: str, time_ns: int, acc, quat_xyzw) -> list[dict]:
    """The payload entries of one sample of ``stream`` (the phone's is two readings)."""
    acc, quat = [float(a) for a in acc], [float(q) for q in quat_xyzw]
    if stream == "phone":
        return [
            {"name": "accelerometer", "time": int(time_ns), "values": dict(zip("xyz", acc))},
            {"name": "orientation", "time": int(time_ns), "values": dict(zip(("qx", "qy", "qz", "qw"), quat))},
        ]
    name = {"watch": "wristmotion", "headphone": "headphone"}[stream]
    return [
        {
            "name": name,
            "time": int(time_ns),
            "values": {**dict(zip(_MOTION, acc)), **dict(zip(_QUATERNION, quat))},
        }
    ]
