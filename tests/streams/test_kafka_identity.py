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
    get,
    isolated_settings,
    missing_and_extra,
    prepare,
    send_events,
    wait_for_split,
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


def test_a_customer_takes_at_most_max_anonymous_ids(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    from segflow.models.config import EngineConfig
    from segflow.models.identity import IdentityConfig

    engine = EngineConfig(
        max_lateness_hours=24 * 365.0, identity=IdentityConfig(max_anonymous_ids=2)
    )
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    profiles = ProfileReader(settings)
    worker = workers(settings)
    assert wait_until(lambda: bool(worker.assignment(settings.topics.events))), "no assignment"
    cookies = [cookie for cookie, _ in pairs(settings, 3)]
    customer = "known-cap"
    send_events(settings, [e for i, c in enumerate(cookies) for e in visits(c, 2, 10.0 * i)])
    expected = {f"~anon:{c}": Counter(click=2) for c in cookies}
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    for n, cookie in enumerate(cookies, start=1):  # one at a time: the third is refused
        send_events(settings, [identify(cookie, customer, 40.0 + n)])

        def answered(n: int = n) -> bool:
            counts = (worker.stats() or {}).get("counts", {})
            return (
                counts.get("identity_linked", 0) + counts.get("identity_refused_too_many_ids", 0)
                == n
            )

        assert wait_until(answered), (worker.stats() or {}).get("counts")
    send_events(settings, visits(cookies[2], 1, 50.0))  # the refused visitor's, still its own
    expected = {customer: Counter(click=4, identify=2), f"~anon:{cookies[2]}": Counter(click=3)}
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    assert sorted(profiles.profiles[customer].aliases) == sorted(cookies[:2])
    reader = TopicReader(settings, settings.topics.dead_letters)
    letters = [orjson.loads(r.value) for r in reader.drain()]
    reader.close()
    assert [(d["reason"], d["source_topic"]) for d in letters] == [
        ("identity_too_many_ids", settings.topics.identifies)
    ]
    profiles.close()


RULES = """
segments:
  - id: clicker
    name: Clicker
    when: {field: features.clicks, op: gt, value: 0.5}
"""


def test_erasure_leaves_no_key_in_the_changelogs_and_keeps_the_person_out(
    broker: LocalBroker,
    tmp_path: Path,
    workers: Callable[[Settings], WorkerProc],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from segflow.models.config import EngineConfig
    from segflow.streams.cli import main
    from segflow.streams.settings import settings_env

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    engine = EngineConfig(max_lateness_hours=24 * 365.0, rules_file=rules)
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    profiles = ProfileReader(settings)
    worker = workers(settings)
    assert wait_until(lambda: bool(worker.assignment(settings.topics.events))), "no assignment"
    (first, customer), (second, _) = pairs(settings, 2)
    send_events(
        settings,
        [*visits(first, 3), identify(first, customer, 5.0), identify(second, customer, 6.0),
         *visits(customer, 2, 7.0, customer=customer), *visits(second, 2, 10.0),
         *visits("bystander", 2, 0.0, customer="bystander")],
    )  # fmt: skip
    expected = {customer: Counter(click=7, identify=2), "bystander": Counter(click=2)}
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    assert sorted(profiles.profiles[customer].aliases) == sorted([first, second])
    assert profiles.profiles[customer].rule_segments == ["clicker"]

    # segflow erase, with the test's settings in its environment.
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    assert main(["erase", customer]) == 0
    assert f"erase {customer}: sent" in capsys.readouterr().out

    def gone() -> bool:
        profiles.poll()
        return customer not in profiles.profiles

    assert wait_until(gone), profiles.counts()
    # Later events for the erased ids (a replay) are dropped, a bystander's are not.
    send_events(
        settings,
        [*visits(customer, 1, 21.0, customer=customer), *visits(first, 1, 22.0),
         *visits("bystander", 1, 23.0, customer="bystander")],
    )  # fmt: skip
    expected = {"bystander": Counter(click=3)}
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    assert wait_until(
        lambda: (worker.stats() or {}).get("counts", {}).get("identity_erased_dropped") == 2
    ), (worker.stats() or {}).get("counts")

    # No key of the person is left in any changelog: the latest value of each is a
    # tombstone (what compaction deletes).
    changelogs: dict[str, bytes | None] = {}
    for topic in (settings.profiles_changelog, settings.identities_changelog):
        reader = TopicReader(settings, topic)
        for record in reader.drain():
            changelogs[record.key.decode()] = record.value
        reader.close()
    person = {customer, f"~anon:{first}", f"~anon:{second}", f"a:{first}", f"a:{second}"}
    # (a visitor profile exists only if its clicks came before its identify: the input
    # topics are read in no fixed order between them)
    assert {customer, f"a:{first}", f"a:{second}"} <= set(changelogs)
    written = person & set(changelogs)
    assert {key: changelogs[key] for key in written} == dict.fromkeys(written)
    assert not [k for k, v in changelogs.items() if v is not None and any(
        ident in k for ident in (customer, first, second))]  # fmt: skip
    # The exits: the rule segment it was in, no reasons, no scores.
    reader = TopicReader(settings, settings.topics.changes)
    changes = [SegmentChange.model_validate_json(r.value) for r in reader.drain()]
    reader.close()
    exits = [c for c in changes if c.reason == "erased"]
    assert [(c.customer_id, c.kind, c.from_segment, c.to_segment) for c in exits] == [
        (customer, "rule", "clicker", None)
    ]
    assert all(c.reasons == [] and c.scores == {} for c in exits)
    profiles.close()


def test_the_api_answers_for_anonymous_ids_on_every_worker(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    settings = isolated_settings(broker, tmp_path)
    prepare(settings)
    profiles = ProfileReader(settings)
    a, b = workers(settings), workers(settings)

    wait_for_split(a, b, settings.topics.events, disjoint=False)
    (linked, customer), (stranger, _) = pairs(settings, 2)
    send_events(settings, [*visits(linked, 3), *visits(stranger, 2, 1.0)])
    send_events(settings, [identify(linked, customer, 5.0)])
    expected = {customer: Counter(click=3, identify=1), f"~anon:{stranger}": Counter(click=2)}
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    profiles.close()
    for worker in (a, b):  # each asks the owners: the same answers everywhere
        answers = {}
        for asked in (customer, linked, stranger, f"~anon:{stranger}", "nobody"):
            status, body = get(worker.port, f"/customers/{asked}")
            answers[asked] = (status, orjson.loads(body))
        status, known = answers[customer]
        assert status == 200 and known["anonymous_ids"] == [linked]
        assert known["anonymous"] is False and known["resolved_from"] is None
        status, resolved = answers[linked]
        assert status == 200 and resolved["customer_id"] == customer
        assert resolved["resolved_from"] == linked and resolved["event_counts"] == {
            "click": 3, "identify": 1}  # fmt: skip
        for asked in (stranger, f"~anon:{stranger}"):
            status, visitor = answers[asked]
            assert status == 200 and visitor["customer_id"] == f"~anon:{stranger}"
            assert visitor["anonymous"] is True and visitor["anonymous_ids"] == [stranger]
        assert answers["nobody"][0] == 404
