"""The worker's fetches against a real broker: an empty set of active partitions
fetches nothing (aiokafka would read it as "every partition")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from kafkatest import isolated_settings, prepare, producer

from segflow.streams.app import create_app
from segflow.streams.broker import LocalBroker

pytestmark = pytest.mark.kafka


def test_an_empty_active_set_fetches_nothing_and_moves_no_position(
    broker: LocalBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker, tmp_path)
    prepare(settings)
    topic = settings.topics.clicks
    sender = producer(settings)
    for i in range(20):
        sender.send(topic, key=b"c1", value=b'{"n": %d}' % i, partition=0)
    sender.flush()
    sender.close()

    async def scenario() -> tuple[Any, int, Any]:
        app = create_app(settings)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            for _ in range(200):  # until the fetcher holds records of the partition
                if consumer._fetcher._records:
                    break
                await asyncio.sleep(0.05)
            # Mid-rebalance: Faust reads no partition yet.
            nothing = await thread._fetch_records(consumer, set(), timeout=0.3)
            position = await consumer.position(tp)
            # Once the partition is active again, its records are all still there.
            records: list[Any] = []
            for _ in range(50):
                got = await thread._fetch_records(consumer, {tp}, timeout=0.3)
                records.extend(got.get(tp, []))
                if len(records) >= 20:
                    break
            return nothing, position, records
        finally:
            await consumer.stop()

    nothing, position, records = asyncio.run(scenario())
    assert nothing == {}
    assert position == 0
    assert [r.offset for r in records] == list(range(20))


def test_an_idle_worker_fetches_less_often_and_a_record_brings_the_short_wait_back(
    broker: LocalBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker, tmp_path).model_copy(
        update={"fetch_max_wait_ms": 5, "fetch_idle_wait_ms": 80}
    )
    prepare(settings)
    topic = settings.topics.clicks

    async def scenario() -> tuple[list[int], int, int]:
        app = create_app(settings)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        await consumer.start()
        try:
            fetcher = consumer._fetcher
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            waits: list[int] = []
            for _ in range(100):  # the partition is empty: every fetch brings nothing
                waits.append(fetcher._fetch_max_wait_ms)
                if waits[-1] == settings.fetch_idle_wait_ms:
                    break
                await asyncio.sleep(0.02)
            sender = producer(settings)
            sender.send(topic, key=b"c1", value=b"{}", partition=0)
            sender.flush()
            sender.close()
            for _ in range(200):  # until the fetcher holds the record
                if fetcher._records:
                    break
                await asyncio.sleep(0.01)
            # The partition's record is buffered, unread: no fetch of it runs meanwhile.
            after_record = fetcher._fetch_max_wait_ms
            got = await thread._fetch_records(consumer, {tp}, timeout=1.0)
            return waits, after_record, len(got.get(tp, []))
        finally:
            await consumer.stop()

    waits, after_record, fetched = asyncio.run(scenario())
    assert waits == sorted(waits) and waits[-1] == 80  # grew while fetches were empty
    assert after_record == 5
    assert fetched == 1
