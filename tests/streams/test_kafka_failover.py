"""kill -9 one of two workers mid-stream: the other takes over and no event goes missing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafkatest import (
    ProfileReader,
    WorkerProc,
    isolated_settings,
    missing_and_extra,
    prepare,
    send_events,
    wait_for_split,
    wait_until,
)

from segflow.models.config import EngineConfig
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.broker import LocalBroker
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka


def test_killed_worker_partitions_are_taken_over_without_losing_events(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    # Reprocessing after the crash replays a few seconds of events: remember enough
    # recent event ids per customer to recognize every one of them as a duplicate.
    engine = EngineConfig(max_lateness_hours=24 * 365.0, warmup_samples=100, dedup_window=256)
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    events_topic = settings.topics.events
    victim, survivor = workers(settings), workers(settings)

    wait_for_split(victim, survivor, events_topic)

    sim = simulate(
        SimulationConfig(customers=200, days=21.0, warmup_days=7.0, settle_days=7.0, seed=3)
    )
    expected: dict[str, Counter[str]] = {}
    producer = threading.Thread(
        target=lambda: expected.update(send_events(settings, sim.events, rate=700.0)),
        name="producer",
    )
    producer.start()
    try:
        # Mid-stream: the victim has applied events (its profiles are only in the changelog).
        def victim_busy() -> bool:
            counts = (victim.stats() or {}).get("counts", {})
            return counts.get("events_applied", 0) >= len(sim.events) // 5

        assert wait_until(victim_busy), victim.log_tail()
        victim.kill9()
    finally:
        producer.join()
    assert sum(sum(c.values()) for c in expected.values()) == len(sim.events)

    # The survivor takes over every partition and restores the victim's profiles.
    assert wait_until(lambda: survivor.assignment(events_topic) == {0, 1, 2, 3})
    profiles = ProfileReader(settings)
    complete = profiles.wait_for_counts(expected)
    profiles.close()
    assert complete, missing_and_extra(expected, profiles.counts())
    counts = (survivor.stats() or {})["counts"]
    print(
        f"survivor applied {counts.get('events_applied', 0)}, "
        f"duplicates skipped {counts.get('events_duplicate', 0)}"
    )
