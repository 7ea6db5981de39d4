"""The dead-letter record: origin, reason, and the raw payload (base64 when not UTF-8)."""

from __future__ import annotations

import orjson

from segflow.streams.deadletters import dead_letter, decode_raw, encode_dead_letter


def test_utf8_payload_is_kept_as_text() -> None:
    record = dead_letter(
        source_topic="clicks",
        partition=2,
        offset=41,
        key=b"c1",
        raw=b'{"event_id": ',
        error="not valid JSON: EOF\nwhile parsing",
        reason="not_json",
        received_at=1_790_000_000.5,
    )
    assert record["source_topic"] == "clicks"
    assert (record["partition"], record["offset"]) == (2, 41)
    assert (record["key"], record["key_encoding"]) == ("c1", "utf-8")
    assert (record["raw"], record["raw_encoding"]) == ('{"event_id": ', "utf-8")
    assert record["error"] == "not valid JSON: EOF while parsing"
    assert record["reason"] == "not_json"
    assert record["received_at"].endswith("Z")
    assert orjson.loads(encode_dead_letter(record)) == record


def test_non_utf8_payload_and_key_are_base64_with_a_flag() -> None:
    payload = b"\xff\xfe\x00{garbage"
    record = dead_letter(
        source_topic="purchases",
        partition=0,
        offset=7,
        key=b"\xc3\x28",
        raw=payload,
        error="not valid JSON",
        reason="not_json",
        received_at=0.0,
    )
    assert record["raw_encoding"] == "base64"
    assert record["key_encoding"] == "base64"
    assert decode_raw(record) == payload


def test_missing_key_and_value_are_null() -> None:
    record = dead_letter(
        source_topic="emails",
        partition=1,
        offset=0,
        key=None,
        raw=None,
        error="empty message (no value)",
        reason="empty",
        received_at=0.0,
    )
    assert record["key"] is None and record["key_encoding"] == "none"
    assert record["raw"] is None and decode_raw(record) is None
