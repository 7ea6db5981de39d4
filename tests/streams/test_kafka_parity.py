"""Parity through a real broker: one worker and the in-memory runner give identical
segment changes for the same events, each customer's in the same order, field by
field except ``emitted_at``.

What makes the two sides see the same thing:

- **The model is pinned.** A model learned beforehand (by the runner, on other
  simulated traffic) is published as the one snapshot on the model topic before the
  worker starts; the worker runs with ``learn=False`` (``SEGFLOW_LEARN=false``), so it
  sends no training samples, its trainer never publishes, and it assigns every event
  with that snapshot (checked at the end: still snapshot 1, no sample sent). The
  runner gets the same snapshot bytes and ``learn=False``.
- **The order is the test's.** One partition, and input keyed by customer (no
  repartition hop). Kafka orders records within a partition, not across the four input
  topics, so the events (in event-time order) go out in runs of one type: a run is
  sent only once the worker has taken every earlier event through its step (its
  ``/segflow/stats/`` counts them), so the worker handles them in exactly the list's
  order, which the runner then replays.
- **The inactivity sweep is compared, not kept out.** Its changes depend on the sweep's
  clock, the watermark. The runner's on time-ordered input is each event's time. The
  worker's is the oldest newest-event-time over the sources (topics) that delivered
  within ``event_time.idle_s`` of processing time. With ``idle_s`` at 1 ms, only the
  source of the current run counts: every other one last delivered before the
  previous run was seen processed, a broker round trip (milliseconds) earlier. Its
  newest event time is the current event's, so both sides sweep to the same time
  before every event, and their ``inactivity`` changes are compared like the rest.
  (The worker takes an event's own customer's look first and the partition's other
  looks after the batch, each by the watermark that made it due: per customer the
  same, so the changes are compared customer by customer; across customers the order
  of a batch's looks and events differs.) The runner's final sweep, to the last
  event's time, finds nothing more: both swept to that time before the last event
  (the test checks that both count the same looks).
- **``change_id``** is uuid5(customer, kind, the customer's change sequence number),
  not derived from any clock, so it is compared exactly.
- **``emitted_at``**, the only field left out, is processing time: the worker's clock
  there, the event's own time in a runner without a clock. Every other field is
  compared as published (the JSON on the topic against the runner's changes encoded
  the same way), floats and times exactly.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafkatest import (
    TopicReader,
    WorkerProc,
    isolated_settings,
    prepare,
    producer,
    wait_until,
)

from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.models.model import SegmentModel
from segflow.models.runner import replay
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.broker import LocalBroker
from segflow.streams.demo import processed
from segflow.streams.model_holder import SnapshotMeta, config_key, encode_snapshot
from segflow.streams.producer import produce_events
from segflow.streams.setting_groups import EventTimeBounds
from segflow.streams.settings import Settings
from segflow.streams.snapshots import SNAPSHOT_KEY

pytestmark = pytest.mark.kafka

# Rule segments on properties, features and a model score: rule changes are compared too.
RULES = """
segments:
  - id: big-company
    name: Big company
    when: {field: properties.company_size, op: in, value: ["201-1000", "1001+"]}
  - id: email-fan
    name: Email fan
    when:
      all:
        - {field: features.email_opens, op: gte, value: 1}
        - not: {field: features.unsubscribed, op: eq, value: 1}
  - id: engaged
    name: Engaged
    when: {field: scores.engagement, op: gte, value: 40}
"""
#: Processing time after which a source no longer holds the worker's watermark back.
IDLE_S = 0.001


def on_the_wire(value: bytes) -> dict[str, Any]:
    """A change as a subscriber reads it from ``segment-changes``, less ``emitted_at``."""
    change: dict[str, Any] = orjson.loads(value)
    del change["emitted_at"]
    return change


def by_customer(changes: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Changes per customer, each customer's in the order given."""
    found: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        found.setdefault(change["customer_id"], []).append(change)
    return found


