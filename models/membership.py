"""Current memberships: what ``segment-membership`` holds per customer, and how a
subscriber keeps an audience from it and from ``segment-changes``.

``segment-changes`` says what moved; a subscriber that starts late, or missed a change,
needs the state too. :func:`membership_of` is a customer's state after its latest
change (published, keyed by customer, on the compacted ``segment-membership``; a
tombstone when it is in no segment). :class:`Audience` is the subscriber's side: it
takes membership records and changes in any order and keeps, per customer, what the
highest ``seq`` says (a change newer than the record applies on top of it; an older
one is already in it).

>>> from datetime import UTC, datetime
>>> from segflow.models.changes import change_id
>>> def change(seq, to, before=None):
...     return SegmentChange(change_id=change_id("c1", "behavioral", seq), customer_id="c1",
...         kind="behavioral", from_segment=before, to_segment=to, from_name=None,
...         to_name=None, model_version=1, occurred_at=datetime(2026, 3, seq, tzinfo=UTC),
...         emitted_at=datetime(2026, 3, seq, tzinfo=UTC), cause_event_id=None, scores={},
...         reasons=[], seq=seq)
>>> audience = Audience()
>>> audience.apply_change(change(2, "seg-2", "seg-1"))
>>> audience.apply_change(change(1, "seg-1"))  # older: already overtaken
>>> audience.members("seg-2"), audience.members("seg-1")
(['c1'], [])
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, FiniteFloat

from .changes import SegmentChange
from .profile import Profile
from .timeutil import from_epoch


class RuleMembership(BaseModel):
    """A rule segment the customer is in, since when (event time)."""

    model_config = ConfigDict(frozen=True)

    id: str
    since: datetime


class BehavioralMembership(RuleMembership):
    """The customer's behavioral segment, its name and the model that assigned it."""

    name: str | None
    model_version: int | None


class Membership(BaseModel):
    """One customer's current memberships (the value on ``segment-membership``)."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    segment: BehavioralMembership | None
    rule_segments: list[RuleMembership]
    #: The scores at the latest change.
    scores: dict[str, FiniteFloat]
    #: The latest change that made this state, and its sequence number.
    change_id: str
    seq: int
    updated_at: datetime

    def segment_ids(self) -> set[str]:
        """Every segment id the customer is in, behavioral and rule."""
        ids = {rule.id for rule in self.rule_segments}
        return ids | ({self.segment.id} if self.segment is not None else set())


def membership_of(
    profile: Profile, latest: SegmentChange, names: dict[str, str], model_version: int | None
) -> Membership | None:
    """``profile``'s memberships after its ``latest`` change (None: in no segment, a
    tombstone on the topic). ``names`` and ``model_version``: the model in force."""
    if profile.segment is None and not profile.rule_segments:
        return None
    fallback = profile.changed_at if profile.changed_at is not None else profile.as_of
    segment = None
    if profile.segment is not None:
        since = profile.segment_since if profile.segment_since is not None else fallback
        segment = BehavioralMembership(
            id=profile.segment,
            since=from_epoch(since),
            name=names.get(profile.segment),
            model_version=model_version,
        )
    rules = [
        RuleMembership(id=rule, since=from_epoch(profile.rule_since.get(rule, fallback)))
        for rule in sorted(profile.rule_segments)
    ]
    return Membership(
        customer_id=profile.customer_id,
        segment=segment,
        rule_segments=rules,
        scores=latest.scores,
        change_id=latest.change_id,
        seq=profile.seq,
        updated_at=latest.occurred_at,
    )


class Audience:
    """A subscriber's view of who is in which segment, kept from membership records and
    changes (see the module docstring)."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.behavioral: dict[str, str] = {}
        self.rules: dict[str, set[str]] = {}

    def apply_membership(self, customer_id: str, record: Membership | None) -> None:
        """A ``segment-membership`` record (None: a tombstone, the customer is in none)."""
        if record is None:
            self.behavioral.pop(customer_id, None)
            self.rules.pop(customer_id, None)
            return
        if record.seq < self.seq.get(customer_id, 0):
            return  # a change newer than the record is applied already
        self.seq[customer_id] = record.seq
        if record.segment is not None:
            self.behavioral[customer_id] = record.segment.id
        else:
            self.behavioral.pop(customer_id, None)
        self.rules[customer_id] = {rule.id for rule in record.rule_segments}

    def apply_change(self, change: SegmentChange) -> None:
        """A change from ``segment-changes`` (one without ``seq`` always applies)."""
        customer = change.customer_id
        if change.seq is not None:
            if change.seq <= self.seq.get(customer, 0):
                return  # already in the state (a repeat, or older than a record)
            self.seq[customer] = change.seq
        if change.kind == "behavioral":
            if change.to_segment is None:
                self.behavioral.pop(customer, None)
            else:
                self.behavioral[customer] = change.to_segment
            return
        rules = self.rules.setdefault(customer, set())
        if change.from_segment is not None:
            rules.discard(change.from_segment)
        if change.to_segment is not None:
            rules.add(change.to_segment)

    def members(self, segment: str) -> list[str]:
        """The customers in ``segment`` (behavioral or rule), sorted."""
        found = {c for c, s in self.behavioral.items() if s == segment}
        found |= {c for c, rules in self.rules.items() if segment in rules}
        return sorted(found)

    def segments(self) -> set[str]:
        """Every segment with at least one member."""
        return set(self.behavioral.values()).union(*self.rules.values(), set())

    def load(self, records: Iterable[tuple[str, Membership | None]]) -> None:
        for customer_id, record in records:
            self.apply_membership(customer_id, record)
