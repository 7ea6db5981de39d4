"""Event-time watermarks: how far the inactivity sweep's clock may go.

A partition's customers arrive through several sources (the four input topics and
the repartition topic), drained at different speeds while a backlog is read. The
newest event time of one fast source runs ahead of events a slower source still
holds; a sweep judging silence by it would see customers as silent whose events
are merely not read yet, and publish changes that the next event takes back. The
watermark is therefore the *minimum* over the partition's active sources of the
newest event time each delivered. A source that delivered nothing for ``idle_s``
of processing time (a topic without traffic) does not hold the watermark back; when
every source is idle the newest of them counts.

Processing time (``now``) is passed in: nothing here reads a clock.

>>> w = Watermarks(idle_s=10.0)
>>> w.observe(0, "clicks", 500.0, now=0.0)
>>> w.observe(0, "emails", 200.0, now=0.0)
>>> w.watermark(0, now=1.0)
200.0
>>> w.watermark(0, now=20.0)  # both idle: the newest
500.0
>>> w.observe(0, "clicks", 600.0, now=20.0)
>>> w.watermark(0, now=21.0)  # emails idle: clicks alone
600.0
"""

from __future__ import annotations


class Watermarks:
    """Per partition, per source: the newest event time delivered, and when."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._sources: dict[int, dict[str, tuple[float, float]]] = {}

    def reset(self) -> None:
        """Forget everything (after a rebalance)."""
        self._sources.clear()

    def observe(self, partition: int, source: str, event_time: float, now: float) -> None:
        """``source`` delivered an event of ``partition`` with ``event_time`` at ``now``."""
        sources = self._sources.setdefault(partition, {})
        newest, _ = sources.get(source, (event_time, now))
        sources[source] = (max(newest, event_time), now)

    def watermark(self, partition: int, now: float) -> float | None:
        """The event time the partition's sweep may run to (None: nothing seen yet)."""
        sources = self._sources.get(partition)
        if not sources:
            return None
        active = [newest for newest, seen in sources.values() if now - seen < self.idle_s]
        if active:
            return min(active)
        return max(newest for newest, _ in sources.values())


class InputClock:
    """The sweep's clock over one input of unknown order (the in-memory runner's): the
    newest event time less the most the input has run out of order so far. On
    time-ordered input it is the event time; on a file grouped by customer it stays
    behind until the end, so no look judges a customer silent whose events are merely
    further down the file.

    >>> clock = InputClock()
    >>> [clock.observe(t) for t in (10.0, 20.0, 5.0, 30.0)]
    [10.0, 20.0, 5.0, 15.0]
    >>> clock.newest
    30.0
    """

    def __init__(self) -> None:
        self.newest: float | None = None
        self.behind = 0.0

    def observe(self, t: float) -> float:
        """Take an event at ``t``; the watermark after it."""
        if self.newest is None:
            self.newest = t
        else:
            self.behind = max(self.behind, self.newest - t)
            self.newest = max(self.newest, t)
        return self.newest - self.behind
