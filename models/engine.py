"""The per-event loop, once: sweep the silent customers due, step the event, reschedule.

Both the in-memory runner (:mod:`.runner`) and a worker (``segflow.streams.app``) run
their events through one :class:`Engine` per process. The engine owns the inactivity
sweep's schedule; where profiles live and what happens to a result (a table write and
Kafka sends in a worker, a dict and the learner in the runner) is the caller's: it
passes a ``lookup`` for the current profile of a customer and a ``sink`` that receives
every result, in order, before the engine goes on (so the next lookup sees it).

>>> from datetime import UTC, datetime
>>> from segflow.models.config import EngineConfig
>>> from segflow.models.events import ClickEvent
>>> from segflow.models.model import SegmentModel
>>> engine, profiles = Engine(EngineConfig()), {}
>>> def keep(done: Handled) -> None:
...     profiles[done.customer] = done.result.profile
>>> click = ClickEvent(event_id="e1", customer_id="c1", url="/pricing",
...                    occurred_at=datetime(2026, 11, 2, tzinfo=UTC))
>>> engine.handle(0, click, SegmentModel.create(EngineConfig()), profiles.get, keep,
...               stamp=lambda t: click.occurred_at)
>>> profiles["c1"].event_counts
{'click': 1}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from .batch import prepare
from .changes import ChangeReason
from .config import EngineConfig
from .events import Event
from .model import SegmentModel
from .profile import Profile
from .step import StepResult, reassess, step
from .sweep import Sweep

#: The current profile of a customer (None: none yet).
Lookup = Callable[[str], Profile | None]
#: The processing time stamped on a result at event time ``t`` (``emitted_at``).
Stamp = Callable[[float], datetime]


@dataclass(frozen=True, slots=True)
class Handled:
    """One customer handled: by an event, a look of the sweep, or a retirement move."""

    customer: str
    #: The profile before (None: a new customer).
    before: Profile | None
    result: StepResult
    cause: ChangeReason


Sink = Callable[[Handled], None]
#: Told of a look of the sweep that failed (customer, error); the sweep goes on.
SweepErrors = Callable[[str, Exception], None]


class Engine:
    """The loop of one process over the customers of the partitions it holds.

    Parameters
    ----------
    config
        The engine settings (the schedule's look interval and dwell).
    sweep
        Whether silent customers are re-assessed as event time passes (the sweep).
    """

    def __init__(self, config: EngineConfig, sweep: bool = True) -> None:
        self.config = config
        self.sweeping = sweep
        #: The sweep's schedule (kept empty when not sweeping).
        self.schedule = Sweep(config)

    def handle(
        self,
        partition: int,
        event: Event,
        model: SegmentModel,
        lookup: Lookup,
        sink: Sink,
        stamp: Stamp,
        watermark: float | None = None,
        on_sweep_error: SweepErrors | None = None,
        now: datetime | None = None,
        sweep_first: bool = True,
    ) -> None:
        """Sweep ``partition`` up to ``watermark`` (default: the event's time), then step
        ``event`` (stamped ``now``, default ``stamp`` of its time) and reschedule its
        customer; every result goes to ``sink``.

        With ``sweep_first`` False the watermark is noted and only the event's own
        customer is looked at first, if due (:meth:`look_if_due`): the caller takes the
        partition's other looks later, with :meth:`sweep` without a watermark (a worker
        does, after a batch). Each customer's results are the same, in the same order, either way.
        """
        io = (model, lookup, sink, stamp, on_sweep_error)
        self._event(
            partition, event, partial(step, event, model=model), io, watermark, now, sweep_first
        )

    def handle_batch(
        self,
        partition: int,
        events: Sequence[Event],
        watermarks: Sequence[float | None],
        model: SegmentModel,
        lookup: Lookup,
        sinks: Sequence[Sink],
        stamp: Stamp,
        on_error: Callable[[int, Exception], None],
        on_sweep_error: SweepErrors | None = None,
    ) -> None:
        """:meth:`handle` (without ``sweep_first``) of each of ``events`` in order, its
        results to ``sinks[i]``, through the batch step (:mod:`.batch`): the same
        results. What raised while handling event ``i`` goes to ``on_error(i, error)``
        and the batch goes on (its customer's later events are handled one by one, as
        if the failed event had not come)."""
        prepared = prepare(events, lookup, model)
        failed: set[str] = set()
        for i, event in enumerate(events):
            key = event.profile_key
            try:
                if key in failed:
                    stepper = partial(step, event, model=model)
                else:
                    stepper = partial(prepared.finish, i, model=model)
                io = (model, lookup, sinks[i], stamp, on_sweep_error)
                self._event(partition, event, stepper, io, watermarks[i], None, False)
            except Exception as error:
                failed.add(key)
                on_error(i, error)

    def _event(
        self,
        partition: int,
        event: Event,
        stepper: Callable[..., StepResult],
        io: tuple[SegmentModel, Lookup, Sink, Stamp, SweepErrors | None],
        watermark: float | None,
        now: datetime | None,
        sweep_first: bool,
    ) -> None:
        """The sweep before ``event`` (see :meth:`handle`), ``stepper(before, now=...)``
        on its customer's profile, the reschedule, the result to ``sink`` (``io``: the
        model, lookup, sink, stamp and sweep error handler)."""
        model, lookup, sink, stamp, on_sweep_error = io
        t = event.occurred_at.timestamp()
        if self.sweeping:
            mark = t if watermark is None else watermark
            if sweep_first:
                self.sweep(partition, mark, model, lookup, sink, stamp, on_sweep_error)
            else:
                self.schedule.note(partition, mark)
                self.look_if_due(
                    partition, event.profile_key, model, lookup, sink, stamp, on_sweep_error
                )
        before = lookup(event.profile_key)
        result = stepper(before, now=stamp(t) if now is None else now)
        if self.sweeping and result.outcome == "applied":
            self.schedule.schedule(partition, result.profile)
        sink(Handled(event.profile_key, before, result, "event"))

    def sweep(
        self,
        partition: int,
        watermark: float | None,
        model: SegmentModel,
        lookup: Lookup,
        sink: Sink,
        stamp: Stamp,
        on_error: SweepErrors | None = None,
        limit: int | None = None,
    ) -> int:
        """Re-assess the silent customers of ``partition`` due by ``watermark`` (None: by
        the watermarks :meth:`handle` noted without ``sweep_first``, one by one in the
        order noted); the earliest ``limit`` of them, when given (the rest stay due).
        How many."""
        if not self.sweeping:
            return 0
        if watermark is not None:
            self.schedule.note(partition, watermark)
        looks = 0
        for when, customer in self.schedule.due_noted(partition):
            looks += 1
            self._look(partition, customer, when, model, lookup, sink, stamp, on_error)
            if looks == limit:
                break  # (the generator pops lazily: the rest stay scheduled)
        return looks

    def look_if_due(
        self,
        partition: int,
        customer: str,
        model: SegmentModel,
        lookup: Lookup,
        sink: Sink,
        stamp: Stamp,
        on_error: SweepErrors | None = None,
    ) -> int:
        """Re-assess ``customer`` alone, as often as its looks are due on ``partition``
        by the watermarks noted (the partition's other looks stay due); how often."""
        looks = 0
        while self.sweeping and (when := self.schedule.due_for(partition, customer)) is not None:
            looks += 1
            self._look(partition, customer, when, model, lookup, sink, stamp, on_error)
        return looks

    def _look(
        self,
        partition: int,
        customer: str,
        when: float,
        model: SegmentModel,
        lookup: Lookup,
        sink: Sink,
        stamp: Stamp,
        on_error: SweepErrors | None,
    ) -> None:
        """One look of the sweep at one silent customer, at event time ``when``."""
        try:
            before = lookup(customer)
            if before is None:
                return
            result = reassess(before, model, when, stamp(when))
        except Exception as error:
            if on_error is None:
                raise
            on_error(customer, error)
            return
        self.schedule.schedule(partition, result.profile, after=when)
        sink(Handled(customer, before, result, "inactivity"))

    def retire(
        self,
        partition: int,
        members: Iterable[Profile],
        model: SegmentModel,
        at: float,
        sink: Sink,
        stamp: Stamp,
    ) -> None:
        """Move ``members`` (current profiles of customers in segments the model in force
        retired) at event time ``at`` (changes with reason ``retired``)."""
        for before in members:
            result = reassess(before, model, at, stamp(at), reason="retired")
            if self.sweeping:
                self.schedule.schedule(partition, result.profile, after=result.t)
            sink(Handled(before.customer_id, before, result, "retired"))
