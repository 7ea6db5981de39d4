"""Where segflow changes how faust-streaming 0.15.3 behaves, each with its reason.

- :class:`SeekFirstTableManager`: after a rebalance, stream partitions resume only
  once sought to their committed offsets (otherwise input records can be skipped
  and committed over: lost events).
- :func:`drain_before_commit`: offsets are committed only once the table's
  changelog writes put before them are delivered.
- :class:`ActivePartitions`: the worker's fetches never read an empty set of active
  partitions as "all partitions" (aiokafka does; records of partitions Faust is not
  reading are then dropped behind a seek and committed over: lost events).
- :class:`SegflowApp`: a settable fetch wait for the worker's consumer (Faust
  hard-codes 1.5 s, which is a hop's latency on brokers that do not answer a
  waiting fetch as soon as data arrives, Tansu among them), which grows while the
  worker's fetches come back empty (:func:`back_off_when_idle`): an idle worker
  polling every 10 ms spent 5.5 % of a core doing so. Its consumer hands each message
  on without the four tasks Faust's drain loop makes per message when the delivery
  does not have to wait (:func:`deliver_or_wait`): about a fifth of a worker's CPU
  per event draining a backlog. Its ``maybe_start_producer`` hands a started producer
  back without the three turns of the event loop Faust's costs every send, and its
  monitor (:class:`OffsetMonitor`) keeps only the offsets the lag gauges read.
- :func:`write_before_flush`: profiles changed since the last commit are written to
  the table right before the next offset commit (write-behind).
- :func:`batch_window_from_first_event`: the profile agent's ``take_events`` waits for
  a batch's first event without a timer, and gives it ``within`` from there. Faust
  restarts the ``within`` timer after every batch, so an idle agent woke 200 times a
  second (5 ms): 3-5 % of a core per idle worker, paid by every worker of a group.
- :func:`turns_every`: Faust's compiled stream iterator yields to the event loop
  before every message it takes (``await sleep(0)``), a whole turn of the loop (a
  ``select`` and every ready callback) per message; it now yields once a turn's
  worth of time (:data:`STREAM_TURN_S`) has passed since its last yield, so a stream
  reading a queue of messages still lets the other tasks run within 2 ms.
- :func:`current_event`: table writes of a whole batch land on the partition of the
  batch's events. Faust routes a table write to the partition of its "current event",
  a private context variable (``faust.streams._current_event``) that its
  ``take_events`` batches do not set per event; there is no public way to set it.

Every private name of Faust or aiokafka segflow touches is in this module; the tests
in ``tests/streams/test_faust_patches.py`` fail if the upstream behaviour they rely on
changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import faust
from faust.sensors import Monitor
from faust.streams import _current_event
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults


class SeekFirstRecovery(Recovery):
    """Faust's table recovery, but stream partitions resume only once sought to committed.

    faust-streaming 0.15.3's ``on_recovery_completed`` resumes the stream (input and
    repartition) partitions *before* seeking them to their committed offsets, while the
    consumer's flow is still on from reading the changelog. A fetch that lands in that
    window hands the agents records from the pre-seek position; the consumer's position
    then jumps past a few offsets that no agent ever sees, Faust's gap tracking marks
    them as done and commits over them: after a takeover, input events are lost for
    good (faust-streaming issue #216, fixed upstream for table-less apps only).
    Upstream's own ordering is seek first, then resume; this restores it.
    """

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        consumer: Any = self.app.consumer
        held: set[Any] = set()
        resume = consumer.resume_partitions
        seek = consumer.perform_seek

        def hold(tps: Any) -> None:
            held.update(tps)

        async def seek_then_resume() -> None:
            await seek()
            resume(set(held))
            held.clear()

        # Instance attributes shadow the methods for the duration of this call only.
        consumer.resume_partitions = hold
        consumer.perform_seek = seek_then_resume
        try:
            await super().on_recovery_completed(generation_id)
        finally:
            del consumer.resume_partitions
            del consumer.perform_seek
        if held:  # resumed but never sought (Faust skipped the seek): as Faust would
            resume(held)


def drain_before_commit(buffer: Any) -> None:
    """Make ``buffer.flush()`` wait until every message put so far has been delivered.

    Before committing source offsets Faust flushes its producer buffer, which holds
    the table's changelog writes; but ``ProducerBuffer.flush`` returns as soon as no
    message went out for 0.1 s, and the offsets are committed anyway (measured here:
    commits with up to 178 changelog writes still queued). A ``kill -9`` then loses
    table updates whose events are committed: at-least-once no longer holds. The
    buffer sends in order, so once the last message put has been delivered, all of
    those before it are at least with the Kafka producer, which Faust flushes next.
    """
    if getattr(buffer, "_segflow_drains", False):
        return
    put, fallback = buffer.put, buffer.flush
    last: list[asyncio.Future[Any]] = []

    def tracked_put(fut: asyncio.Future[Any]) -> None:
        last[:] = [fut]
        put(fut)

    async def flush() -> None:
        if buffer.state != "running":  # stopping: nothing will send it any more
            await fallback()
        elif last and not last[0].done():
            await asyncio.wait(last)  # a failed send is reported by its sender

    buffer.put = tracked_put
    buffer.flush = flush
    buffer._segflow_drains = True


class SeekFirstTableManager(TableManager):
    """Faust's table manager with :class:`SeekFirstRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class ActivePartitions:
    """Faust's live set of active partitions as aiokafka's ``fetched_records`` reads it,
    but never falsy.

    aiokafka drains *every* partition's fetched records when its ``partitions``
    argument is empty. Faust hands it its live active set, which the event loop empties
    while a fetch waits in the consumer thread: during a rebalance's seek to committed
    offsets (stream partitions resume only after it, changelogs are paused). That
    fetch then moves the positions of partitions Faust does not read yet past records
    it drops; the seek for them is already done, so nothing rereads them. The partition
    stalls at its committed offset, and once a later record arrives Faust's gap
    tracking commits over the dropped ones: lost events (measured: 223 repartitioned
    events and 690 input events after a takeover, committed offsets behind or past them).
    """

    __slots__ = ("tps",)

    def __init__(self, tps: Any) -> None:
        self.tps = tps

    def __contains__(self, tp: Any) -> bool:
        return tp in self.tps

    def __bool__(self) -> bool:
        return True


#: Fetches in a row that may come back empty before the wait grows: a steady stream
#: has its odd empty fetch, and on Tansu a longer wait delays what arrives meanwhile.
IDLE_FETCH_GRACE = 2


def fetch_wait(empty_fetches: int, low: int, high: int) -> int:
    """The wait (ms) of the next fetch after ``empty_fetches`` fetches in a row brought
    no records: ``low``, doubling after :data:`IDLE_FETCH_GRACE` of them, up to ``high``.

    >>> [fetch_wait(n, low=10, high=100) for n in range(8)]
    [10, 10, 10, 20, 40, 80, 100, 100]
    >>> fetch_wait(5, low=500, high=250)  # an idle wait below the wait: the wait
    500
    """
    if empty_fetches <= IDLE_FETCH_GRACE or high <= low:
        return low
    doublings = min(empty_fetches - IDLE_FETCH_GRACE, 32)
    return min(high, max(low, 1) << doublings)


def back_off_when_idle(consumer: Any, low: int, high: int) -> None:
    """Once ``consumer`` (an ``AIOKafkaConsumer``, not started yet) starts, its fetcher
    waits :func:`fetch_wait` for each fetch, between ``low`` and ``high`` ms.

    aiokafka builds its fetcher in ``start()`` and reads the fetcher's private
    ``_fetch_max_wait_ms`` for every fetch request; its ``_proc_fetch_request`` says
    whether a response brought records (True) or not.
    """
    consumer._fetch_max_wait_ms = low  # read by start() when it builds its fetcher
    start = consumer.start

    async def start_then_back_off() -> None:
        await start()
        fetcher = consumer._fetcher
        fetch = fetcher._proc_fetch_request
        empty = 0

        async def fetch_and_adapt(assignment: Any, node_id: Any, request: Any) -> Any:
            nonlocal empty
            found = await fetch(assignment, node_id, request)
            empty = 0 if found else empty + 1
            fetcher._fetch_max_wait_ms = fetch_wait(empty, low, high)
            return found

        fetcher._proc_fetch_request = fetch_and_adapt

    consumer.start = start_then_back_off


class _FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        app: Any = self.app
        back_off_when_idle(consumer, app.fetch_max_wait_ms, app.fetch_idle_wait_ms)
        return consumer

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        if active_partitions is not None:  # None: a client-only app reads everything
            active_partitions = ActivePartitions(active_partitions)
        return await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )


