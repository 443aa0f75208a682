"""One sample as a device sent it, and why a packet was refused.

A parser turns bytes into ``Packet`` objects or into reasons; nothing in the bytes is
trusted (lengths, numbers, names). Reasons a packet can be refused, counted per device
where the packet names a known one, else for the bridge as a whole:
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Refused before a device is known (counted for the bridge).
BRIDGE_REASONS = (
    "oversize",  # a datagram / HTTP body beyond the size limit
    "not_text",  # not UTF-8 text / not JSON
    "truncated",  # a line or batch that stops before its header is complete
    "bad_batch",  # JSON, but not a Sensor Logger batch ({deviceId, payload: [...]})
    "unknown_device",  # a well-formed packet from a device config/devices.yaml does not name
    "flood",  # beyond the bridge's packet-rate cap (or its queue)
)
# Refused for a known device.
DEVICE_REASONS = (
    "wrong_length",  # not the number of fields the format has
    "non_numeric",  # a field that is not a number
    "not_finite",  # NaN or infinity
    "bad_quaternion",  # not a unit quaternion (|q| off 1 by more than 0.1)
    "out_of_range",  # |acceleration| beyond what the devices measure (16 g)
    "no_orientation",  # an acceleration with no orientation near it in time (Sensor Logger)
    "flood",  # beyond the device's rate cap
    "out_of_order",  # stamped before the device's previous sample (reordered, or its clock went back)
    "clock_jump",  # the device's clock jumped ahead and the new offset is not confirmed yet
)


@dataclass(frozen=True)
class Packet:
    """A sample as sent: ``key`` names the device in the wire format (IMUPoser's
    ``left;watch``, Sensor Logger's ``<deviceId>/<stream>``); ``quat`` in the order it
    came in (the device's convention says which)."""

    key: str
    device_time: float  # s, the device's own clock
    acc: np.ndarray  # (3,) device units and axes
    quat: np.ndarray  # (4,)


@dataclass
class Refusal:
    reason: str
    key: str | None = None  # the device key, where the packet named one
