"""A backlog on four input topics, drained by a worker at four speeds (issue 13, real
broker): no valid event is lost as late, and a customer's changes never run backwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafkatest import TopicReader, WorkerProc, isolated_settings, prepare, send_events, wait_until

from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.broker import LocalBroker
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka


def test_a_backlog_on_four_topics_loses_nothing_and_changes_run_forward(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    # The engine's defaults but a short warm-up: lateness is the default's (a year).
    engine = EngineConfig(warmup_samples=100, warmup_days=2.0)
    settings = isolated_settings(broker, tmp_path, engine=engine, batch_size=200)
    prepare(settings)
    sim = simulate(SimulationConfig(customers=200, days=21.0, seed=9, warmup_days=7.0))
    # A first week lets the worker's model get ready (so the backlog makes changes);
    # then the other two weeks land on the four topics at once: a backlog.
    split = sim.events[0].occurred_at + timedelta(days=7)
    first = [e for e in sim.events if e.occurred_at < split]
    send_events(settings, first)
    worker = workers(settings)
    assert wait_until(
        lambda: bool((worker.stats() or {}).get("model", {}).get("ready")), timeout=120
    ), worker.stats()
    send_events(settings, sim.events[len(first) :])

    def counts() -> dict[str, int]:
        return dict((worker.stats() or {}).get("counts", {}))

    assert wait_until(
        lambda: (
            counts().get("events_applied", 0) + counts().get("events_duplicate", 0)
            >= len(sim.events)
        ),
        timeout=240,
    ), counts()
    final = counts()
    assert final.get("events_late", 0) == 0
    assert final.get("dead_letters", 0) == 0
    assert final["events_applied"] == len(sim.events)

    reader = TopicReader(settings, settings.topics.changes)
    reader.poll()
    changes = [SegmentChange.model_validate_json(r.value) for r in reader.drain(idle_s=2.0)]
    reader.close()
    assert changes
    last: dict[str, datetime] = {}
    backwards = []
    for change in changes:  # one partition per customer: a customer's are in order
        before = last.get(change.customer_id)
        if before is not None and change.occurred_at < before:
            backwards.append((change.customer_id, before, change.occurred_at, change.reason))
        last[change.customer_id] = change.occurred_at
    assert backwards == []