class Resumed:
    """The rest of a coroutine whose first step awaited ``pending``: awaiting this
    awaits what the coroutine awaits and returns what it returns, as awaiting the
    coroutine itself would have (``yield from`` a coroutine already started).

    >>> import asyncio
    >>> async def twice(x):
    ...     await asyncio.sleep(0)
    ...     return 2 * x
    >>> coro = twice(21)
    >>> pending = coro.send(None)  # its first step: it yields to the loop
    >>> async def rest():
    ...     return await Resumed(coro, pending)
    >>> asyncio.run(rest())
    42
    """

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Any, pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self) -> Any:
        coro, value = self.coro, self.pending
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # (a cancellation, thrown in by the task)
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def deliver_or_wait(consumer: Any, original: Any, *coros: Any, timeout: Any = None) -> Any:
    """``consumer.wait_first``, Faust's per-message wait in ``_drain_messages``
    (``wait_first(callback(message), suspend_flow.wait())``) without its four tasks
    when the callback finishes without waiting.

    mode's ``wait_first`` wraps each awaitable, and the service's stopped and crashed
    events, in a task, waits for the first and cancels the rest: about 24 us per
    message in a bare loop, paid by every message a worker reads. Here the callback's
    first step runs at once; if it returns (its channel had room, the usual case), that
    is the result, as the tasks would have given it (the flow was not suspended, nothing
    stopped). If it waits, or the flow is suspended, or the service stops, mode's own
    ``wait_first`` takes over, with the callback resumed where it stopped.
    """
    if (
        len(coros) == 2
        and timeout is None
        and asyncio.iscoroutine(coros[0])
        and asyncio.iscoroutine(coros[1])
        and not consumer.suspend_flow.is_set()
        and not consumer.should_stop
    ):
        callback, suspended = coros
        try:
            pending = callback.send(None)
        except StopIteration as done:
            suspended.close()
            return WaitResults([callback], [done.value], False)
        except BaseException:
            suspended.close()
            raise
        return await original(Resumed(callback, pending), suspended)
    return await original(*coros, timeout=timeout)


