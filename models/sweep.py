"""The inactivity sweep's schedule: which silent customers are due for a look, and when.

Decay alone can carry a customer who sends nothing across a boundary;
:func:`~segflow.models.step.due_at` says when to re-assess one. The schedule keeps,
per partition, a heap of (due time, customer); everything due at or before the
caller's watermark (see :mod:`.watermark`) comes out, so the cost of a sweep
follows the number of customers due, not the number held. A look
overdue by more than one interval (a gap in the traffic) is taken once, at the
watermark, not once per interval missed. A customer restored from the table (a
worker's start or a rebalance) has no known last look: the worker before took the
looks due before it stopped, so a restored customer's look already due is taken one
interval later (overdue by more than an interval: once within the next interval, at
a point spread by its id), and a million restored customers are not all looked at on
the first event. The in-memory runner uses one
partition; a worker one per partition it owns.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Iterator

from .config import EngineConfig
from .profile import Profile
from .step import due_at, look_interval


class Sweep:
    """When to look again at silent customers, per partition.

    A worker re-assesses the customers due on a partition while it processes an
    event of that partition, so their table writes land on that partition's
    changelog, and rebuilds the heaps from its table after every rebalance.

    >>> sweep = Sweep(EngineConfig())
    >>> sweep.load(0, [])
    >>> p = Profile.new("c1", as_of=0.0); p.segment = "seg-1"
    >>> sweep.schedule(0, p)
    >>> when = due_at(p, sweep.config)
    >>> list(sweep.due(0, when - 1.0))
    []
    >>> list(sweep.due(0, when + 1.0)) == [(when, "c1")]
    True
    >>> list(sweep.due(0, when + 2.0))  # until rescheduled after the look
    []
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._heaps: dict[int, list[tuple[float, str]]] = {}
        self._scheduled: dict[str, float] = {}
        #: Customers restored from the table and not looked at or stepped since.
        self._restored: set[str] = set()
        #: Per partition, the watermark before the newest one ``due`` was asked for, and
        #: that newest one (to tell a restored look the watermark jumped over).
        self._watermarks: dict[int, tuple[float, float]] = {}

    def reset(self) -> None:
        """Forget everything (after a rebalance: partitions may have moved)."""
        self._heaps.clear()
        self._scheduled.clear()
        self._restored.clear()
        self._watermarks.clear()

    def loaded(self, partition: int) -> bool:
        return partition in self._heaps

    def load(self, partition: int, profiles: Iterable[Profile]) -> None:
        """Start tracking ``partition`` with the customers it holds."""
        self._heaps[partition] = []
        for profile in profiles:
            self.restore(partition, profile)

    def restore(self, partition: int, profile: Profile) -> None:
        """Schedule a customer read back from the table (its last look unknown): one
        interval after its due time (see :meth:`due`). A pending move's confirmation is
        not deferred: had the worker before taken it, the stored profile would no longer
        be pending."""
        when = due_at(profile, self.config)
        self._place(partition, profile.customer_id, when, restored=profile.pending is None)

    def schedule(self, partition: int, profile: Profile, after: float | None = None) -> None:
        """(Re)schedule a customer after an event (``after`` None) or a look at ``after``."""
        when = due_at(profile, self.config, after)
        self._place(partition, profile.customer_id, when, restored=False)

    def _place(self, partition: int, customer: str, when: float | None, restored: bool) -> None:
        """Make ``when`` the customer's due time (None: none; an earlier heap entry is
        superseded), one interval later for a ``restored`` customer."""
        if when is None or not restored:
            self._restored.discard(customer)
        if when is None:
            self._scheduled.pop(customer, None)
            return
        if restored:
            when += look_interval(self.config)
            self._restored.add(customer)
        self._scheduled[customer] = when
        heapq.heappush(self._heaps.setdefault(partition, []), (when, customer))

    def due(self, partition: int, watermark: float) -> Iterator[tuple[float, str]]:
        """(when, customer) of every look due on ``partition`` by ``watermark``.

        ``when`` is the due time, or the watermark for a look overdue by more than one
        interval. The caller re-assesses each at ``when`` and calls :meth:`schedule`
        with ``after=when``. The watermark is the caller's: it may step back (input
        found to be further out of order than thought), and nothing is due until it
        passes the due times again.
        """
        heap = self._heaps.get(partition, [])
        interval = look_interval(self.config)
        overdue = watermark - interval
        first = partition not in self._watermarks
        before = self._passed(partition, watermark)
        if first:
            self._spread_jumped(heap, watermark, interval)
        while heap and heap[0][0] <= watermark:
            when, customer = heapq.heappop(heap)
            if self._scheduled.get(customer) != when:
                continue  # superseded by a newer event or look
            if customer in self._restored:
                # The worker before took the look due before it stopped, or missed it by
                # less than an interval: the next is one interval on, where ``restore``
                # put it. Missed by more (the worker stopped for a while: the watermark
                # went from before the look's due time past this one at once), it is
                # spread over the next interval instead.
                self._restored.discard(customer)
                if before < when - interval and when < watermark:
                    later = watermark + interval * _spread(customer)
                    self._scheduled[customer] = later
                    heapq.heappush(heap, (later, customer))
                    continue
            del self._scheduled[customer]
            yield (watermark if when < overdue else when), customer

    def _spread_jumped(
        self, heap: list[tuple[float, str]], watermark: float, interval: float
    ) -> None:
        """The first ``due`` on a partition since its load: every restored customer due
        before ``watermark`` was jumped over; spread them all in one pass and one
        ``heapify`` (what the loop in :meth:`due` would do one pop and push at a time:
        seconds for the half million overdue of a million restored customers)."""
        restored, scheduled = self._restored, self._scheduled
        spread = False
        for i, (when, customer) in enumerate(heap):
            if when < watermark and customer in restored and scheduled.get(customer) == when:
                later = watermark + interval * _spread(customer)
                heap[i] = (later, customer)
                scheduled[customer] = later
                restored.discard(customer)
                spread = True
        if spread:
            heapq.heapify(heap)

    def _passed(self, partition: int, watermark: float) -> float:
        """The watermark ``due`` was asked for on ``partition`` before ``watermark``
        (-inf: none); ``watermark`` is noted as the newest when it is."""
        before, newest = self._watermarks.get(partition, (-math.inf, -math.inf))
        if watermark > newest:
            before = newest
            self._watermarks[partition] = (before, watermark)
        return before

    def __len__(self) -> int:
        return len(self._scheduled)


def _spread(customer: str) -> float:
    """A fixed point in (0, 1] for ``customer`` (the same in every process)."""
    digest = hashlib.blake2b(customer.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 1) / 2**64
