"""Which changes fire a trigger, and how a delivery is retried (no network, no Kafka)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from segflow.models.changes import SegmentChange
from segflow.models.triggers import TriggerConfig, backoff, fires, trigger_kinds

AT = datetime(2026, 3, 2, tzinfo=UTC)


def change(before: str | None, to: str | None, kind: str = "behavioral") -> SegmentChange:
    return SegmentChange(
        change_id="x", customer_id="c1", kind=kind, from_segment=before, to_segment=to,  # type: ignore[arg-type]
        from_name=None, to_name=None, model_version=None, occurred_at=AT, emitted_at=AT,
        cause_event_id=None, scores={}, reasons=[],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("before", "to", "expected"),
    [
        (None, "s1", {("entered", "s1")}),
        ("s1", None, {("exited", "s1")}),
        ("s1", "s2", {("entered", "s2"), ("exited", "s1"), ("moved", "s1"), ("moved", "s2")}),
    ],
)
def test_a_change_is_an_entry_an_exit_or_a_move(
    before: str | None, to: str | None, expected: set[tuple[str, str]]
) -> None:
    assert trigger_kinds(change(before, to), None) == expected


def test_only_configured_segments_and_kinds_fire() -> None:
    entries = TriggerConfig(segments=("s2",), kinds=("entered",))
    assert fires(change("s1", "s2"), entries) and fires(change(None, "s2", "rule"), entries)
    assert not fires(change("s2", None), entries)  # an exit
    assert not fires(change(None, "s3"), entries)  # another segment
    moves = TriggerConfig(kinds=("moved",))  # every segment
    assert fires(change("s1", "s2"), moves) and not fires(change(None, "s1"), moves)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    config = TriggerConfig(backoff_s=1.0, max_backoff_s=10.0)
    rng = random.Random(1)
    waits = [backoff(n, config, rng) for n in range(1, 9)]
    ceilings = [min(10.0, 2.0 ** (n - 1)) for n in range(1, 9)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert max(waits) <= 10.0 and waits[0] <= 1.0