class _FetchWaitConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        return await deliver_or_wait(self, super().wait_first, *coros, timeout=timeout)


class _FetchWaitTransport(faust_aiokafka.Transport):
    Consumer = _FetchWaitConsumer


class OffsetMonitor(Monitor):
    """Faust's monitor, keeping only what segflow reads of it: the offsets read,
    committed and at the end of each partition (the Kafka lag gauges), and commits.

    Faust's own counts, for every message, its arrival, its time in each stream (two
    clock reads and a dict), its ack, and every table read and write, for its own
    statistics page, which segflow does not serve: a few microseconds per event.

    >>> from faust.types import TP
    >>> monitor = OffsetMonitor()
    >>> monitor.on_message_in(TP("clicks", 0), 41, None)
    >>> monitor.tp_read_offsets, monitor.on_stream_event_in(TP("clicks", 0), 41, None, None)
    ({TP(topic='clicks', partition=0): 41}, None)
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.tp_read_offsets[tp] = offset

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


class SegflowApp(faust.App):
    """A Faust app whose worker consumer waits at most ``fetch_max_wait_ms`` per fetch
    while fetches bring records, and up to ``fetch_idle_wait_ms`` while they do not,
    and hands a message on without tasks when it need not wait (:func:`deliver_or_wait`);
    whose sends find a started producer without turns of the event loop
    (:meth:`maybe_start_producer`); and whose monitor keeps offsets only
    (:class:`OffsetMonitor`)."""

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: int = 1500,
        fetch_idle_wait_ms: int = 1500,
        **kwargs: Any,
    ) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_idle_wait_ms = fetch_idle_wait_ms
        kwargs.setdefault("monitor", OffsetMonitor())
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _FetchWaitTransport(self.conf.broker_consumer, self)

    async def maybe_start_producer(self) -> Any:
        """The started producer at once; Faust's own call only while it is not started.

        Every ``Topic.send`` asks for the producer here. Faust's method is a mode
        ``stampede`` (one start for concurrent callers), which yields to the event loop
        three times per call (``asyncio.sleep(0)``) even once the producer runs: three
        turns of the loop for every change, membership or training sample sent.
        """
        producer = self.producer
        if not self.in_transaction and producer.started:
            return producer
        return await super().maybe_start_producer()


class FirstEventWindow:
    """A batch's ``within`` window, opened by its first event instead of a running timer.

    Faust's ``take_events(max_, within)`` loops on ``wait_for_stopped(buffer_full,
    timeout=within)``: with nothing to read it wakes, finds the buffer empty and waits
    again, every ``within``. :meth:`note` runs as the stream's first processor, before
    ``take_events``' own buffering one, and records that an event arrived; the timed
    wait then starts only once one has, so an idle agent sleeps until the next event.
    A batch still closes when full or ``within`` after it opened.

    >>> import asyncio
    >>> async def faust_wait(*waitables, timeout=None):  # mode's Service.wait_for_stopped
    ...     try:
    ...         await asyncio.wait_for(waitables[0].wait(), timeout)
    ...     except asyncio.TimeoutError:
    ...         pass
    ...     return False
    >>> async def demo():
    ...     window = FirstEventWindow(faust_wait)
    ...     full = asyncio.Event()
    ...     waiting = asyncio.ensure_future(window.wait_for_stopped(full, timeout=0.001))
    ...     await asyncio.sleep(0.05)
    ...     idle = waiting.done()  # no timer while nothing arrived
    ...     window.note("an event")
    ...     await waiting
    ...     return idle, window.arrived.is_set()
    >>> asyncio.run(demo())  # it waited for the event, then the window closed
    (False, False)
    """

    def __init__(self, wait_for_stopped: Callable[..., Awaitable[bool]]) -> None:
        self.arrived = asyncio.Event()
        self._wait = wait_for_stopped

    def note(self, value: Any) -> Any:
        """The stream's processor: an event arrived (it goes on unchanged)."""
        self.arrived.set()
        return value

    async def wait_for_stopped(self, *waitables: Any, timeout: Any = None) -> bool:
        """``Service.wait_for_stopped``; a timed wait for one waitable (``take_events``'
        wait for a full buffer) first waits, untimed, for an event to arrive."""
        if timeout is None or len(waitables) != 1:
            return await self._wait(*waitables, timeout=timeout)
        if not self.arrived.is_set() and await self._wait(self.arrived):
            return True  # the stream stopped
        try:
            return await self._wait(*waitables, timeout=timeout)
        finally:
            # Every event noted so far is in the buffer Faust takes next: processors
            # run one after the other, with no await between this one and Faust's.
            self.arrived.clear()


