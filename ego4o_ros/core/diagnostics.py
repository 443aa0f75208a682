"""One line of ``/diagnostics``, ROS-free: what the fusion node, the wearable bridge and the
calibration report (``nodes/common.diagnostic_array`` turns a list of them into the message)."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, WARN, STALE = "ok", "warn", "stale"  # the levels (diagnostic_msgs: OK, WARN, STALE)


@dataclass
class Status:
    name: str
    level: str  # OK, WARN or STALE
    message: str
    values: dict[str, str] = field(default_factory=dict)
