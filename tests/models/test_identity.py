"""Anonymous visitors who become known: folding histories, the guards, the runner."""

from __future__ import annotations

import functools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from segflow.models.config import EngineConfig
from segflow.models.events import (
    ClickEvent,
    DownloadEvent,
    EmailEvent,
    Event,
    IdentifyEvent,
    anonymous_key,
)
from segflow.models.identity import IdentityConfig, fold, is_junk, merge_id, refusal
from segflow.models.model import SegmentModel
from segflow.models.profile import COUNTERS, Profile
from segflow.models.runner import replay
from segflow.models.step import step
from segflow.models.timeutil import DAY
from segflow.sources.simulator import SimulationConfig, simulate

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
HALF_LIFE = 14 * DAY


def visit(n: int, hours: float, anonymous: str | None = None, customer: str | None = None) -> Event:
    at = T0 + timedelta(hours=hours)
    if n % 3 == 2:
        return DownloadEvent(
            event_id=f"v{n}", anonymous_id=anonymous, customer_id=customer, occurred_at=at,
            asset_id="wp-1", funnel_stage="consideration",
        )  # fmt: skip
    return ClickEvent(
        event_id=f"v{n}", anonymous_id=anonymous, customer_id=customer, occurred_at=at,
        url="/pricing" if n % 2 else "/blog/x", session_id=f"s{n // 4}",
    )  # fmt: skip


def identify(anonymous: str, customer: str, hours: float, n: int = 0) -> IdentifyEvent:
    return IdentifyEvent(
        event_id=f"id-{anonymous}-{customer}-{n}",
        anonymous_id=anonymous,
        customer_id=customer,
        occurred_at=T0 + timedelta(hours=hours),
        traits={"plan": "trial"},
    )


@functools.cache
def trained_model() -> SegmentModel:
    """A model learned on simulated traffic (shared by the identity and erasure tests)."""
    sim = simulate(SimulationConfig(customers=300, days=28.0, seed=3, drift_fraction=0.0))
    return replay(sim.events, EngineConfig(warmup_samples=100, warmup_days=7.0)).model


@pytest.fixture
def trained() -> SegmentModel:
    return SegmentModel.from_snapshot(trained_model().to_snapshot(), trained_model().config)


def profile_of(events: list[Event], model: SegmentModel) -> Profile:
    profile: Profile | None = None
    for event in events:
        profile = step(event, profile, model, event.occurred_at).profile
    assert profile is not None
    return profile


def test_folding_adds_the_decayed_counters_at_one_time(trained: SegmentModel) -> None:
    anonymous = [visit(n, 2.0 * n, anonymous="ck-1") for n in range(12)]
    known = [
        visit(100 + n, 30.0 + 3.0 * n, customer="c1") for n in range(6)
    ] + [
        EmailEvent(event_id="m1", customer_id="c1", occurred_at=T0 + timedelta(hours=50),
                   campaign_id="k", action="open", properties={"plan": "pro"}),
    ]  # fmt: skip
    visitor, customer = profile_of(anonymous, trained), profile_of(known, trained)
    visitor.properties["plan"], visitor.properties["city"] = "free", "Oslo"
    merged = fold(customer, visitor, "c1", "ck-1", HALF_LIFE)
    at = max(visitor.as_of, customer.as_of)
    for name in COUNTERS:
        if name in ("active_days", "site_days"):
            continue  # days both saw count once: checked below
        expected = visitor.value(name, at, HALF_LIFE) + customer.value(name, at, HALF_LIFE)
        assert math.isclose(merged.value(name, at, HALF_LIFE), expected, abs_tol=1e-9), name
    days = set(visitor.active_days) | set(customer.active_days)
    assert merged.active_days == sorted(days)
    assert merged.value("active_days", at, HALF_LIFE) <= visitor.value(
        "active_days", at, HALF_LIFE
    ) + customer.value("active_days", at, HALF_LIFE)
    assert merged.customer_id == "c1" and merged.first_seen == visitor.first_seen
    assert merged.properties == {"plan": "pro", "city": "Oslo"}  # the customer's own win
    assert merged.event_counts == dict(
        Counter(visitor.event_counts) + Counter(customer.event_counts)
    )
    assert set(merged.recent_ids) == set(visitor.recent_ids) | set(customer.recent_ids)
    assert merged.aliases == ["ck-1"] and merged.merges == [merge_id("ck-1", "c1")]
    assert customer.aliases == [] and visitor.customer_id == anonymous_key("ck-1")  # untouched


