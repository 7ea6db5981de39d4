"""bench.broker_latency: its window summary, and a short run against the real broker."""

from __future__ import annotations

import asyncio
import doctest
import uuid

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from bench import broker_latency
from bench.broker_latency import measure, windows
from segflow.streams.broker import LocalBroker


def test_the_doctests_pass() -> None:
    assert doctest.testmod(broker_latency).failed == 0


def test_windows_use_nearest_rank_and_skip_empty_windows() -> None:
    reads = [(0.1 * i, 0.001 * (i + 1)) for i in range(100)]  # 0-9.9 s, 1-100 ms
    reads.append((25.0, 0.5))
    got = windows(reads, 5.0, 30.0)
    assert [w["from_s"] for w in got] == [0.0, 5.0, 25.0]  # nothing read at 10-25 s
    first = got[0]
    assert first["read"] == 50
    assert (first["p50_ms"], first["p99_ms"], first["max_ms"]) == (25.0, 50.0, 50.0)
    assert got[1]["p50_ms"] == 75.0
    assert got[2] == {"from_s": 25.0, "read": 1, "p50_ms": 500.0, "p99_ms": 500.0, "max_ms": 500.0}


@pytest.mark.kafka
def test_every_record_sent_is_read_back_with_its_latency(broker: LocalBroker) -> None:
    topic = f"broker-latency-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    reads = asyncio.run(measure(broker.bootstrap, topic, rate=200.0, duration=1.0, linger_ms=1))
    assert len(reads) == 200
    assert all(latency > 0 for _, latency in reads)
    assert max(t for t, _ in reads) < 1.0 + 2.5  # read within the run and its tail
