"""kill -9 one of two workers while visitors are being stitched: afterwards every event
is counted exactly once, in the profile it belongs to, and no merged visitor is left."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
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
from segflow.models.events import BaseEvent, IdentifyEvent, anonymous_key
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.broker import LocalBroker
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka


def stitched_counts(events: Sequence[BaseEvent]) -> dict[str, Counter[str]]:
    """Where each event ends when every identify links its cookie (no shared devices):
    a linked cookie's events in its customer's profile, with one identify counted per
    link; a cookie never linked keeps its own visitor profile."""
    links = {e.anonymous_id: e.customer_id for e in events if isinstance(e, IdentifyEvent)}
    counts: dict[str, Counter[str]] = {}
    for event in events:
        if isinstance(event, IdentifyEvent):
            continue
        if event.customer_id is not None:
            key = event.customer_id
        else:
            assert event.anonymous_id is not None
            key = links.get(event.anonymous_id) or anonymous_key(event.anonymous_id)
        counts.setdefault(key, Counter())[event.kind] += 1
    for customer in links.values():
        counts.setdefault(customer, Counter())["identify"] += 1
    return counts


def test_kill_9_amid_merges_counts_every_event_once_in_its_profile(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    # Reprocessing after the crash replays a few seconds of events: remember enough
    # recent event ids per profile to recognize every one of them as a duplicate.
    engine = EngineConfig(max_lateness_hours=24 * 365.0, warmup_samples=100, dedup_window=256)
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    events_topic = settings.topics.events
    victim, survivor = workers(settings), workers(settings)

    wait_for_split(victim, survivor, events_topic)
    config = SimulationConfig(
        customers=160, days=21.0, warmup_days=7.0, settle_days=7.0, seed=5,
        anonymous_share=0.6, never_identify_share=0.25,
    )  # fmt: skip
    sim = simulate(config)
    assert not sim.shared_cookies
    expected = stitched_counts(sim.events)
    links = sum(isinstance(e, IdentifyEvent) for e in sim.events)
    assert links >= 40 and any(k.startswith("~anon:") for k in expected)

    producer = threading.Thread(
        target=lambda: send_events(settings, sim.events, rate=600.0), name="producer"
    )
    producer.start()
    try:
        # Mid-merge: the victim has linked visitors (the customers' side may be its own
        # partitions or the survivor's) and keeps linking while it is killed.
        def victim_linking() -> bool:
            counts = (victim.stats() or {}).get("counts", {})
            return counts.get("identity_linked", 0) >= links // 4

        assert wait_until(victim_linking), victim.log_tail()
        victim.kill9()
    finally:
        producer.join()

    assert wait_until(lambda: survivor.assignment(events_topic) == {0, 1, 2, 3})
    profiles = ProfileReader(settings)
    complete = profiles.wait_for_counts(expected)
    got = profiles.counts()
    profiles.close()
    wrong = {k: (expected.get(k), got.get(k)) for k in set(expected) | set(got)
             if expected.get(k) != got.get(k)}  # fmt: skip
    counts = (survivor.stats() or {}).get("counts", {})
    assert complete, (missing_and_extra(expected, got), wrong, counts)
    print(
        f"linked {links}, survivor merged {counts.get('identity_merged', 0)}, "
        f"repeated merges skipped {counts.get('identity_merge_repeated', 0)}, "
        f"duplicates skipped {counts.get('events_duplicate', 0)}"
    )
