"""Per-keypair request limit over a rolling window, in this gateway instance's memory.

Mirrors the reference (§2.2): every request is recorded, then refused when the window holds more
than the keypair's limit. Keeping only the newest limit+1 timestamps decides exactly the same.
Several gateway instances each count their own share: the effective limit is per instance.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

SWEEP_EVERY = 10_000  # requests between sweeps of idle keys


class SlidingWindow:
    def __init__(self, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window_seconds
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._since_sweep = 0

    def hit(self, key: str, limit: int) -> tuple[bool, int]:
        """Record one request; (allowed, remaining in the window)."""
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        hits.append(now)
        while len(hits) > limit + 1:
            hits.popleft()
        self._maybe_sweep(now)
        return len(hits) <= limit, max(0, limit - len(hits))

    def _maybe_sweep(self, now: float) -> None:
        self._since_sweep += 1
        if self._since_sweep < SWEEP_EVERY:
            return
        self._since_sweep = 0
        cutoff = now - self.window
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]
