"""A device's clock -> the receiver's clock (ROS time), one mapper per device.

A wearable stamps each sample with its own clock (CoreMotion's time since boot, the
phone's wall clock, a watch that is seconds off); the graph needs the receiver's time.
Every packet gives ``raw = receive_time - device_time``: the clock offset plus that
packet's network delay, which is never negative. So the **smallest raw over a recent
window** (``window_s`` of receive time) is the offset with the least delay in it:

* jitter, late and reordered packets only raise ``raw``, never lower it: they leave the
  minimum alone (a packet that arrives late is still stamped when it was measured);
* batches (Sensor Logger's HTTP push) arrive together: the newest sample of a batch has
  the smallest raw, and the others keep their spacing;
* a gap in the data leaves the window's minimum in place: the window slides on the time
  data was flowing (a silence counts as at most ``GAP_CREDIT_S``), so the first packet
  after a gap is mapped with the offset from before it, not with its own delay;
* the device clock drifting against the receiver's is followed as the window slides.

A **jump** of the device clock (the app restarted, the clock was set) moves ``raw`` by
more than ``jump_s``. A single such packet is not believed (a garbage stamp, a stalled
burst); once packets have agreed on the new offset for ``confirm_s`` of receive time, the
mapper re-anchors on them (counted in ``jumps``). Meanwhile a packet that would land
more than ``jump_s`` in the receiver's future is not mapped (``map`` returns None): a
stamp is never invented. Mapped stamps are never later than their receive time by more
than ``jump_s``.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

GAP_CREDIT_S = 1.0  # a silence ages the window by at most this much


@dataclass(frozen=True)
class ClockConfig:
    window_s: float = 10.0  # receive time the minimum covers: long enough for a quiet packet, short for drift
    jump_s: float = 0.5  # an offset further than this from the current one is a jump, not delay
    confirm_s: float = 0.3  # receive time over which packets must agree before a jump is taken

    def __post_init__(self):
        if not (self.window_s > 0 and self.jump_s > 0 and self.confirm_s >= 0):
            raise ValueError(f"bad clock settings {self}")


class ClockMapper:
    """``map(device_time, receive_time)`` -> the sample's time on the receiver's clock."""

    def __init__(self, config: ClockConfig = ClockConfig()):
        self.config = config
        self._window: collections.deque = collections.deque()  # (flowing time, raw), raw increasing
        self._flowing = 0.0  # receive time with data flowing (silences count GAP_CREDIT_S at most)
        self._last_receive: float | None = None
        self._pending: list[tuple[float, float]] = []  # (receive, raw) of a possible jump
        self.jumps = 0

    @property
    def offset(self) -> float | None:
        """receiver clock - device clock (s), with the least delay seen in the window."""
        return self._window[0][1] if self._window else None

    def map(self, device_time: float, receive_time: float) -> float | None:
        """``observe`` then ``stamp``: one packet."""
        self.observe(device_time, receive_time)
        return self.stamp(device_time, receive_time)

    def observe(self, device_time: float, receive_time: float) -> None:
        """Learn from one packet (a batch: observe all of it first, then ``stamp`` each, so
        its older samples are mapped with the offset its newest gives)."""
        raw = receive_time - device_time
        offset = self.offset
        jump = self.config.jump_s
        if offset is None or offset - jump <= raw <= offset + jump:
            self._pending.clear()
            self._add(receive_time, raw)
            return
        # Far off the current offset: delayed (raw higher), or the clock jumped.
        if self._pending and abs(raw - self._pending[-1][1]) > jump:
            self._pending.clear()  # packets disagree among themselves: start counting again
        self._pending.append((receive_time, raw))
        if len(self._pending) > 1 and receive_time - self._pending[0][0] >= self.config.confirm_s:
            self._window.clear()
            for receive, pending_raw in self._pending:
                self._add(receive, pending_raw)
            self._pending.clear()
            self.jumps += 1

    def stamp(self, device_time: float, receive_time: float) -> float | None:
        """The sample's time on the receiver's clock with the current offset; None where
        that would put it more than ``jump_s`` after its arrival (a jump not yet confirmed).
        A late packet keeps the offset: its stamp is in the past, where it was measured."""
        offset = self.offset
        if offset is None:
            return None
        if receive_time - device_time < offset - self.config.jump_s:
            return None
        return device_time + offset

    def _add(self, receive_time: float, raw: float) -> None:
        if self._last_receive is not None:
            self._flowing += min(max(receive_time - self._last_receive, 0.0), GAP_CREDIT_S)
        self._last_receive = receive_time
        window = self._window
        while window and window[-1][1] >= raw:
            window.pop()
        window.append((self._flowing, raw))
        while window[0][0] < self._flowing - self.config.window_s:
            window.popleft()