def batch_window_from_first_event(stream: Any) -> None:
    """``stream.take_events(max_, within)`` (call it after this) waits for a batch's first
    event without a timer (:class:`FirstEventWindow`)."""
    window = FirstEventWindow(stream.wait_for_stopped)
    stream.add_processor(window.note)
    stream.wait_for_stopped = window.wait_for_stopped  # shadows the method


#: The longest a Faust stream takes messages already queued for it before it lets the
#: event loop run its other tasks (the fetcher's deliveries, commits, the web server).
#: Well under the profile agent's batch window (``batch_wait_s``, 5 ms).
STREAM_TURN_S = 0.002


class LoopTurns:
    """``asyncio.sleep`` whose zero sleeps yield to the event loop only when ``every``
    seconds have passed since the last one that did (a sleep with a delay sleeps).

    >>> clock = iter([0.0, 0.001, 0.0025, 0.003]).__next__
    >>> turns = LoopTurns(0.002, clock)
    >>> async def four_zero_sleeps():
    ...     for _ in range(4):
    ...         await turns.sleep(0)
    >>> asyncio.run(four_zero_sleeps())
    >>> turns.yielded  # at 0.0 (the first) and 0.0025
    2
    """

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._last = -float("inf")
        #: Zero sleeps that yielded.
        self.yielded = 0

    async def sleep(self, delay: float, result: Any = None) -> Any:
        if delay <= 0:
            now = self._clock()
            if now - self._last < self.every:
                return result
            self._last = now
            self.yielded += 1
        return await asyncio.sleep(delay, result)


def turns_every(every: float = STREAM_TURN_S) -> LoopTurns | None:
    """Make Faust's compiled stream iterator yield to the event loop at most once per
    ``every`` seconds instead of before every message it takes (:class:`LoopTurns`);
    for the whole process, once. None when Faust runs without its compiled iterator
    (its pure-Python one keeps a yield per message).

    The iterator of a stream's ``take_events`` only runs the stream's processors (a
    buffer append) between two takes, and waits (a turn of the loop) whenever its
    queue is empty or the batch buffer is full; while messages are queued it now
    yields every ``every`` seconds instead of per message.
    """
    try:
        import faust._cython.streams as compiled
    except ImportError:  # pragma: no cover - faust-streaming's wheels ship it
        return None
    installed = getattr(compiled.sleep, "__self__", None)
    if isinstance(installed, LoopTurns):
        return installed
    turns = LoopTurns(every)
    compiled.sleep = turns.sleep
    return turns


def write_before_flush(producer: Any, write: Callable[[], Awaitable[object]]) -> None:
    """Make ``producer.flush()`` call ``write`` first.

    Faust flushes its producer before every offset commit (``Consumer.commit``) and
    before giving partitions up in a rebalance (``App._on_partitions_revoked``): what
    ``write`` puts into tables then reaches their changelogs before the offsets of the
    events that made it are committed, and :func:`drain_before_commit` waits for it.
    """
    if getattr(producer, "_segflow_writes_first", False):
        return
    flush = producer.flush

    async def flush_after_writing() -> None:
        await write()
        await flush()

    producer.flush = flush_after_writing
    producer._segflow_writes_first = True


@contextlib.contextmanager
def current_event(item: Any) -> Iterator[None]:
    """Make ``item`` Faust's current event: table reads and writes use its partition."""
    token = _current_event.set(weakref.ref(item))
    try:
        yield
    finally:
        _current_event.reset(token)
