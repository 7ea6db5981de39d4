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

import bisect
import collections
import hashlib
import heapq
import math
from collections.abc import Iterable, Iterator

from .config import EngineConfig
from .profile import Profile
from .step import due_at, look_interval

#: Watermarks noted per partition whose looks are not taken yet, at most: past it the
#: oldest are dropped, and the looks due by them are taken by the next (as overdue when
#: more than an interval late).
MARKS_KEPT = 4096


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
        #: Per partition, the watermarks :meth:`note` was told whose looks are not all
        #: taken yet, increasing.
        self._marks: dict[int, collections.deque[float]] = {}

    def reset(self) -> None:
        """Forget everything (after a rebalance: partitions may have moved)."""
        self._heaps.clear()
        self._scheduled.clear()
        self._restored.clear()
        self._watermarks.clear()
        self._marks.clear()

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
        before = self._passing(partition, heap, watermark)
        while heap and heap[0][0] <= watermark:
            when, customer = heapq.heappop(heap)
            if self._scheduled.get(customer) != when:
                continue  # superseded by a newer event or look
            at = self._take(heap, customer, when, watermark, before)
            if at is not None:
                yield at, customer

    def note(self, partition: int, watermark: float) -> None:
        """An event brought ``partition``'s watermark to ``watermark``: the looks due by
        it are to be taken later (:meth:`due_noted`), each as :meth:`due` would have
        given it at that watermark. Only a rise is noted: by a lower watermark every
        look due is taken or noted already."""
        marks = self._marks.get(partition)
        if marks is None:
            marks = self._marks[partition] = collections.deque(maxlen=MARKS_KEPT)
        if not marks or watermark > marks[-1]:
            marks.append(watermark)

    def waiting(self, partition: int) -> bool:
        """Whether looks may be due by the watermarks noted on ``partition`` and not taken
        (cheap: the heap's earliest entry, which may be one superseded since)."""
        marks = self._marks.get(partition)
        if not marks:
            return False
        heap = self._heaps.get(partition)
        if heap and heap[0][0] <= marks[-1]:
            return True
        marks.clear()  # nothing due by the newest, nor by the older ones
        return False

    def forget_noted(self, partition: int) -> None:
        """Forget the watermarks noted on ``partition`` (their looks come due again by
        the next noted)."""
        self._marks.pop(partition, None)

    def noted_partitions(self) -> list[int]:
        """The partitions with watermarks noted and not swept to."""
        return [partition for partition, marks in self._marks.items() if marks]

    def due_noted(self, partition: int) -> Iterator[tuple[float, str]]:
        """(when, customer) of every look due by the watermarks noted on ``partition``,
        watermark by watermark in the order noted: :meth:`due` at each (a watermark is
        forgotten once every look due by it is taken; a caller that stops early takes
        the rest with the next call).

        >>> sweep = Sweep(EngineConfig())
        >>> sweep.load(0, [])
        >>> p = Profile.new("c1", as_of=0.0); p.segment = "seg-1"
        >>> sweep.schedule(0, p)
        >>> when = due_at(p, sweep.config)
        >>> sweep.note(0, when - 1.0); sweep.note(0, when + 5.0)
        >>> list(sweep.due_noted(0)) == [(when, "c1")]
        True
        >>> sweep.waiting(0)
        False
        """
        marks = self._marks.get(partition)
        while marks:
            yield from self.due(partition, marks[0])
            marks.popleft()

    def due_for(self, partition: int, customer: str) -> float | None:
        """When to look at ``customer`` now, if its look is due by the watermarks noted
        on ``partition`` (taken off the schedule, as :meth:`due_noted` would take it),
        else None.

        A caller that takes the partition's other looks later (a worker, after a
        batch) asks this before something changes the customer (its event), so each
        customer's looks and events stay in event-time order.

        >>> sweep = Sweep(EngineConfig())
        >>> sweep.load(0, [])
        >>> p = Profile.new("c1", as_of=0.0); p.segment = "seg-1"
        >>> sweep.schedule(0, p)
        >>> when = due_at(p, sweep.config)
        >>> sweep.note(0, when - 1.0)
        >>> sweep.due_for(0, "c1") is None
        True
        >>> sweep.note(0, when + 5.0)
        >>> sweep.due_for(0, "c1") == when
        True
        >>> list(sweep.due_noted(0))  # taken already
        []
        """
        heap = self._heaps.get(partition)
        marks = self._marks.get(partition)
        when = self._scheduled.get(customer)
        if heap is None or not marks or when is None or when > marks[-1]:
            return None
        # The watermark it came due by: the first noted at or past its due time.
        watermark = marks[bisect.bisect_left(marks, when)]
        before = self._passing(partition, heap, watermark)
        when = self._scheduled.get(customer)  # (the first pass may have spread it)
        if when is None or when > watermark:
            return None
        return self._take(heap, customer, when, watermark, before)

    def _passing(self, partition: int, heap: list[tuple[float, str]], watermark: float) -> float:
        """Note ``watermark`` as asked for on ``partition`` (spreading the restored looks
        it jumped over on the first ask since the load); the watermark asked before it."""
        if partition not in self._watermarks:
            self._spread_jumped(heap, watermark, look_interval(self.config))
        return self._passed(partition, watermark)

    def _take(
        self,
        heap: list[tuple[float, str]],
        customer: str,
        when: float,
        watermark: float,
        before: float,
    ) -> float | None:
        """Take the customer's look due at ``when`` off the schedule: at ``when``, or at
        the watermark when overdue by more than an interval; None when it moves on."""
        interval = look_interval(self.config)
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
                return None
        del self._scheduled[customer]
        return watermark if when < watermark - interval else when

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