@pytest.mark.parametrize("identify_first", [False, True], ids=["after", "before"])
def test_a_visitors_history_ends_in_the_customers_profile(
    trained: SegmentModel, identify_first: bool
) -> None:
    anonymous = [visit(n, 2.0 * n, anonymous="ck-1") for n in range(12)]
    known = [visit(100 + n, 40.0 + n, customer="c1") for n in range(4)]
    link = identify("ck-1", "c1", hours=-1.0 if identify_first else 30.0)
    events = sorted([*anonymous, *known, link], key=lambda e: e.occurred_at)
    if identify_first:  # out of order: the identify arrives before the events it links
        events = [link, *[e for e in events if e is not link]]
    result = replay(events, model=trained, learn=False)
    assert anonymous_key("ck-1") not in result.profiles  # no anonymous profile left
    customer = result.profiles["c1"]
    assert customer.event_counts == {"click": 11, "download": 5, "identify": 1}
    assert customer.aliases == ["ck-1"] and result.aliases == {"ck-1": "c1"}
    assert customer.properties["plan"] == "trial"  # the identify's traits
    by_profile = Counter(c.customer_id for c in result.changes)
    assert set(by_profile) <= {"c1", anonymous_key("ck-1")}
    if not identify_first:
        # The visitor had segments: it leaves them, caused by the identify.
        exits = [c for c in result.changes if c.customer_id == anonymous_key("ck-1")]
        after = [c for c in exits if c.reason == "merged"]
        assert after and all(c.to_segment is None and c.reasons == [] for c in after)
        assert all(c.cause_event_id == link.event_id for c in after)
        first = [c for c in result.changes if c.customer_id == "c1" and c.kind == "behavioral"]
        assert first[0].from_segment is None  # the known customer's first assignment


def test_a_repeated_identify_counts_nothing_twice(trained: SegmentModel) -> None:
    anonymous = [visit(n, 2.0 * n, anonymous="ck-1") for n in range(6)]
    link = identify("ck-1", "c1", hours=20.0)
    once = replay([*anonymous, link], model=trained, learn=False)
    twice = replay([*anonymous, link, link], model=trained, learn=False)
    assert twice.profiles["c1"].event_counts == once.profiles["c1"].event_counts
    assert twice.outcomes["identify_repeated"] == 1


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([identify("undefined", "c1", 1.0)], "junk_id"),
        ([identify("ck-1", "null", 1.0)], "junk_id"),
        ([identify("ck-1", "aaaa", 1.0)], "junk_id"),
        ([identify("ck-1", "c1", 1.0), identify("ck-1", "c2", 2.0)], "linked_elsewhere"),
        ([visit(1, 0.0, customer="c9"), identify("c9", "c1", 1.0)], "known_customer"),
    ],
    ids=["junk-anonymous", "junk-customer", "one-character", "shared-device", "known"],
)
def test_the_guards_refuse_and_count(
    trained: SegmentModel, events: list[Event], reason: str
) -> None:
    result = replay(events, model=trained, learn=False)
    assert result.outcomes[f"refused_{reason}"] == 1
    assert [why for _, why in result.refusals] == [reason]


def test_a_shared_device_keeps_its_first_customer_unless_told_otherwise(
    trained: SegmentModel,
) -> None:
    events: list[Event] = [
        identify("ck-1", "c1", 1.0),
        identify("ck-1", "c2", 2.0),
        visit(7, 3.0, anonymous="ck-1"),
    ]
    first = replay(events, model=trained, learn=False)
    assert first.profiles["c1"].event_counts.get("click") == 1
    last = trained.config.model_copy(update={"identity": IdentityConfig(reassign="last")})
    moved = replay(
        events,
        config=last,
        model=SegmentModel.from_snapshot(trained.to_snapshot(), last),
        learn=False,
    )
    assert moved.profiles["c2"].event_counts.get("click") == 1
    assert moved.aliases == {"ck-1": "c2"}


def test_a_customer_takes_at_most_the_configured_anonymous_ids() -> None:
    config = IdentityConfig(max_anonymous_ids=2)
    customer = Profile.new("c1", as_of=0.0)
    customer.aliases = ["a1", "a2"]
    assert refusal("a3", "c1", None, customer, False, config) == "too_many_ids"
    assert refusal("a2", "c1", None, customer, False, config) is None  # already linked
    assert refusal("a3", "c2", None, None, False, config) is None
    assert is_junk("-1", config) and not is_junk("ck-17", config)


def test_stitching_leaves_no_visitor_profiles_and_counts_no_event_twice() -> None:
    events: list[Event] = []
    for c in range(20):
        anonymous = f"ck-{c}"
        events += [visit(10 * c + n, 5.0 * n + c, anonymous=anonymous) for n in range(5)]
        events.append(identify(anonymous, f"c{c}", 30.0 + c))
        events += [visit(1000 + 10 * c + n, 40.0 + 5.0 * n + c, customer=f"c{c}") for n in range(3)]
    events.sort(key=lambda e: e.occurred_at)
    result = replay(events, EngineConfig(warmup_samples=30, warmup_days=0))
    assert not [key for key in result.profiles if key.startswith("~anon:")]
    total = sum(sum(p.event_counts.values()) for p in result.profiles.values())
    assert total == len(events)
    assert result.outcomes["merged"] == 20
