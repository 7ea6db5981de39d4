"""The upstream behaviour each patch of ``streams/faust_patches.py`` works around, pinned:
when an upgrade of faust-streaming or aiokafka changes it, these fail, and the patch is
to be looked at again (kept, changed or dropped)."""

from __future__ import annotations

import inspect
import weakref

from aiokafka.consumer.fetcher import Fetcher
from faust.streams import _current_event
from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from mode import Service

from segflow.streams.faust_patches import (
    ActivePartitions,
    SeekFirstRecovery,
    _FetchWaitConsumer,
    current_event,
    write_before_flush,
)


def source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


def test_faust_resumes_stream_partitions_before_it_seeks_them() -> None:
    # faust-streaming #216: SeekFirstRecovery reorders exactly these two calls.
    text = source(Recovery.on_recovery_completed)
    assert text.index("resume_partitions") < text.index("perform_seek")
    assert "on_recovery_completed" in SeekFirstRecovery.__dict__


def test_faust_flush_gives_up_after_a_tenth_of_a_second_without_a_send() -> None:
    # drain_before_commit replaces flush because of this timeout.
    text = source(ProducerBuffer.flush_atmost)
    assert "timeout=0.1" in text and "return flushed_messages" in text


def test_aiokafka_reads_an_empty_partition_set_as_every_partition() -> None:
    # ActivePartitions is never falsy because of this test of truth.
    assert "if partitions and tp not in partitions" in source(Fetcher.fetched_records)
    assert bool(ActivePartitions(set())) and 1 not in ActivePartitions(set())


def test_faust_waits_for_each_message_with_a_task_per_awaitable() -> None:
    # deliver_or_wait (the consumer's wait_first) skips the tasks for this one call.
    text = source(Consumer._drain_messages)
    assert "await self.wait_first(\n" in text
    assert "callback(message), self.suspend_flow.wait()" in text
    text = source(Service.wait_first)
    assert "asyncio.ensure_future(" in text and "for coro in coros" in text
    assert "wait_first" in _FetchWaitConsumer.__dict__


def test_faust_hard_codes_the_fetch_wait() -> None:
    # SegflowApp sets the consumer's private _fetch_max_wait_ms after Faust built it.
    text = source(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in text
    assert "_fetch_records" in faust_aiokafka.AIOKafkaConsumerThread.__dict__


def test_aiokafka_reads_the_fetch_wait_per_request_and_says_which_fetch_brought_records() -> None:
    # back_off_when_idle changes the wait between requests and reads the fetch's result.
    assert "self._fetch_max_wait_ms" in source(Fetcher._get_actions_per_node)
    text = source(Fetcher._proc_fetch_request)
    assert "# We added at least 1 successful record" in text and "return needs_wakeup" in text


def test_the_current_event_is_a_private_context_variable_tables_read() -> None:
    # current_event sets it for a batch; Faust's tables read it to pick the partition.
    class Item:
        pass

    item = Item()
    before = _current_event.get(None)
    with current_event(item):
        ref = _current_event.get()
        assert isinstance(ref, weakref.ref) and ref() is item
    assert _current_event.get(None) is before
    # A table write goes to the partition of the current event's message.
    text = source(Collection.partition_for_key)
    assert "current_event()" in text and "event.message.partition" in text


def test_faust_flushes_the_producer_before_it_commits_or_gives_partitions_up() -> None:
    # write_before_flush hooks the producer's flush for this: the profiles changed since
    # the last commit reach the changelog before the offsets of their events.
    from faust.app.base import App
    from faust.transport.consumer import Consumer

    commit = source(Consumer._commit_offsets)
    assert commit.index("self.app.producer.flush()") < commit.index("self._commit(")
    revoke = source(App._on_partitions_revoked)
    assert revoke.index("_consumer_wait_empty") < revoke.index("_producer_flush")


def test_the_producer_flush_writes_first_then_flushes_once_hooked() -> None:
    import asyncio

    calls: list[str] = []

    class Producer:
        async def flush(self) -> None:
            calls.append("flush")

    async def write() -> None:
        calls.append("write")

    async def again() -> None:
        calls.append("again")

    producer = Producer()
    write_before_flush(producer, write)
    write_before_flush(producer, again)  # hooked once only
    asyncio.run(producer.flush())
    assert calls == ["write", "flush"]


def test_take_events_times_every_wait_and_runs_processors_in_order_without_yielding() -> None:
    # batch_window_from_first_event shadows the stream's wait_for_stopped and adds a
    # processor ahead of take_events' own: it relies on this loop and this order.
    import asyncio
    from pathlib import Path

    import faust._cython
    from faust.streams import Stream
    from mode.utils.futures import maybe_async

    take = source(Stream.take_events)
    assert "self.wait_for_stopped(" in take and "buffer_full, timeout=timeout" in take
    assert "self.add_processor(add_to_buffer)" in take
    assert "self._processors.append(processor)" in source(Stream.add_processor)
    assert "for processor in processors:" in source(Stream._py_aiter)
    compiled = Path(faust._cython.__file__).with_name("streams.pyx").read_text()
    assert "await maybe_async(processor(value))" in compiled

    async def plain_result_awaited() -> list[int]:
        ran: list[int] = []
        asyncio.get_running_loop().call_soon(ran.append, 1)
        await maybe_async(5)
        return list(ran)  # a copy: the loop runs the callback once this returns

    assert asyncio.run(plain_result_awaited()) == []  # no other task ran in between


def test_the_apps_monitor_keeps_offsets_and_no_per_message_state() -> None:
    # Faust's own Monitor times every event; OffsetMonitor keeps the offsets only.
    from faust.sensors import Monitor
    from faust.types import TP

    from segflow.streams.faust_patches import OffsetMonitor, SegflowApp

    assert "self.time()" in source(Monitor.on_stream_event_in)
    app = SegflowApp("segflow-monitor-test", broker="kafka://127.0.0.1:9")  # never reached
    monitor = app.monitor
    assert isinstance(monitor, OffsetMonitor)
    tp = TP("clicks", 2)
    monitor.on_message_in(tp, 41, None)
    state = monitor.on_stream_event_in(tp, 41, None, None)
    monitor.on_tp_commit({tp: 42})
    monitor.track_tp_end_offset(tp, 50)
    assert monitor.tp_read_offsets == {tp: 41}
    assert monitor.tp_committed_offsets == {tp: 42} and monitor.tp_end_offsets == {tp: 50}
    assert state is None and monitor.events_total == 0
    assert monitor.messages_received_total == 0
