"""Erasing a person in the runner: profiles, links and memberships gone, and kept gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_identity import T0, identify, trained_model, visit

from segflow.models.erasure import EraseCommand, ErasedIds
from segflow.models.events import Event, anonymous_key
from segflow.models.model import SegmentModel
from segflow.models.runner import replay


def erase(customer: str, hours: float) -> EraseCommand:
    return EraseCommand(
        command_id=f"erase-{customer}",
        customer_id=customer,
        occurred_at=T0 + timedelta(hours=hours),
    )


@pytest.fixture
def trained() -> SegmentModel:
    return SegmentModel.from_snapshot(trained_model().to_snapshot(), trained_model().config)


def test_erasure_removes_the_customer_and_its_visitors_and_ends_their_memberships(
    trained: SegmentModel,
) -> None:
    events: list[Event | EraseCommand] = [
        *[visit(n, 2.0 * n, anonymous="ck-1") for n in range(8)],
        identify("ck-1", "c1", 20.0),
        identify("ck-2", "c1", 21.0),  # linked before any of its events
        *[visit(50 + n, 22.0 + n, customer="c1") for n in range(6)],
        visit(70, 30.0, anonymous="ck-2"),
        *[visit(80 + n, 2.0 * n, customer="c2") for n in range(6)],  # someone else
        erase("c1", 40.0),
    ]
    before = replay(events[:-1], model=trained, learn=False)
    member = before.profiles["c1"]
    assert member.segment is not None and sorted(member.aliases) == ["ck-1", "ck-2"]
    after = replay(events, model=trained, learn=False)
    assert "c1" not in after.profiles and "c2" in after.profiles
    assert not [k for k in after.profiles if k.startswith(anonymous_key(""))]
    assert after.aliases == {}
    exits = [c for c in after.changes if c.reason == "erased"]
    assert {(c.customer_id, c.kind, c.from_segment, c.to_segment) for c in exits} == {
        ("c1", "behavioral", member.segment, None),
        *{("c1", "rule", s, None) for s in member.rule_segments},
    }
    assert all(c.reasons == [] and c.scores == {} and c.cause_event_id is None for c in exits)
    assert after.outcomes["erased"] == 1


def test_events_for_an_erased_person_are_dropped_within_the_window(
    trained: SegmentModel,
) -> None:
    window_h = trained.config.erasure.window_days * 24
    events: list[Event | EraseCommand] = [
        visit(1, 0.0, anonymous="ck-1"),
        identify("ck-1", "c1", 1.0),
        erase("c1", 2.0),
        visit(2, 0.5, customer="c1"),  # a replayed old event
        visit(3, 3.0, anonymous="ck-1"),  # the erased visitor's cookie
        identify("ck-1", "c1", 4.0, n=1),
        visit(4, window_h + 3.0, customer="c1"),  # after the window: a new customer
    ]
    result = replay(events, model=trained, learn=False)
    assert result.outcomes["erased_dropped"] == 3
    assert result.profiles["c1"].event_counts == {"click": 1}


@pytest.mark.parametrize("days", [0.5, 30.0])
def test_the_ledger_covers_replayed_old_events_and_forgets_after_the_window(days: float) -> None:
    ledger = ErasedIds(window_days=days)
    ledger.erase(["c1"], at=1_000.0)
    assert ledger.covers(["c1"], at=0.0)  # dated before the erasure: still erased
    assert ledger.covers(["x", "c1"], at=1_000.0 + days * 86_400.0)
    assert not ledger.covers(["c1"], at=1_001.0 + days * 86_400.0)
