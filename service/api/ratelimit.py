"""Token buckets per caller (an API key, or a client address for requests without a valid
key): each caller may burst up to its budget, refilled continuously."""

from __future__ import annotations

import threading
import time

from service.errors import RateLimitedError


class RateLimiter:
    # Buckets kept before full ones are forgotten: a full bucket is the same as none, and
    # callers that come and go (client addresses) must not grow the table without end.
    max_buckets = 10_000

    def __init__(self, per_minute: int, what: str = "requests", who: str = "this API key") -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._what = what
        self._who = who
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - at) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
                raise RateLimitedError(
                    f"{self._who} has used its {self._capacity:.0f} {self._what} per minute",
                    retry_after_seconds=wait,
                )
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_buckets:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self._rate >= self._capacity:
                del self._buckets[key]
