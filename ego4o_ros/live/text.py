"""Descriptions arriving on a topic, ROS-free: a gate against floods and junk, an LRU cache
of encodings, and a latest-wins slot for the one encoder thread.

Anyone can publish on ``description``. A flood must not stall capture and junk must not
make the pose worse than no text, so every message passes ``TextGate.offer``: empty, too
long, not text (control characters, mostly symbols or emoji: the text encoder was trained
on short English motion descriptions), or within ``min_interval_s`` of the last accepted
one (rate limit) -> refused and counted by reason; the model then runs as without text.
Accepted texts are encoded off the executor one at a time; while one is encoding only the
newest waiting text is kept (``LatestWins``), and encodings are cached (``LruCache``):
``TextInput`` puts the three together for the fusion node.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
import unicodedata

import numpy as np

TEXT_REJECT_REASONS = ("empty", "too_long", "not_text", "rate_limited")


class TextGate:
    def __init__(self, max_chars: int = 500, min_interval_s: float = 0.5, min_letter_fraction: float = 0.6):
        if max_chars < 1 or min_interval_s < 0 or not 0 <= min_letter_fraction <= 1:
            raise ValueError("TextGate: max_chars >= 1, min_interval_s >= 0, 0 <= min_letter_fraction <= 1")
        self.max_chars, self.min_interval_s, self.min_letter_fraction = max_chars, min_interval_s, min_letter_fraction
        self.rejected = {reason: 0 for reason in TEXT_REJECT_REASONS}
        self.accepted = 0
        self._last_accepted: float | None = None

    def check(self, text: str) -> str | None:
        """None if ``text`` looks like a description, else why not (not counted)."""
        text = text.strip()
        if not text:
            return "empty"
        if len(text) > self.max_chars:
            return "too_long"
        if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
            return "not_text"
        letters = sum(c.isascii() and (c.isalpha() or c.isspace()) for c in text)
        if letters < self.min_letter_fraction * len(text) or not any(c.isalpha() for c in text):
            return "not_text"
        return None

    def offer(self, text: str, now: float) -> str | None:
        """None if ``text`` is accepted at ``now`` (s, a monotonic clock), else the reason
        (counted)."""
        reason = self.check(text)
        if reason is None and self._last_accepted is not None and 0 <= now - self._last_accepted < self.min_interval_s:
            reason = "rate_limited"
        if reason is not None:
            self.rejected[reason] += 1
            return reason
        self._last_accepted = now
        self.accepted += 1
        return None


class LruCache:
    """A dict of at most ``capacity`` entries; the least recently used goes first."""

    def __init__(self, capacity: int = 256):
        if capacity < 1:
            raise ValueError("LruCache capacity must be >= 1")
        self.capacity = capacity
        self._items: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class LatestWins:
    """A one-slot queue: ``put`` replaces what waits (counted as superseded); ``take`` empties it."""

    def __init__(self):
        self._item = None
        self._lock = threading.Lock()
        self.superseded = 0

    def put(self, item) -> None:
        with self._lock:
            if self._item is not None:
                self.superseded += 1
            self._item = item

    def waiting(self) -> bool:
        return self._item is not None

    def take(self):
        with self._lock:
            item, self._item = self._item, None
            return item


class NewestOnlyWorker:
    """One worker thread that handles only the newest item offered: ``offer`` replaces what
    waits (counted in ``superseded``), so a flood costs at most one item at a time and the
    caller never waits. Subclasses ``put`` items and implement ``process(item)``."""

    def __init__(self, name: str):
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self._waiting = LatestWins()
        self._busy = False
        self._lock = threading.Lock()

    @property
    def superseded(self) -> int:
        return self._waiting.superseded

    def put(self, item) -> None:
        self._waiting.put(item)
        with self._lock:
            if self._busy:
                return
            self._busy = True
        self._pool.submit(self._drain)

    def process(self, item) -> None:
        raise NotImplementedError

    def _drain(self) -> None:
        while True:
            item = self._waiting.take()
            if item is None:
                with self._lock:
                    if not self._waiting.waiting():  # nothing arrived meanwhile: done
                        self._busy = False
                        return
                continue
            self.process(item)

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Until nothing waits or is processed (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy and not self._waiting.waiting():
                    return True
            time.sleep(0.002)
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class TextInput(NewestOnlyWorker):
    """Descriptions -> the capture's text input, off the caller's thread.

    ``offer`` gates a description (``TextGate``), reuses a cached encoding, or hands it to
    the one encoder thread; ``on_embedding(embedding, stamp)`` is called from that thread
    (or at once on a cache hit). Encoding a new description takes tens of ms: never where
    frames are made, one at a time, and only the newest waiting text is kept (a flood
    cannot queue up)."""

    def __init__(self, encoder, on_embedding, gate: TextGate | None = None, cache_capacity: int = 256):
        super().__init__("text_encoder")
        self.encoder, self.on_embedding = encoder, on_embedding
        self.gate = gate or TextGate()
        self.cache = LruCache(cache_capacity)
        self.errors = 0  # texts the encoder failed on or encoded to non-finite numbers
        # Lazy initialisation (and its memory) now, not when the first description arrives.
        encoder.encode(["a person stands still."])

    def offer(self, text: str, now: float, stamp: float) -> str | None:
        """None if accepted (``now``: a monotonic clock for the rate limit; ``stamp``: the
        data time the description is aged from), else why it was refused (counted)."""
        reason = self.gate.offer(text, now)
        if reason is not None:
            return reason
        text = text.strip()
        embedding = self.cache.get(text)
        if embedding is not None:  # the captioner repeats itself: encode each text once
            self.on_embedding(embedding, stamp)
            return None
        self.put((text, stamp))
        return None

    def process(self, item) -> None:
        text, stamp = item
        try:
            embedding = np.asarray(self.encoder.encode([text])[0], np.float32)
        except Exception:  # a text the encoder cannot take: counted, capture goes on
            self.errors += 1
            return
        if not np.isfinite(embedding).all():
            self.errors += 1
            return
        self.cache.put(text, embedding)
        self.on_embedding(embedding, stamp)
