"""Prometheus metrics after a known event sequence, read from a fresh registry (no broker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpers import (
    Clock,
    FakeEvent,
    FakeMessage,
    FakeTopic,
    at,
    click,
    email,
    memory_pipeline,
    snapshot,
)
from prometheus_client import CollectorRegistry, generate_latest

from segflow.models.drift import DriftEvent
from segflow.models.events import BaseEvent
from segflow.streams import metric_names as m
from segflow.streams.app import Pipeline
from segflow.streams.metrics import Metrics, faust_sensor
from segflow.streams.ops_pages import stats
from segflow.streams.partitioning import partition_of


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def run(pipeline: Pipeline, clock: Clock, events: list[BaseEvent], delay: float) -> None:
    """Ingest ``events`` (clock at their occurred_at + 1 s), then process what ingest
    forwarded ``delay`` seconds later."""
    events_topic = pipeline.events
    assert isinstance(events_topic, FakeTopic)

    async def go() -> None:
        for offset, event in enumerate(events):
            clock.t = event.occurred_at.timestamp() + 1.0
            raw = event.model_dump_json(exclude_none=True).encode()
            topic = pipeline.settings.topics.inputs()[event.kind]
            message = FakeMessage(topic, 0, offset, event.customer_id.encode(), raw)
            before = len(events_topic.sent)
            await pipeline.process_batch([FakeEvent(message)])
            for sent in events_topic.sent[before:]:
                clock.t += delay
                assert sent.key is not None
                partition = partition_of(sent.key, pipeline.settings.partitions)
                forwarded = FakeMessage("events", partition, offset, sent.key, sent.value)
                await pipeline.process_batch([FakeEvent(forwarded, sent.headers)])

    asyncio.run(go())


def test_counts_after_a_known_sequence(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, registry)
    customers = ["c1", "c2", "c3"]
    events: list[BaseEvent] = [click(c, 1, at(i)) for i, c in enumerate(customers)]
    events += [email("c1", 2, at(5)), click("c1", 1, at(6))]  # the last one is a duplicate
    run(pipeline, clock, events, delay=2.0)
    # An invalid message on the clicks topic.
    bad = FakeMessage(pipeline.settings.topics.clicks, 0, 99, b"c9", b"{not json")
    asyncio.run(pipeline.process_batch([FakeEvent(bad)]))

    clicks, emails = pipeline.settings.topics.clicks, pipeline.settings.topics.emails
    assert value(registry, m.EVENTS_CONSUMED + "_total", topic=clicks, type="click") == 5
    assert value(registry, m.EVENTS_CONSUMED + "_total", topic=emails, type="email") == 1
    assert value(registry, m.EVENTS_PROCESSED + "_total", outcome="applied") == 4
    assert value(registry, m.EVENTS_PROCESSED + "_total", outcome="duplicate") == 1
    assert value(registry, m.INVALID_EVENTS + "_total", reason="not_json", stage="ingest") == 1
    assert value(registry, m.DEAD_LETTERS + "_total", source_topic=clicks, reason="not_json") == 1
    assert value(registry, m.PROFILES) == 3

    # Every new customer got a first behavioral assignment (from "none"); no other change.
    changes = pipeline.changes
    assert isinstance(changes, FakeTopic)
    n = len(changes.sent)
    assert n == 3
    first = {
        s.labels["to_segment"]: s.value
        for family in registry.collect()
        if family.name == m.SEGMENT_CHANGES
        for s in family.samples
        if s.name.endswith("_total") and s.labels["from_segment"] == "none"
    }
    assert sum(first.values()) == 3
    for segment, count in first.items():
        assert (
            value(
                registry,
                m.SEGMENT_CHANGES + "_total",
                kind="behavioral",
                from_segment="none",
                to_segment=segment,
            )
            == count
        )
    # Sizes from this worker's profiles: the same three customers, by segment.
    sizes = {
        s.labels["segment"]: s.value
        for family in registry.collect()
        if family.name == m.SEGMENT_CUSTOMERS
        for s in family.samples
        if s.labels["kind"] == "behavioral"
    }
    assert sizes == first
    # Latencies: every change was emitted 1 s (ingest) + 2 s (processing) after its event,
    # and 2 s after ingestion.
    assert value(registry, m.CHANGE_LATENCY_EVENT + "_count") == n
    assert value(registry, m.CHANGE_LATENCY_EVENT + "_sum") == 3.0 * n
    assert value(registry, m.CHANGE_LATENCY_INGEST + "_count") == n
    assert value(registry, m.CHANGE_LATENCY_INGEST + "_sum") == 2.0 * n
    assert value(registry, m.CHANGE_LATENCY_INGEST + "_bucket", le="2.5") == n
    assert value(registry, m.CHANGE_LATENCY_INGEST + "_bucket", le="1.0") == 0
    assert value(registry, m.READY) == 0  # never started: not healthy

    # The JSON stats view still counts.
    data = stats(pipeline)
    assert data["counts"]["events_applied"] == 4
    assert data["counts"]["changes"] == n
    # The three profiles wait for the next commit to be written to the changelog...
    assert data["unwritten_profiles"] == value(registry, m.UNWRITTEN) == 3
    writes = value(registry, m.PROFILE_WRITES + "_total")
    asyncio.run(pipeline.store.write_unwritten())
    # ... which writes them, one each.
    assert stats(pipeline)["unwritten_profiles"] == value(registry, m.UNWRITTEN) == 0
    assert value(registry, m.PROFILE_WRITES + "_total") == writes + 3


def test_record_age_is_read_time_minus_the_kafka_timestamp(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, registry)
    topic = pipeline.settings.topics.clicks
    ages = [0.003, 0.04, 2.5]
    messages = []
    for offset, age in enumerate(ages):
        raw = click("c1", 1, at(offset)).model_dump_json(exclude_none=True).encode()
        sent_at = clock.t - age
        messages.append(FakeMessage(topic, 0, offset, b"c1", raw, timestamp=sent_at))
    # A record without a timestamp is counted as consumed but has no age.
    raw = click("c2", 1, at(9)).model_dump_json(exclude_none=True).encode()
    messages.append(FakeMessage(topic, 0, 9, b"c2", raw))
    asyncio.run(pipeline.process_batch([FakeEvent(msg) for msg in messages]))

    assert value(registry, m.EVENTS_CONSUMED + "_total", topic=topic, type="click") == 4
    assert value(registry, m.RECORD_AGE + "_count") == 3
    assert abs(value(registry, m.RECORD_AGE + "_sum") - sum(ages)) < 1e-6
    assert value(registry, m.RECORD_AGE + "_bucket", le="0.005") == 1
    assert value(registry, m.RECORD_AGE + "_bucket", le="0.05") == 2
    assert value(registry, m.RECORD_AGE + "_bucket", le="1.0") == 2
    assert value(registry, m.RECORD_AGE + "_bucket", le="2.5") == 3


def test_model_update_drift_and_faust_metrics(tmp_path: Path) -> None:
    from faust.types import TP
    from helpers import learned_model

    registry = CollectorRegistry()
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, registry)
    previous = pipeline.holder.model
    assert pipeline.holder.offer(snapshot(2, learned_model(90)))
    from segflow.models.drift import centroid_shifts

    shifts = centroid_shifts(previous, pipeline.holder.model)
    pipeline.metrics.model_update(pipeline.holder.seq, pipeline.holder.model.version, shifts)
    assert value(registry, m.MODEL_VERSION) == 90
    assert value(registry, m.MODEL_SEQ) == 2
    assert value(registry, m.MODEL_UPDATES + "_total") == 1
    assert shifts and value(registry, m.MODEL_MAX_CENTROID_SHIFT + "_count") == 1
    segment, shift = next(iter(shifts.items()))
    assert value(registry, m.MODEL_CENTROID_SHIFT, segment=segment) == shift
    shares = {
        s.labels["segment"]: s.value
        for family in registry.collect()
        if family.name == m.SEGMENT_MODEL_SHARE
        for s in family.samples
    }
    assert abs(sum(shares.values()) - 1.0) < 1e-9

    drift = DriftEvent(
        segment="seg-1",
        statistic="share",
        old_level=0.1,
        new_level=0.4,
        model_version=90,
        detected_at=at(1),
        observations=600,
    )
    asyncio.run(pipeline.publish_drifts([drift, drift]))
    assert value(registry, m.DRIFT_ALERTS + "_total", segment="seg-1", statistic="share") == 2
    topic = pipeline.drift_topic
    assert isinstance(topic, FakeTopic) and len(topic.sent) == 2
    assert DriftEvent.model_validate_json(topic.sent[0].value) == drift

    monitor = pipeline.app.monitor
    tp = TP("events", 1)
    monitor.tp_end_offsets[tp] = 120
    monitor.tp_committed_offsets[tp] = 99
    monitor.tp_read_offsets[tp] = 110
    assert value(registry, m.KAFKA_LAG, topic="events", partition="1") == 20
    assert value(registry, m.KAFKA_END, topic="events", partition="1") == 120
    assert value(registry, m.KAFKA_COMMITTED, topic="events", partition="1") == 99
    assert value(registry, m.KAFKA_READ, topic="events", partition="1") == 110


def test_commit_sensor_and_names(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    t = [10.0]
    sensor = faust_sensor(metrics, clock=lambda: t[0])
    state = sensor.on_commit_initiated(None)
    t[0] = 10.25
    sensor.on_commit_completed(None, state)
    assert value(registry, m.KAFKA_COMMITS + "_total") == 1
    assert value(registry, m.KAFKA_COMMIT_LATENCY + "_sum") == 0.25
    # Every exported family is in exported_names() (what dashboards may query).
    text = generate_latest(registry).decode()
    exported = set(m.exported_names())
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name in exported or name.endswith("_created"), name
