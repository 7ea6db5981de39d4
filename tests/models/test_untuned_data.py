"""The engine on data it was not tuned for: absurd times, late and reordered input, a
model that retires segments, first clicks, stray early events (issue 13, models side)."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segflow.models.clustering import SegmentClusterer
from segflow.models.config import EngineConfig
from segflow.models.events import ClickEvent, EmailEvent, Event, PurchaseEvent
from segflow.models.features import CLUSTER_FEATURES, profile_features
from segflow.models.model import SegmentModel
from segflow.models.profile import Profile
from segflow.models.reasons import standout_reasons
from segflow.models.runner import replay
from segflow.models.step import reassess, step
from segflow.models.timeutil import DAY, MAX_EPOCH, MIN_EPOCH, from_epoch
from segflow.sources.simulator import SimulationConfig, simulate

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
HALF_LIFE = 7 * DAY


@functools.cache
def trained() -> SegmentModel:
    """A model learned on the simulator, with a dormant segment (cached: hypothesis
    examples share it, and nothing here mutates it)."""
    sim = simulate(SimulationConfig(customers=800, days=28.0, seed=3, drift_fraction=0.0))
    return replay(sim.events, EngineConfig(warmup_samples=200, warmup_days=7.0)).model


def click(n: int, at: datetime, customer: str = "c1") -> ClickEvent:
    return ClickEvent(event_id=f"e{n}", customer_id=customer, occurred_at=at, url="/pricing")


def assert_sane(profile: Profile, at: float) -> None:
    """Every counter and feature finite, and the profile reads back from its JSON."""
    assert all(math.isfinite(value) for value in profile.counts)
    features = profile_features(profile, max(at, profile.as_of), HALF_LIFE)
    assert all(math.isfinite(value) for value in features.values()), features
    assert Profile.from_json(profile.to_json()) == profile


# -- item 1: any finite time is safe ----------------------------------------------------

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
kinds = st.sampled_from(["click", "open", "sent", "purchase"])


def event_of(n: int, kind: str, at: datetime) -> Event:
    common = {"event_id": f"e{n}", "customer_id": "c1", "occurred_at": at}
    if kind == "click":
        return ClickEvent(url="/pricing", **common)
    if kind == "purchase":
        return PurchaseEvent(order_id=f"o{n}", amount=1e12, **common)
    return EmailEvent(campaign_id="k", action=kind, **common)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(kinds, moments), min_size=1, max_size=8),
    st.lists(st.floats(min_value=MIN_EPOCH, max_value=MAX_EPOCH * 2), max_size=4),
)
def test_no_finite_event_time_makes_the_step_or_the_sweep_raise(
    events: list[tuple[str, datetime]], looks: list[float]
) -> None:
    model = trained()
    profile: Profile | None = None
    for n, (kind, at) in enumerate(events):
        result = step(event_of(n, kind, at), profile, model, NOW)
        profile = result.profile
        assert_sane(profile, profile.as_of)
        assert all(math.isfinite(v) for c in result.changes for v in c.scores.values())
    assert profile is not None
    for at in looks:
        swept = reassess(profile, model, at, NOW)
        assert_sane(swept.profile, at)
        for change in swept.changes:
            assert all(math.isfinite(v) for v in change.scores.values())
            assert change.from_segment is None or change.from_name is not None
        profile = swept.profile


def test_a_customer_dated_year_9999_then_today_does_not_break_the_features() -> None:
    model = trained()
    far = step(click(1, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)), None, model, NOW)
    back = step(click(2, T0), far.profile, model, NOW)
    assert_sane(back.profile, back.profile.as_of)
    swept = reassess(back.profile, model, back.profile.as_of + DAY, NOW)
    assert_sane(swept.profile, swept.t)


# -- item 3: late events count ----------------------------------------------------------


def test_a_late_event_counts_exactly_as_if_it_had_come_in_order() -> None:
    model = trained()
    times = [T0, T0 + timedelta(days=10), T0 + timedelta(days=20)]
    in_order: Profile | None = None
    for n, at in enumerate(times):
        in_order = step(click(n, at), in_order, model, NOW).profile
    # The first click arrives last, twenty days late (a slow topic drained after the rest).
    late: Profile | None = None
    for n in (1, 2, 0):
        result = step(click(n, times[n]), late, model, NOW)
        assert result.outcome == "applied"
        late = result.profile
    assert in_order is not None and late is not None
    assert late.event_counts == in_order.event_counts == {"click": 3}
    assert late.as_of == in_order.as_of
    assert np.allclose(late.counts, in_order.counts, rtol=1e-12, atol=0.0)


# -- item 4: a customer's changes never run backwards -----------------------------------


def test_changes_after_a_sweep_look_are_never_stamped_before_it() -> None:
    model = trained()
    profile: Profile | None = None
    for n in range(8):
        profile = step(click(n, T0 + timedelta(days=4 * n)), profile, model, NOW).profile
    assert profile is not None
    # The sweep's daily looks (its clock running ahead of this customer's unread events)
    # find it lapsed at some point.
    moved = None
    for day in range(1, 40):
        look = profile.as_of + day * DAY
        moved = reassess(profile, model, look, NOW)
        if moved.changes:
            break
        profile = moved.profile
    assert moved is not None and moved.changes
    assert [c.occurred_at for c in moved.changes] == [from_epoch(look)]
    # Then an event from before that look arrives: the move back is not dated before
    # the move it undoes.
    back = step(click(99, from_epoch(look - DAY / 2)), moved.profile, model, NOW)
    assert back.changes
    assert all(c.occurred_at >= from_epoch(look) for c in back.changes)


# -- item 5: arrival order does not decide who gets a segment --------------------------


def test_a_replay_grouped_by_customer_assesses_every_customer() -> None:
    sim = simulate(SimulationConfig(customers=300, days=21.0, seed=4, drift_fraction=0.0))
    by_customer = sorted(sim.events, key=lambda e: (e.customer_id, e.occurred_at))
    config = EngineConfig(warmup_samples=100, warmup_days=3.0)
    result = replay(by_customer, config)
    assert len(result.profiles) == 300
    assert result.outcomes["unassessed"] == 0
    assert all(p.segment in result.model.segment_ids() for p in result.profiles.values())
    # And a customer's changes still never run backwards.
    last: dict[str, datetime] = {}
    for change in result.changes:
        assert change.occurred_at >= last.get(change.customer_id, change.occurred_at)
        last[change.customer_id] = change.occurred_at


# -- item 6: members of a retired segment move at once ----------------------------------


def _drop_cluster(model: SegmentModel, segment: str) -> None:
    """What a refit does to a cluster it cannot match: the segment's id is gone (its
    centre lives on under a new id)."""
    c = model.clusterer
    j = [f"seg-{cid}" for cid in c.ids].index(segment)
    c.ids[j] = c.next_id
    c.next_id += 1
    c._view = None


def test_the_members_of_a_retired_segment_move_as_soon_as_it_is_retired() -> None:
    sim = simulate(SimulationConfig(customers=300, days=28.0, seed=6, drift_fraction=0.0))
    config = EngineConfig(warmup_samples=100, warmup_days=3.0)
    members: dict[str, set[str]] = {}
    retired: list[tuple[str, float]] = []
    seen: dict[str, str | None] = {}

    def follow(change: object) -> None:
        from segflow.models.changes import SegmentChange

        assert isinstance(change, SegmentChange)
        if change.kind == "behavioral":
            seen[change.customer_id] = change.to_segment

    def on_sample(sample: dict[str, float], t: float) -> None:
        if retired or t < sim.events[0].occurred_at.timestamp() + 14 * DAY:
            return
        model = state["model"]
        if not model.is_ready:
            return
        sizes: dict[str, set[str]] = {}
        for customer, segment in seen.items():
            if segment is not None:
                sizes.setdefault(segment, set()).add(customer)
        biggest = max(sizes, key=lambda s: len(sizes[s]))
        members[biggest] = sizes[biggest]
        _drop_cluster(model, biggest)
        retired.append((biggest, t))

    state = {"model": SegmentModel.create(config)}
    result = replay(sim.events, model=state["model"], on_change=follow, on_sample=on_sample)
    assert retired, "the model never got ready"
    segment, t = retired[0]
    moves = [c for c in result.changes if c.from_segment == segment and c.reason == "retired"]
    assert {c.customer_id for c in moves} == members[segment]
    assert all(c.cause_event_id is None and c.to_segment != segment for c in moves)
    assert all(c.occurred_at >= from_epoch(t) - timedelta(seconds=1) for c in moves)
    assert result.outcomes["retired"] == len(members[segment])
    assert all(p.segment != segment for p in result.profiles.values())


# -- item 8: the model learns from evidence, not from a first click ---------------------


def test_a_first_click_is_not_a_sample_but_a_day_of_silence_after_it_is() -> None:
    model = trained()
    first = step(click(1, T0), None, model, NOW)
    assert first.sample is None
    second = step(click(2, T0 + timedelta(hours=2)), first.profile, model, NOW)
    assert second.sample is None
    look = reassess(second.profile, model, T0.timestamp() + DAY, NOW)
    assert look.sample is not None
    assert look.sample["presence"] <= 1.0


# -- item 9: the warm-up clock is robust to stray early points --------------------------


def _seeded_at(points: list[tuple[float, float]]) -> float | None:
    """The time of the point at which a clusterer (600 points, 7 days) seeds."""
    clusterer = SegmentClusterer(
        n_clusters=3,
        halflife=7 * DAY,
        time_based=True,
        warmup=600,
        warmup_time=7 * DAY,
        features=["a"],
        seed=1,
    )
    for value, t in points:
        clusterer.learn_one({"a": value}, t=t)
        if clusterer.is_seeded:
            return t
    return None


def test_stray_points_from_months_before_do_not_shorten_the_warm_up() -> None:
    start = 60 * DAY
    bulk = [(float(i % 3), start + i * 900.0) for i in range(2_000)]  # every 15 min
    strays = [(0.0, i * 3_600.0) for i in range(35)]  # two months earlier
    clean = _seeded_at(bulk)
    assert clean is not None and clean >= start + 7 * DAY
    stray = _seeded_at(strays + bulk)
    # The warm-up still spans a week of the real data (the strays would otherwise end it
    # at the 600th point, 5.9 days in), within hours of the run without them.
    assert stray is not None and stray >= start + 7 * DAY
    assert abs(stray - clean) < DAY / 2


@pytest.mark.parametrize("per_day", [300, 1_000, 5_000])
def test_the_warm_up_lasts_its_time_however_many_samples_a_day(per_day: int) -> None:
    # More samples than the reservoir keeps: its later points are mostly recent ones, so
    # a start read from them followed the clock (1,000 a day: seeded after 11.7 days).
    points = [(float(i % 3), i * DAY / per_day) for i in range(per_day * 14)]
    seeded = _seeded_at(points)
    assert seeded is not None and 7 * DAY <= seeded < 7.5 * DAY


def test_a_snapshot_from_before_the_warm_up_start_was_kept_still_loads() -> None:
    clusterer = SegmentClusterer(n_clusters=2, time_based=True, warmup=20, warmup_time=DAY)
    for i in range(10):
        clusterer.learn_one({"a": float(i % 2)}, t=i * 3_600.0)
    state = clusterer.to_state()
    del state["warm_start"]
    again = SegmentClusterer.from_state(state)
    for i in range(10, 40):
        again.learn_one({"a": float(i % 2)}, t=i * 3_600.0)
    # The clock starts at the 10th percentile of the first 20 points' times (0-19 h).
    assert again.is_seeded and again.warm_start == pytest.approx(1.9 * 3_600.0)


# -- item 10: never engaged is not lapsed, and not a 20 % opener ------------------------


def _emails(customer: str, actions: list[str]) -> list[Event]:
    return [
        EmailEvent(
            event_id=f"{customer}-{i}",
            customer_id=customer,
            occurred_at=T0 + timedelta(days=7 * (i // 2), hours=i % 2),
            campaign_id=f"k{i // 2}",
            action=action,  # type: ignore[arg-type]
        )
        for i, action in enumerate(actions)
    ]


def test_a_customer_who_never_opened_or_whose_address_bounced_has_no_open_rate() -> None:
    model = trained()
    cases = {
        "bounced": ["sent", "bounce"],
        "ignores": ["sent", "delivered"] * 10,
        "reader": ["sent", "open"] * 10,
    }
    rates: dict[str, float] = {}
    for customer, actions in cases.items():
        profile: Profile | None = None
        for event in _emails(customer, actions):
            profile = step(event, profile, model, NOW).profile
        assert profile is not None
        features = profile_features(profile, profile.as_of, HALF_LIFE)
        rates[customer] = features["open_rate"]
        # Nothing to lapse from: never having opened is not a lapse.
        assert customer == "reader" or features["email_presence"] == 1.0
    assert rates["bounced"] == 0.0
    assert rates["ignores"] < 0.05
    assert rates["reader"] > 0.8


# -- item 11: whether a reader still opens is judged against its own cadence ----------


def _email_features(every_days: float, opened: list[bool]) -> dict[str, float]:
    """A reader mailed every ``every_days`` who opened the sends marked in ``opened``
    (an hour after each), read a day after the last send (past its grace period)."""
    model, profile = trained(), None
    for i, was_opened in enumerate(opened):
        sent_at = T0 + timedelta(days=every_days * i)
        actions = [("sent", sent_at)] + ([("open", sent_at + timedelta(hours=1))] * was_opened)
        for action, at in actions:
            event = EmailEvent(
                event_id=f"m{i}-{action}",
                customer_id="reader",
                occurred_at=at,
                campaign_id=f"k{i}",
                action=action,  # type: ignore[arg-type]
            )
            profile = step(event, profile, model, NOW).profile
    assert profile is not None
    end = (T0 + timedelta(days=every_days * (len(opened) - 1) + 1, hours=1)).timestamp()
    return profile_features(profile, end, HALF_LIFE)


GATE = EngineConfig().lapse_gate
NINE_IN_TEN = [i % 10 != 3 for i in range(30)]


def test_a_daily_reader_is_not_lapsed_by_two_unopened_days() -> None:
    # Opened 9 in 10 daily sends, then left two unopened: before, every send left
    # unopened multiplied the odds of a lapse by 1 / (1 - 0.9), and email presence
    # fell to 0.1 (into the dormant segment and back, #13 item 11).
    features = _email_features(1.0, [*NINE_IN_TEN, False, False])
    assert features["email_presence"] >= GATE
    assert features["open_rate"] > 0.5


def test_a_daily_reader_who_stops_opening_lapses_within_a_week() -> None:
    features = _email_features(1.0, NINE_IN_TEN + [False] * 6)
    assert features["email_presence"] < GATE


def test_unopened_sends_weigh_by_the_silence_they_span() -> None:
    # Readers who opened every earlier send: two left unopened are two weeks of silence
    # for one mailed weekly (a lapse), two days for one mailed daily (not yet); four
    # days are a lapse for the daily reader too.
    daily, weekly = [True] * 20 + [False] * 2, [True] * 20 + [False] * 2
    assert _email_features(1.0, daily)["email_presence"] >= GATE
    assert _email_features(7.0, weekly)["email_presence"] < GATE
    assert _email_features(1.0, [True] * 20 + [False] * 4)["email_presence"] < GATE
    # One unopened weekly send is doubt, not a lapse.
    assert GATE <= _email_features(7.0, [True] * 20 + [False])["email_presence"] < 0.9


# -- item 12: names in the business's words, from features with evidence -------------


def _shop_model(vocabulary: str) -> SegmentModel:
    """A model of a shop without email: cart-heavy, product-viewing and quiet customers
    (everyone's open rate is the prior: no evidence)."""
    config = EngineConfig(
        vocabulary=vocabulary,  # type: ignore[arg-type]
        n_segments=3,
        warmup_samples=90,
        warmup_days=0,
    )
    model = SegmentModel.create(config)
    kinds = [
        {"pages_decision": 9.0, "pages_consideration": 4.0, "purchases": 1.0},
        {"pages_consideration": 16.0},
        {"pages_consideration": 0.5},
    ]
    for i in range(300):
        sample = {name: value * (1 + 0.1 * ((i * 7) % 5)) for name, value in kinds[i % 3].items()}
        sample.update({"open_rate": 0.2, "clicks_per_session": 2.0 + (i % 3)})
        model.learn_one(sample, t=T0.timestamp() + i)
    assert model.is_ready
    return model


def test_names_come_from_features_with_evidence_in_the_business_words() -> None:
    shop = _shop_model("ecommerce")
    names = shop.segment_names().values()
    assert "open_rate" not in shop.evidence()
    assert not [n for n in names if "email" in n]
    assert [n for n in names if "cart adder" in n]
    assert not [n for n in names if "pricing" in n or "downloader" in n]
    b2b = _shop_model("b2b").segment_names().values()
    assert [n for n in b2b if "pricing and demo pages" in n]
    # Reasons speak only of features with evidence.
    features = {**dict.fromkeys(CLUSTER_FEATURES, 0.0), "pages_decision": 9.0, "open_rate": 0.2}
    x = shop.transform.transform_one(features)
    reasons = standout_reasons(shop, features, x)
    assert reasons and all(r.feature in shop.evidence() for r in reasons)


def test_dormancy_reads_every_feature_though_names_read_only_the_evident_ones() -> None:
    # Purchase-only data (a shop's order log): every other feature is constant. The
    # buyers who order least are not a dormant segment for the lapse gate (it would
    # bar active customers from it): dormancy is read on all features, as the policy
    # always did, while the names speak only of orders.
    model = SegmentModel.create(EngineConfig(n_segments=3, warmup_samples=90, warmup_days=0))
    for i in range(300):
        orders = (0.2, 2.0, 8.0)[i % 3] * (1 + 0.1 * ((i * 7) % 5))
        model.learn_one({"purchases": orders, "open_rate": 0.2}, t=T0.timestamp() + i)
    assert model.is_ready
    assert "purchases" in model.evidence() and "open_rate" not in model.evidence()
    assert model.dormant_segments() == frozenset()
    assert all("dormant" not in name for name in model.segment_names().values())
