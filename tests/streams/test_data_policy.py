"""Retention of every topic segflow creates, and redacted dead letters (no broker:
Tansu, the test broker, keeps no topic configs to read back)."""

from __future__ import annotations

import orjson

from segflow.streams.data_policy import REDACTED, Retention
from segflow.streams.deadletters import dead_letter
from segflow.streams.settings import Settings
from segflow.streams.topics import topic_specs

DAY_MS = 86_400_000


def test_every_topic_segflow_creates_has_a_retention_or_is_compacted() -> None:
    retention = Retention(input_days=2.0, dead_letters_days=0.5, changes_days=90.0)
    settings = Settings(retention=retention)
    t = settings.topics
    expected_days = {
        **{name: 2.0 for name in t.inputs().values()},
        t.events: 1.0,
        t.changes: 90.0,
        t.drift: 30.0,
        t.dead_letters: 0.5,
        t.webhook_dead_letters: 0.5,
        t.training: 1.0,
    }
    specs = {spec.name: spec for spec in topic_specs(settings)}
    for name, days in expected_days.items():
        assert specs[name].config["retention.ms"] == str(round(days * DAY_MS)), name
    # The profile changelog and the model keep the latest value per key.
    for name in set(specs) - set(expected_days):
        assert specs[name].config["cleanup.policy"] == "compact", name


def test_retention_is_set_from_the_environment(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("SEGFLOW_RETENTION__DEAD_LETTERS_DAYS", "3")
    from segflow.streams.settings import load_settings

    settings = load_settings()
    (spec,) = [s for s in topic_specs(settings) if s.name == settings.topics.dead_letters]
    assert spec.config["retention.ms"] == str(3 * DAY_MS)


RAW = b'{"type": "click", "customer_id": "c1", "properties": {"email": "ann@example.com"}}'


def record(raw: bytes, redact: bool) -> dict[str, object]:
    return dead_letter(
        source_topic="clicks",
        partition=0,
        offset=7,
        key=b"c1",
        raw=raw,
        error="bad",
        reason="schema",
        received_at=0.0,
        redact=redact,
    )


def test_dead_letters_copy_the_payload_unless_told_to_redact() -> None:
    assert record(RAW, redact=False)["raw"] == RAW.decode()
    redacted = record(RAW, redact=True)
    assert "ann@example.com" not in orjson.dumps(redacted).decode()
    raw = orjson.loads(str(redacted["raw"]))
    assert raw["properties"] == {"email": REDACTED}
    assert raw["customer_id"] == "c1"  # the origin stays traceable


def test_a_payload_that_is_not_a_json_object_is_withheld_when_redacting() -> None:
    for raw in (b"email=ann@example.com", b'["ann@example.com"]', b"\xff\xfe"):
        letter = record(raw, redact=True)
        assert (letter["raw"], letter["raw_encoding"]) == (None, "withheld")
    assert record(b"email=ann@example.com", redact=False)["raw"] == "email=ann@example.com"
