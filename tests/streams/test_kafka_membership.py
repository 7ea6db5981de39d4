"""A new subscriber's audience, bootstrapped from ``segment-membership`` and followed on
``segment-changes``, is the membership the workers report, even after a kill -9."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafkatest import (
    ProfileReader,
    WorkerProc,
    get,
    isolated_settings,
    missing_and_extra,
    prepare,
    send_events,
    wait_until,
)

from segflow.models.config import EngineConfig
from segflow.models.membership import Audience
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.audience import follow_changes, read_membership
from segflow.streams.broker import LocalBroker
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka

RULES = """
segments:
  - id: clicker
    name: Clicker
    when: {field: features.clicks, op: gt, value: 2.0}
  - id: reader
    name: Reader
    when: {field: features.email_opens, op: gt, value: 1.0}
"""


def subscriber(settings: Settings) -> Audience:
    """What a subscriber starting now holds once it caught up."""
    audience, start = read_membership(settings)
    for change in follow_changes(settings, start, idle_s=2.0):
        audience.apply_change(change)
    return audience


def members(port: int, segment: str, limit: int = 7) -> tuple[list[str], int]:
    """Every member of ``segment`` by ``GET /segments/{id}/members`` pages, and the count."""
    found: list[str] = []
    cursor = ""
    while True:
        status, body = get(port, f"/segments/{segment}/members?limit={limit}&cursor={cursor}")
        assert status == 200, body
        page = orjson.loads(body)
        assert page["complete"]
        found += page["members"]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    status, body = get(port, f"/segments/{segment}/members/count")
    assert status == 200, body
    return found, orjson.loads(body)["count"]


def test_a_new_subscriber_holds_what_the_workers_report_after_a_kill_9(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    engine = EngineConfig(
        max_lateness_hours=24 * 365.0, warmup_samples=100, dedup_window=256, rules_file=rules
    )
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    events_topic = settings.topics.events
    victim, survivor = workers(settings), workers(settings)

    def split() -> bool:
        mine, theirs = victim.assignment(events_topic), survivor.assignment(events_topic)
        return bool(mine) and bool(theirs) and not mine & theirs and len(mine | theirs) == 4

    assert wait_until(split), (victim.stats(), survivor.stats())
    sim = simulate(
        SimulationConfig(customers=150, days=21.0, warmup_days=7.0, settle_days=7.0, seed=4)
    )
    expected: dict[str, Counter[str]] = {}
    producer = threading.Thread(
        target=lambda: expected.update(send_events(settings, sim.events, rate=700.0))
    )
    producer.start()
    try:

        def victim_busy() -> bool:
            counts = (victim.stats() or {}).get("counts", {})
            return counts.get("events_applied", 0) >= len(sim.events) // 5

        assert wait_until(victim_busy), victim.log_tail()
        victim.kill9()
    finally:
        producer.join()
    assert wait_until(lambda: survivor.assignment(events_topic) == {0, 1, 2, 3})
    profiles = ProfileReader(settings)
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    profiles.close()

    seen: dict[str, tuple[list[str], list[str], int]] = {}

    def agree() -> bool:
        audience = subscriber(settings)
        segments = audience.segments() | {"clicker", "reader"}
        status, body = get(survivor.port, "/segments")
        assert status == 200, body
        segments |= {s["id"] for s in orjson.loads(body)["segments"]}
        seen.clear()
        for segment in sorted(segments):
            listed, count = members(survivor.port, segment)
            seen[segment] = (audience.members(segment), listed, count)
        return all(a == listed and count == len(listed) for a, listed, count in seen.values())

    assert wait_until(agree, timeout=60.0, every=1.0), {
        s: (len(a), len(listed), count) for s, (a, listed, count) in seen.items()
    }
    assert sum(len(a) for a, _, _ in seen.values()) > 0
    assert len(seen) >= 3  # behavioral segments and both rule segments
    print({segment: len(listed) for segment, (_, listed, _) in seen.items()})