def first_difference(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    """Where two change lists part: the index, and the fields that differ there."""
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            fields = {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
            return f"change {i} differs (worker, runner): {fields}\nworker: {a}\nrunner: {b}"
    return f"{len(ours)} changes from the worker, {len(theirs)} from the runner"


def test_the_worker_and_the_runner_give_identical_changes_for_the_same_events(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    engine = EngineConfig(max_lateness_hours=24 * 365.0, warmup_samples=100, rules_file=rules)
    training = simulate(
        SimulationConfig(customers=200, days=21.0, warmup_days=7.0, settle_days=7.0, seed=3)
    )
    learned = replay(training.events, engine).model
    assert learned.is_ready
    pinned = learned.to_snapshot()

    settings = isolated_settings(
        broker,
        tmp_path,
        engine=engine,
        partitions=1,
        learn=False,
        event_time=EventTimeBounds(idle_s=IDLE_S),
    )
    prepare(settings)
    meta = SnapshotMeta(1, learned.version, time.time(), "test:parity", config_key(engine))
    publisher = producer(settings)
    publisher.send(
        settings.topics.snapshots, key=SNAPSHOT_KEY, value=encode_snapshot(meta, pinned)
    ).get(timeout=30)
    publisher.close()

    started = datetime.now(UTC)
    worker = workers(settings)

    def ready() -> bool:
        stats = worker.stats() or {}
        return bool(stats.get("assigned_partitions", 0) > 0 and stats["model"]["seq"] == 1)

    assert wait_until(ready), "the worker did not start with the pinned model"

    events = simulate(
        SimulationConfig(
            customers=30,
            days=5.0,
            warmup_days=1.0,
            settle_days=1.0,
            seed=11,
            customer_prefix="p",
        )
    ).events

    def taken(n: int) -> Callable[[], bool]:
        """Whether the worker has taken ``n`` events through its step."""
        return lambda: processed(worker.stats()) == n

    send = producer(settings)
    sent = runs = 0
    for _, run in itertools.groupby(events, key=lambda e: e.kind):
        batch = list(run)
        produce_events(settings, batch, producer=send)
        sent += len(batch)
        runs += 1
        assert wait_until(taken(sent), every=0.005), (
            f"the worker took {processed(worker.stats())} of {sent} events"
        )
    send.close()

    expected = replay(events, model=SegmentModel.from_snapshot(pinned, engine), learn=False)
    reader = TopicReader(settings, settings.topics.changes)

    def all_read() -> bool:
        reader.poll()
        return len(reader.records) >= len(expected.changes)

    wait_until(all_read)  # (too few is reported by the comparison below)
    records = reader.drain(idle_s=1.0)  # and whatever else came
    reader.close()
    changes = [SegmentChange.model_validate_json(r.value) for r in records]
    assert all(r.key.decode() == c.customer_id for r, c in zip(records, changes, strict=True))

    # What is compared covers every kind of change: behavioral and rule ones, caused by
    # events and found by the sweep, rule entries and exits.
    kinds = {(c.kind, c.reason) for c in expected.changes}
    assert {(k, r) for k in ("behavioral", "rule") for r in ("event", "inactivity")} <= kinds
    assert any(c.kind == "rule" and c.to_segment is None for c in expected.changes)
    print(
        f"{len(events)} events in {runs} runs of one type, {len(changes)} changes from the "
        f"worker, {len(expected.changes)} from the runner ({expected.outcomes['swept']} looks "
        "of the sweep)"
    )
    # Compared as published: the JSON on the topic, and the runner's changes encoded alike.
    ours = by_customer(on_the_wire(r.value) for r in records)
    theirs = by_customer(on_the_wire(c.model_dump_json().encode()) for c in expected.changes)
    assert ours.keys() == theirs.keys()
    for customer, changes_of_one in theirs.items():
        assert ours[customer] == changes_of_one, first_difference(ours[customer], changes_of_one)

    # The one field left out is the worker's processing time.
    assert all(c.emitted_at >= started for c in changes)
    # Both took every event through the step and looked at as many silent customers;
    # the worker still assigns with the pinned model and sent nothing to learn.
    stats = worker.stats() or {}
    counts = stats.get("counts", {})
    assert counts.get("events_applied") == expected.outcomes["applied"] == len(events)
    assert counts.get("swept", 0) == expected.outcomes["swept"]
    assert stats["model"]["seq"] == 1
    assert stats["model"]["version"] == learned.version
    assert not any(name.startswith("samples_") for name in counts)
