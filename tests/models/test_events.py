"""The input contract: what is accepted, and every class of invalid input rejected clearly."""

from __future__ import annotations

import orjson
import pytest

from segflow.models.errors import InvalidEventError
from segflow.models.events import (
    ClickEvent,
    DownloadEvent,
    EmailEvent,
    PurchaseEvent,
    check_event_time,
    decode_event,
    encode_event,
)

COMMON = {"event_id": "e-1", "customer_id": "c-1", "occurred_at": "2026-11-22T10:15:00Z"}
VALID = {
    "click": {**COMMON, "url": "/pricing", "referrer": "https://www.google.com/"},
    "download": {**COMMON, "asset_id": "roi-calculator", "funnel_stage": "decision"},
    "email": {**COMMON, "campaign_id": "nov-news", "action": "open"},
    "purchase": {**COMMON, "order_id": "o-9", "amount": -12.5, "currency": "EUR"},
}
MODELS = {
    "click": ClickEvent,
    "download": DownloadEvent,
    "email": EmailEvent,
    "purchase": PurchaseEvent,
}


@pytest.mark.parametrize("kind", VALID)
def test_valid_events_decode_from_bytes_and_mappings(kind: str) -> None:
    raw = VALID[kind]
    from_bytes = decode_event(kind, orjson.dumps(raw))
    assert isinstance(from_bytes, MODELS[kind])
    assert decode_event(kind, raw) == from_bytes
    assert decode_event(kind, encode_event(from_bytes)) == from_bytes


def test_unknown_fields_are_ignored_and_properties_kept() -> None:
    event = decode_event(
        "click",
        {
            **VALID["click"],
            "browser": "firefox",
            "properties": {"lead_source": "webinar", "seats": 12, "trial": True},
        },
    )
    assert event.properties == {"lead_source": "webinar", "seats": 12, "trial": True}
    assert not hasattr(event, "browser")


def test_offsets_are_kept() -> None:
    event = decode_event("click", {**VALID["click"], "occurred_at": "2026-11-22T10:15:00+02:00"})
    assert event.occurred_at.utcoffset() is not None
    assert event.occurred_at.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


INVALID = [
    ("click", b"{not json", "not_json", None),
    ("click", b"\xff\xfe\x00", "not_json", None),
    ("click", b"[1, 2]", "not_object", None),
    ("click", b'"text"', "not_object", None),
    ("teleport", orjson.dumps(VALID["click"]), "unknown_type", None),
    ("click", orjson.dumps({**COMMON}), "schema", "url"),
    (
        "click",
        orjson.dumps({k: v for k, v in VALID["click"].items() if k != "event_id"}),
        "schema",
        "event_id",
    ),
    (
        "click",
        orjson.dumps({**VALID["click"], "occurred_at": "2026-11-22T10:15:00"}),
        "schema",
        "occurred_at",
    ),
    ("click", orjson.dumps({**VALID["click"], "occurred_at": 1790000000}), "schema", "occurred_at"),
    (
        "click",
        orjson.dumps({**VALID["click"], "occurred_at": "yesterday"}),
        "schema",
        "occurred_at",
    ),
    ("click", orjson.dumps({**VALID["click"], "customer_id": ""}), "schema", "customer_id"),
    ("click", orjson.dumps({**VALID["click"], "customer_id": "x" * 129}), "schema", "customer_id"),
    ("click", orjson.dumps({**VALID["click"], "customer_id": 42}), "schema", "customer_id"),
    ("click", orjson.dumps({**VALID["click"], "properties": {"a": [1]}}), "schema", "properties.a"),
    (
        "download",
        orjson.dumps({**VALID["download"], "funnel_stage": "purchase"}),
        "schema",
        "funnel_stage",
    ),
    ("email", orjson.dumps({**VALID["email"], "action": "read"}), "schema", "action"),
    ("purchase", orjson.dumps({**VALID["purchase"], "amount": "12.5"}), "schema", "amount"),
    ("purchase", orjson.dumps({**VALID["purchase"], "currency": "EURO"}), "schema", "currency"),
]


