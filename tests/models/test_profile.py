"""Profiles: exact decay at a half-life, late events, compact exact JSON."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segflow.models.features import profile_features
from segflow.models.profile import COUNTERS, Profile

DAY = 86_400.0


@given(
    half_life=st.integers(min_value=1, max_value=365 * 86_400).map(float),
    amount=st.floats(min_value=0.0, max_value=1e9, allow_nan=False),
    # event times of this era (2004-2038), to the microsecond, as the step sees them
    start=st.integers(min_value=2**30 * 10**6, max_value=(2**31 - 366 * 86_400) * 10**6).map(
        lambda us: us / 1e6
    ),
)
def test_a_decayed_count_is_exactly_half_after_one_half_life(
    half_life: float, amount: float, start: float
) -> None:
    profile = Profile.new("c", as_of=start)
    profile.add("clicks", amount, at=start)
    assert profile.value("clicks", at=start + half_life, half_life=half_life) == amount / 2
    profile.advance(start + half_life, half_life)
    assert profile.counts[COUNTERS.index("clicks")] == amount / 2


@given(st.lists(st.floats(min_value=0.0, max_value=3 * DAY), min_size=1, max_size=30))
def test_late_events_within_lateness_give_the_in_order_result(offsets: list[float]) -> None:
    half_life = 7 * DAY
    in_order = Profile.new("c", as_of=0.0)
    for t in sorted(offsets):
        in_order.advance(t, half_life)
        in_order.add("clicks", 1.0, t, half_life)
    shuffled = list(offsets)
    random.Random(len(offsets)).shuffle(shuffled)
    late = Profile.new("c", as_of=0.0)
    for t in shuffled:
        late.advance(t, half_life)
        late.add("clicks", 1.0, t, half_life)
    assert late.as_of == in_order.as_of
    assert late.counts == pytest.approx(in_order.counts, rel=1e-12)


def test_activity_breadth_counts_distinct_days_in_the_window() -> None:
    profile = Profile.new("c", as_of=0.0)
    for day in (0, 0, 1, 5, 5, 30):
        profile.advance(day * DAY + 3600, 7 * DAY)
        profile.mark_active(day * DAY + 3600)
    # day 30's window holds days 3..30: days 5 and 30
    assert profile.active_days_in_window(30 * DAY + 7200) == 2
    assert profile.days_since_active(32 * DAY + 3600) == pytest.approx(2.0)


def test_json_round_trips_exactly_and_stays_compact() -> None:
    profile = Profile.new("customer-000123", as_of=1_790_000_000.123456)
    rng = random.Random(4)
    for i in range(200):
        t = profile.as_of + rng.random() * 3600
        profile.advance(t, 7 * DAY)
        profile.add(rng.choice(COUNTERS), rng.random() * 3, t, 7 * DAY)
        profile.mark_active(t)
        profile.remember(f"event-{i}-with-a-long-id-{'x' * 60}", window=32)
    profile.properties = {"lead_source": "webinar", "company_size": "51-200", "score": 3.5}
    profile.segment, profile.pending, profile.pending_count = "seg-3", "seg-4", 1
    profile.pending_since, profile.rule_segments, profile.seq = profile.as_of, ["hot-lead"], 7
    profile.event_counts = {"click": 150, "email": 50}
    profile.last_site = profile.last_open = profile.as_of - 3_600.0
    data = profile.to_json()
    assert Profile.from_json(data) == profile
    assert len(data) < 2048


def test_zero_valued_times_survive_the_round_trip() -> None:
    profile = Profile.new("c", as_of=0.0)
    profile.mark_active(0.0)
    profile.learned_at = 0.0
    assert Profile.from_json(profile.to_json()) == profile


def test_duplicate_memory_is_bounded() -> None:
    profile = Profile.new("c", as_of=0.0)
    for i in range(100):
        profile.remember(f"e{i}", window=32)
    assert len(profile.recent_ids) == 32
    assert profile.seen("e99")
    assert not profile.seen("e0")


def test_rates_are_smoothed_and_bounded() -> None:
    profile = Profile.new("c", as_of=0.0)
    features = profile_features(profile, 0.0, 7 * DAY)
    assert features["open_rate"] == pytest.approx(0.2)  # the prior, with no email at all
    profile.add("rate_opens", 50.0, at=0.0)
    profile.add("rate_sent", 10.0, at=0.0)
    assert profile_features(profile, 0.0, 7 * DAY)["open_rate"] == 1.0


def test_all_values_at_once_equal_each_value() -> None:
    profile = Profile.new("c", as_of=10 * DAY)
    rng = random.Random(5)
    for name in COUNTERS:
        profile.add(name, rng.random() * 5, at=10 * DAY, half_life=7 * DAY)
    at = 13.5 * DAY
    assert profile.values(at, 7 * DAY) == {
        name: profile.value(name, at, 7 * DAY) for name in COUNTERS
    }
