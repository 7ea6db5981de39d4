"""Identifies through a real broker: a visitor's history ends in its customer's profile
across partitions, exactly once, and the guards dead-letter what they refuse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafkatest import (
    ProfileReader,
    TopicReader,
    WorkerProc,
    isolated_settings,
    missing_and_extra,
    prepare,
    send_events,
    wait_until,
)

from segflow.models.changes import SegmentChange
from segflow.models.events import BaseEvent, ClickEvent, IdentifyEvent
from segflow.streams.broker import LocalBroker
from segflow.streams.partitioning import partition_of
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka

START = datetime(2026, 3, 2, tzinfo=UTC)


def visits(cookie: str, n: int, hours: float = 0.0, customer: str | None = None) -> list[BaseEvent]:
    """``n`` clicks an hour apart from ``hours``: the cookie's, or the customer's."""
    return [
        ClickEvent(
            event_id=f"{cookie}-{customer}-{hours:g}-{i}",
            anonymous_id=None if customer else cookie,
            customer_id=customer,
            occurred_at=START + timedelta(hours=hours + i),
            url="/pricing",
        )
        for i in range(n)
    ]


def identify(cookie: str, customer: str, hours: float) -> IdentifyEvent:
    return IdentifyEvent(
        event_id=f"id-{cookie}-{customer}",
        anonymous_id=cookie,
        customer_id=customer,
        occurred_at=START + timedelta(hours=hours),
    )


def pairs(settings: Settings, count: int) -> list[tuple[str, str]]:
    """(cookie, customer) pairs whose ids hash to different partitions."""
    found = []
    for i in range(1000):
        cookie, customer = f"ck-{i:03d}", f"known-{i:03d}"
        n = settings.partitions
        if partition_of(cookie.encode(), n) != partition_of(customer.encode(), n):
            found.append((cookie, customer))
        if len(found) == count:
            return found
    raise AssertionError("no such pairs")


def test_visitor_histories_end_in_their_customers_profiles_across_partitions(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    settings = isolated_settings(broker, tmp_path)
    prepare(settings)
    profiles = ProfileReader(settings)
    worker = workers(settings)
    assert wait_until(lambda: bool(worker.assignment(settings.topics.events))), "no assignment"
    (a_cookie, a), (b_cookie, b), (c_cookie, _c) = pairs(settings, 3)
    # a: anonymous visits, then an identify, then visits as the customer and as the cookie.
    # b: the identify first (out of order: before the visits it links).
    # c: never identifies.
    send_events(settings, [*visits(a_cookie, 5), *visits(b_cookie, 1, 1.0)])
    assert profiles.wait_for_counts(
        {f"~anon:{a_cookie}": Counter(click=5), f"~anon:{b_cookie}": Counter(click=1)}
    ), missing_and_extra({}, profiles.counts())
    send_events(settings, [identify(a_cookie, a, 10.0), identify(b_cookie, b, 0.5)])
    send_events(
        settings,
        [
            *visits(a_cookie, 2, 20.0),  # the cookie again: now the customer's
            *visits(a_cookie, 3, 30.0, customer=a),
            *visits(b_cookie, 4, 40.0),
            *visits(c_cookie, 2, 50.0),
        ],
    )
    expected = {
        a: Counter(click=10, identify=1),
        b: Counter(click=5, identify=1),
        f"~anon:{c_cookie}": Counter(click=2),
    }
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    # The visitor profiles are gone: their changelog keys end in tombstones.
    profiles.poll()
    last = {r.key.decode(): r.value for r in profiles.records}
    assert last[f"~anon:{a_cookie}"] is None and last[f"~anon:{b_cookie}"] is None
    assert sorted(profiles.profiles[a].aliases) == [a_cookie]
    counts = (worker.stats() or {}).get("counts", {})
    assert counts.get("identity_linked") == 2 and counts.get("identity_merged") == 2
    # The visitors' exits (if they had segments) are caused by the identify.
    reader = TopicReader(settings, settings.topics.changes)
    changes = [SegmentChange.model_validate_json(r.value) for r in reader.drain()]
    reader.close()
    merged = [ch for ch in changes if ch.reason == "merged"]
    assert all(ch.customer_id.startswith("~anon:") and ch.to_segment is None for ch in merged)
    profiles.close()


def test_the_guards_dead_letter_what_they_refuse(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    settings = isolated_settings(broker, tmp_path)
    prepare(settings)
    worker = workers(settings)
    assert wait_until(lambda: bool(worker.assignment(settings.topics.events))), "no assignment"
    send_events(settings, [identify("ck-shared", "first", 1.0)])
    assert wait_until(lambda: (worker.stats() or {}).get("counts", {}).get("identity_linked") == 1)
    send_events(
        settings,
        [identify("ck-shared", "second", 2.0), identify("undefined", "someone", 3.0)],
    )
    reader = TopicReader(settings, settings.topics.dead_letters)

    def letters() -> list[dict[str, object]]:
        reader.poll()
        return [orjson.loads(r.value) for r in reader.records]

    assert wait_until(lambda: len(letters()) == 2), letters()
    reasons = sorted(str(letter["reason"]) for letter in letters())
    assert reasons == ["identity_junk_id", "identity_linked_elsewhere"]
    assert all(letter["source_topic"] == settings.topics.identifies for letter in letters())
    reader.close()