@pytest.mark.parametrize(("kind", "payload", "reason", "field"), INVALID)
def test_invalid_input_is_rejected_with_one_clear_line(
    kind: str, payload: bytes, reason: str, field: str | None
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode_event(kind, payload)
    error = caught.value
    assert error.reason == reason
    message = str(error)
    assert "\n" not in message
    assert "Traceback" not in message
    if field is not None:
        assert error.field == field
        assert message.startswith(f"{field}:")


# -- non-finite numbers and absurd times (issue 13) ----------------------------------


def _with_token(kind: str, field: str, token: str) -> bytes:
    text = orjson.dumps({**VALID[kind], field: "@@"}).decode()
    return text.replace('"@@"', token).encode()


@pytest.mark.parametrize(
    ("kind", "field", "token", "named"),
    [
        ("purchase", "amount", "NaN", "amount"),
        ("purchase", "amount", "Infinity", "amount"),
        ("purchase", "amount", "-Infinity", "amount"),
        ("purchase", "amount", "1e999", "amount"),
        ("purchase", "amount", "2e12", "amount"),  # no order is worth a trillion
        ("click", "properties", '{"score": NaN}', "properties.score"),
        ("email", "properties", '{"score": Infinity}', "properties.score"),
    ],
)
def test_non_finite_numbers_are_invalid_and_the_error_names_the_field(
    kind: str, field: str, token: str, named: str
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode_event(kind, _with_token(kind, field, token))
    assert caught.value.reason == "schema"
    assert caught.value.field == named
    assert str(caught.value).startswith(f"{named}: ")
    assert "valid string" not in str(caught.value)  # the finite-number error, not the union's


@pytest.mark.parametrize(
    ("occurred_at", "ok"),
    [
        ("9999-12-31T23:59:59Z", False),
        ("0001-01-01T00:00:00Z", False),
        ("1970-01-01T00:00:00Z", False),
        ("2026-11-22T11:14:00Z", True),  # 59 minutes ahead of the ingest clock
        ("2026-11-22T11:16:00Z", False),  # 61 minutes ahead
        ("1997-01-01T00:00:00Z", True),  # a backfill of old data
    ],
)
def test_event_time_is_bounded_against_the_ingest_clock(occurred_at: str, ok: bool) -> None:
    event = decode_event("click", {**VALID["click"], "occurred_at": occurred_at})
    ingest = decode_event("click", VALID["click"]).occurred_at.timestamp()  # 10:15 UTC
    if ok:
        check_event_time(event, ingest, max_future_s=3_600.0, max_age_s=50 * 365.25 * 86_400)
        return
    with pytest.raises(InvalidEventError) as caught:
        check_event_time(event, ingest, max_future_s=3_600.0, max_age_s=50 * 365.25 * 86_400)
    assert (caught.value.reason, caught.value.field) == ("out_of_range", "occurred_at")


def test_an_event_belongs_to_a_customer_or_an_anonymous_visitor() -> None:
    from segflow.models.events import IdentifyEvent, anonymous_id_of

    at = '"occurred_at": "2026-11-22T10:15:00Z", "url": "/pricing"'
    visitor = decode_event("click", '{"event_id": "e1", "anonymous_id": "ck-1", ' + at + "}")
    assert (visitor.customer_id, visitor.anonymous_id) == (None, "ck-1")
    assert visitor.routing_key == "ck-1"
    assert anonymous_id_of(visitor.profile_key) == "ck-1"
    both = decode_event(
        "click", '{"event_id": "e2", "customer_id": "c1", "anonymous_id": "ck-1", ' + at + "}"
    )
    assert both.routing_key == both.profile_key == "c1"
    assert anonymous_id_of(both.profile_key) is None
    with pytest.raises(InvalidEventError, match="customer_id or anonymous_id is required"):
        decode_event("click", '{"event_id": "e3", ' + at + "}")
    with pytest.raises(InvalidEventError, match="may not start with"):
        decode_event("click", '{"event_id": "e4", "customer_id": "~anon:x", ' + at + "}")
    identify = decode_event(
        "identify",
        '{"event_id": "i1", "anonymous_id": "ck-1", "customer_id": "c1",'
        ' "occurred_at": "2026-11-22T10:16:00Z", "traits": {"plan": "pro"}}',
    )
    assert isinstance(identify, IdentifyEvent)
    assert identify.routing_key == "ck-1"  # where the visitor's history is
    assert identify.profile_key == "c1"
    with pytest.raises(InvalidEventError, match="anonymous_id"):
        decode_event(
            "identify",
            '{"event_id": "i2", "customer_id": "c1", "occurred_at": "2026-11-22T10:16:00Z"}',
        )
