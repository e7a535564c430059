"""Token buckets per caller (an API key, or a client address for requests without a valid
key): each caller may burst up to its budget, refilled continuously. ``RateLimiter`` keeps
them in the process; ``SharedRateLimiter`` in the service database, for replicas."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError

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
            tokens = self._refilled(tokens, at, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise self._exhausted(tokens)
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_buckets:
                self._forget_full(now)

    def _refilled(self, tokens: float, at: float, now: float) -> float:
        """A bucket's tokens at ``now``: refilled since ``at``, never past the budget."""
        return min(self._capacity, tokens + (now - at) * self._rate)

    def _exhausted(self, tokens: float) -> RateLimitedError:
        """The refusal of a caller whose bucket holds ``tokens`` (< 1): when one is back."""
        return RateLimitedError(
            f"{self._who} has used its {self._capacity:.0f} {self._what} per minute",
            retry_after_seconds=(1.0 - tokens) / self._rate,
        )

    def _forget_full(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if self._refilled(tokens, at, now) >= self._capacity:
                del self._buckets[key]


class SharedRateLimiter(RateLimiter):
    """The same token buckets kept in the service database, so every API process on it (the
    replicas of one deployment) draws on one budget per caller. Each take is one atomic
    UPDATE that refills and spends only when a token is there; a caller's first request
    inserts its bucket. Times are wall-clock seconds, which every process shares."""

    def __init__(
        self,
        engine: Engine,
        per_minute: int,
        what: str = "requests",
        who: str = "this API key",
    ) -> None:
        super().__init__(per_minute, what, who)
        self._engine = engine

    def take(self, key: str) -> None:
        from service.db import rate_buckets

        name = f"{self._what}:{key}"[:320]
        for _ in range(8):
            now = time.time()
            refilled = rate_buckets.c.tokens + (now - rate_buckets.c.at) * self._rate
            capped = case((refilled > self._capacity, self._capacity), else_=refilled)
            with self._engine.begin() as connection:
                spent = connection.execute(
                    update(rate_buckets)
                    .where(rate_buckets.c.key == name, capped >= 1.0)
                    .values(tokens=capped - 1.0, at=now)
                )
                if spent.rowcount == 1:
                    return
                row = connection.execute(
                    select(rate_buckets.c.tokens, rate_buckets.c.at).where(
                        rate_buckets.c.key == name
                    )
                ).first()
                if row is None:
                    try:
                        with connection.begin_nested():
                            connection.execute(
                                insert(rate_buckets).values(
                                    key=name, tokens=self._capacity - 1.0, at=now
                                )
                            )
                        return
                    except IntegrityError:
                        continue  # another process made the bucket first: spend from it
            tokens = self._refilled(row.tokens, row.at, now)
            if tokens >= 1.0:
                continue  # the bucket appeared (or refilled) after the UPDATE looked: spend again
            raise self._exhausted(tokens)
        raise RateLimitedError(
            f"{self._who} is asking faster than its budget can be counted",
            retry_after_seconds=1.0,
        )
