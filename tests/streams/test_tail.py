"""Formatting and filtering of segment changes for ``segflow tail``."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from segflow.models.changes import Reason, SegmentChange
from segflow.streams.tail import change_json, format_change, matches

AT = datetime(2026, 9, 3, 10, 15, tzinfo=UTC)


def change(**fields: object) -> SegmentChange:
    values: dict[str, object] = {
        "change_id": "id-1",
        "customer_id": "c00042",
        "kind": "behavioral",
        "from_segment": "seg-1",
        "to_segment": "seg-4",
        "from_name": "email-responsive",
        "to_name": "decision-stage downloader",
        "model_version": 1200,
        "occurred_at": AT,
        "emitted_at": AT,
        "cause_event_id": "c00042-9",
        "scores": {"engagement": 88.0},
        "reasons": [Reason(feature="downloads_decision", value=3.0, population_mean=0.4)],
    }
    values.update(fields)
    return SegmentChange.model_validate(values)


def test_readable_line_names_both_segments_and_the_reasons() -> None:
    line = format_change(change())
    assert line.startswith("2026-09-03 10:15:00  c00042  ")
    assert "email-responsive [seg-1] -> decision-stage downloader [seg-4]" in line
    assert "model v1200" in line
    assert "downloads_decision=3 (mean 0.4)" in line


def test_rule_exit_reads_as_none() -> None:
    line = format_change(
        change(
            kind="rule",
            to_segment=None,
            to_name=None,
            from_segment="hot-lead",
            from_name="Hot lead",
            model_version=None,
        )
    )
    assert "Hot lead [hot-lead] -> (none)  rule" in line


def test_filters_by_customer_and_by_segment_id_or_name() -> None:
    c = change()
    assert matches(c, None, None)
    assert matches(c, "c00042", None) and not matches(c, "c1", None)
    assert matches(c, None, "seg-4") and matches(c, None, "seg-1")
    assert matches(c, None, "Downloader") and not matches(c, None, "seg-9")


def test_json_line_is_the_contract() -> None:
    c = change()
    assert SegmentChange.model_validate(orjson.loads(change_json(c))) == c
