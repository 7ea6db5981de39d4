"""Invalid input lands in the dead-letter topic with its origin; the stream goes on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafkatest import (
    ProfileReader,
    TopicReader,
    WorkerProc,
    isolated_settings,
    missing_and_extra,
    prepare,
    producer,
    wait_until,
)

from segflow.models.config import EngineConfig
from segflow.streams.broker import LocalBroker
from segflow.streams.deadletters import decode_raw
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def valid(kind: str, n: int, customer: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"{customer}-{kind}-{n}",
        "customer_id": customer,
        "occurred_at": (START + timedelta(minutes=n)).isoformat(),
    }
    event.update(
        {
            "click": {"url": "/pricing"},
            "download": {"asset_id": "wp-1", "funnel_stage": "decision"},
            "email": {"campaign_id": "k1", "action": "open"},
            "purchase": {"order_id": f"o{n}", "amount": 120.5, "currency": "EUR"},
        }[kind]
    )
    return event


def _with_token(event: dict[str, Any], field: str, token: str) -> bytes:
    """The JSON of ``event`` with ``field`` set to a raw token (``NaN`` is not JSON)."""
    text = orjson.dumps({**event, field: "@@"}).decode()
    return text.replace('"@@"', token).encode()


# (event type, payload, expected reason, expected field)
BAD: list[tuple[str, bytes, str, str | None]] = [
    ("click", b'{"event_id": "x1", "customer_id": ', "not_json", None),
    (
        "download",
        orjson.dumps({k: v for k, v in valid("download", 1, "bad").items() if k != "asset_id"}),
        "schema",
        "asset_id",
    ),
    (
        "email",
        orjson.dumps({**valid("email", 1, "bad"), "occurred_at": "2026-10-01T09:00:00"}),
        "schema",
        "occurred_at",
    ),
    ("purchase", b"\xff\xfe\x00{\x9c not utf-8", "not_json", None),
    ("click", b"[1, 2, 3]", "not_object", None),
    # Absurd times, against the ingest clock: one of them would move the customer's
    # clock to year 9999 (or treat every later event as 2,000 years late).
    (
        "click",
        orjson.dumps({**valid("click", 1, "bad"), "occurred_at": "9999-12-31T23:59:59Z"}),
        "out_of_range",
        "occurred_at",
    ),
    (
        "click",
        orjson.dumps({**valid("click", 1, "bad"), "occurred_at": "0001-01-01T00:00:00Z"}),
        "out_of_range",
        "occurred_at",
    ),
    # Bare NaN / Infinity tokens: a profile holding one cannot be stored as JSON.
    ("purchase", _with_token(valid("purchase", 1, "bad"), "amount", "NaN"), "schema", "amount"),
    (
        "click",
        _with_token(valid("click", 1, "bad"), "properties", '{"score": Infinity}'),
        "schema",
        "properties.score",
    ),
]


def test_invalid_messages_are_dead_lettered_with_their_origin_and_the_rest_goes_on(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    settings = isolated_settings(broker, tmp_path, engine=EngineConfig(max_lateness_hours=72.0))
    prepare(settings)
    worker = workers(settings)
    topics = settings.topics.inputs()
    sent: dict[str, Counter[str]] = {}
    origins: list[tuple[str, int, int, bytes, str, str | None]] = []
    p = producer(settings)
    n = 0
    for kind, payload, reason, field in BAD:
        for customer in ("alice", "bob"):  # valid events before and after each bad one
            n += 1
            value = orjson.dumps(valid(kind, n, customer))
            p.send(topics[kind], key=customer.encode(), value=value)
            sent.setdefault(customer, Counter())[kind] += 1
        meta = p.send(topics[kind], key=b"alice", value=payload).get(timeout=30)
        origins.append((meta.topic, meta.partition, meta.offset, payload, reason, field))
    for customer in ("alice", "bob"):
        n += 1
        p.send(
            topics["click"], key=customer.encode(), value=orjson.dumps(valid("click", n, customer))
        )
        sent[customer]["click"] += 1
    p.flush()
    p.close()

    dead = TopicReader(settings, settings.topics.dead_letters)
    assert wait_until(lambda: dead.poll() >= 0 and len(dead.records) >= len(BAD), every=0.0)
    records = [orjson.loads(r.value) for r in dead.drain(idle_s=1.0)]
    dead.close()
    assert len(records) == len(BAD)
    by_origin = {(r["source_topic"], r["partition"], r["offset"]): r for r in records}
    for topic, partition, offset, payload, reason, field in origins:
        record = by_origin[(topic, partition, offset)]
        assert record["reason"] == reason
        assert record["field"] == field
        assert decode_raw(record) == payload
        assert record["key"] == "alice"
        assert record["stage"] == "ingest"
        assert record["error"] and "\n" not in record["error"]
        assert record["received_at"].endswith("Z")
    non_utf8 = by_origin[(origins[3][0], origins[3][1], origins[3][2])]
    assert non_utf8["raw_encoding"] == "base64"

    profiles = ProfileReader(settings)
    assert profiles.wait_for_counts(sent), missing_and_extra(sent, profiles.counts())

    # Valid, but older than the allowed lateness: not applied, dead-lettered (after the
    # repartition step) with the origin of the input message.
    late = {**valid("click", 0, "bob"), "occurred_at": (START - timedelta(days=10)).isoformat()}
    p = producer(settings)
    meta = p.send(topics["click"], key=b"bob", value=orjson.dumps(late)).get(timeout=30)
    p.close()
    dead = TopicReader(settings, settings.topics.dead_letters)
    assert wait_until(lambda: dead.poll() >= 0 and len(dead.records) > len(BAD), every=0.0)
    record = orjson.loads(dead.records[-1].value)
    dead.close()
    assert (record["source_topic"], record["partition"], record["offset"]) == (
        meta.topic,
        meta.partition,
        meta.offset,
    )
    assert (record["reason"], record["stage"], record["field"]) == (
        "late",
        "profile",
        "occurred_at",
    )
    assert orjson.loads(decode_raw(record) or b"") == late

    profiles.poll()
    assert profiles.counts() == sent  # the late event was not applied
    profiles.close()
    stats = worker.stats() or {}
    assert stats["counts"]["dead_letters"] == len(BAD) + 1  # counted
    assert stats["counts"]["events_applied"] == sum(sum(c.values()) for c in sent.values())
    assert stats["counts"]["events_late"] == 1
