"""Memberships: the state after the latest change, and an audience kept from records and
changes in any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from segflow.models.changes import SegmentChange, change_id
from segflow.models.membership import Audience, Membership, membership_of
from segflow.models.profile import Profile

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def change(customer: str, seq: int, kind: str, before: str | None, to: str | None) -> SegmentChange:
    at = T0 + timedelta(hours=seq)
    return SegmentChange(
        change_id=change_id(customer, kind, seq), customer_id=customer, kind=kind,  # type: ignore[arg-type]
        from_segment=before, to_segment=to, from_name=None, to_name=None, model_version=3,
        occurred_at=at, emitted_at=at, cause_event_id=None, scores={"engagement": 0.5},
        reasons=[], seq=seq,
    )  # fmt: skip


def test_membership_is_the_profile_after_its_latest_change() -> None:
    profile = Profile.new("c1", as_of=T0.timestamp())
    profile.segment, profile.segment_since = "seg-2", T0.timestamp() + 3600
    profile.rule_segments, profile.rule_since = ["vip"], {"vip": T0.timestamp() + 7200}
    profile.seq = 4
    latest = change("c1", 4, "rule", None, "vip")
    state = membership_of(profile, latest, {"seg-2": "Researchers"}, 7)
    assert state is not None
    assert state.segment is not None and state.segment.name == "Researchers"
    assert state.segment.model_version == 7 and state.segment.since == T0 + timedelta(hours=1)
    assert [(r.id, r.since) for r in state.rule_segments] == [("vip", T0 + timedelta(hours=2))]
    assert (state.change_id, state.seq, state.scores) == (latest.change_id, 4, latest.scores)
    assert state.segment_ids() == {"seg-2", "vip"}
    # In no segment: a tombstone.
    profile.segment, profile.rule_segments = None, []
    assert membership_of(profile, change("c1", 5, "behavioral", "seg-2", None), {}, 7) is None


def history() -> tuple[list[SegmentChange], dict[str, Membership | None]]:
    """Three customers' changes, and the membership record after each one's last."""
    changes = [
        change("a", 1, "behavioral", None, "s1"),
        change("a", 2, "rule", None, "r1"),
        change("a", 3, "behavioral", "s1", "s2"),
        change("b", 1, "behavioral", None, "s1"),
        change("b", 2, "behavioral", "s1", None),
        change("c", 1, "rule", None, "r1"),
    ]
    audience = Audience()
    for c in changes:
        audience.apply_change(c)
    records: dict[str, Membership | None] = {
        "a": Membership.model_validate(
            {"customer_id": "a", "segment": {"id": "s2", "since": T0, "name": None,
             "model_version": 3}, "rule_segments": [{"id": "r1", "since": T0}], "scores": {},
             "change_id": changes[2].change_id, "seq": 3, "updated_at": T0}
        ),
        "b": None,
        "c": Membership.model_validate(
            {"customer_id": "c", "segment": None, "rule_segments": [{"id": "r1", "since": T0}],
             "scores": {}, "change_id": changes[5].change_id, "seq": 1, "updated_at": T0}
        ),
    }  # fmt: skip
    return changes, records


def test_an_audience_ends_the_same_whatever_the_order_of_records_and_changes() -> None:
    changes, records = history()
    expected = {"s1": [], "s2": ["a"], "r1": ["a", "c"]}
    rng = random.Random(3)
    for _ in range(50):
        items: list[object] = [*changes, *records.items()]
        rng.shuffle(items)
        items += changes[:2]  # repeats (at least once) change nothing
        audience = Audience()
        for item in items:
            if isinstance(item, SegmentChange):
                audience.apply_change(item)
            else:
                customer, record = item  # type: ignore[misc]
                audience.apply_membership(customer, record)
        assert {s: audience.members(s) for s in expected} == expected


def test_an_older_record_does_not_undo_a_newer_change() -> None:
    _, records = history()
    audience = Audience()
    audience.apply_change(change("a", 4, "behavioral", "s2", "s3"))
    audience.apply_membership("a", records["a"])  # seq 3: older
    assert audience.members("s3") == ["a"] and audience.members("s2") == []
