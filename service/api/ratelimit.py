"""Per-key token buckets: each key may burst up to its budget, refilled continuously."""

from __future__ import annotations

import threading
import time

from service.errors import RateLimitedError


class RateLimiter:
    def __init__(self, per_minute: int, what: str = "requests") -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._what = what
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
                    f"this API key has used its {self._capacity:.0f} {self._what} per minute",
                    retry_after_seconds=wait,
                )
            self._buckets[key] = (tokens - 1.0, now)
