"""A token bucket: the per-worker rate limit on training samples."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """At most ``rate`` events per second on average, bursts up to ``burst``.

    ``rate`` 0 means no limit.

    >>> now = [0.0]
    >>> bucket = TokenBucket(rate=2.0, burst=2.0, clock=lambda: now[0])
    >>> [bucket.allow() for _ in range(3)]
    [True, True, False]
    >>> now[0] = 0.5
    >>> bucket.allow(), bucket.allow()
    (True, False)
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
