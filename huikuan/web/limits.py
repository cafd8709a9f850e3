"""Attempts counted in memory, per link and per address, over a sliding window.

One process serves the pages (``huikuan web``), so memory is enough: a restart
forgets the counts, which only gives an attacker a fresh minute.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` hits per key in ``window`` seconds; ``clock`` is monotonic seconds (a test passes its own)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one hit of ``key``; False when it is over the limit (the refused hit counts too)."""
        now = self.clock()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            hits.append(now)
            if len(self._hits) > 100_000:  # many addresses: forget the quiet ones rather than grow without end
                for quiet in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
                    del self._hits[quiet]
            return len(hits) <= self.limit

    def over(self, key: str) -> bool:
        """Has ``key`` used up its hits in the window? (counts nothing)"""
        now = self.clock()
        with self._lock:
            return sum(1 for hit in self._hits.get(key, ()) if hit > now - self.window) >= self.limit
