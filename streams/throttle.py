"""A token bucket: the rate limit on training samples, a group-wide rate that each
worker takes its share of (:func:`partition_share`)."""

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
        self._burst = burst
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

    def set_rate(self, rate: float) -> None:
        """Change the rate (and the burst with it, unless one was given); the tokens
        kept stay, up to the new burst.

        >>> bucket = TokenBucket(rate=8.0)
        >>> bucket.set_rate(2.0)
        >>> bucket.rate, bucket.burst
        (2.0, 2.0)
        """
        self.rate = rate
        self.burst = self._burst if self._burst is not None else max(1.0, rate)
        self._tokens = min(self._tokens, self.burst)


def partition_share(rate: float, owned: int, partitions: int) -> float:
    """A worker's part of the group-wide ``rate``: as many ``partitions``-ths of it as
    it owns input partitions, so the group sends the trainer the same samples however
    many workers share the partitions (``rate`` 0, no limit, stays 0; a worker owning
    none keeps one share: it has no events to sample, and 0 would mean no limit).

    >>> partition_share(200.0, 1, 4), partition_share(200.0, 4, 4), partition_share(0.0, 1, 4)
    (50.0, 200.0, 0.0)
    >>> partition_share(200.0, 0, 4)
    50.0
    """
    return rate * max(owned, 1) / max(partitions, 1)
