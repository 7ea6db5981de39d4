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
