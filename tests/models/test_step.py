"""The pure step and the in-memory runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segflow.models.config import EngineConfig
from segflow.models.events import ClickEvent, DownloadEvent, EmailEvent, Event, PurchaseEvent
from segflow.models.features import profile_features
from segflow.models.model import SegmentModel
from segflow.models.profile import Profile
from segflow.models.runner import replay
from segflow.models.step import reassess, step
from segflow.models.timeutil import DAY, from_epoch
from segflow.sources.simulator import SimulationConfig, simulate

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
EXAMPLE_RULES = Path(__file__).resolve().parents[2] / "examples" / "rules.yaml"


def click(n: int, at: datetime, customer: str = "c1", **extra: object) -> ClickEvent:
    return ClickEvent(event_id=f"e{n}", customer_id=customer, occurred_at=at, url="/", **extra)


@pytest.fixture(scope="module")
def trained() -> SegmentModel:
    # Enough customers that the dormant persona (a sixth) makes a segment of its own.
    sim = simulate(SimulationConfig(customers=800, days=28.0, seed=3, drift_fraction=0.0))
    return replay(sim.events, EngineConfig(warmup_samples=200, warmup_days=7.0)).model


def test_the_step_does_not_mutate_its_inputs(trained: SegmentModel) -> None:
    first = step(click(1, T0), None, trained, NOW)
    before = first.profile.to_json()
    version = trained.version
    step(click(2, T0 + timedelta(hours=1)), first.profile, trained, NOW)
    assert first.profile.to_json() == before
    assert trained.version == version


def test_a_repeated_event_id_is_ignored(trained: SegmentModel) -> None:
    first = step(click(1, T0), None, trained, NOW)
    again = step(click(1, T0 + timedelta(minutes=5)), first.profile, trained, NOW)
    assert again.outcome == "duplicate"
    assert again.profile.event_counts == {"click": 1}
    assert again.changes == []


def test_late_events_inside_the_bound_count_and_outside_are_refused(trained: SegmentModel) -> None:
    config = trained.config
    profile = step(click(1, T0), None, trained, NOW).profile
    late_ok = step(
        click(2, T0 - timedelta(hours=config.max_lateness_hours - 1)), profile, trained, NOW
    )
    assert late_ok.outcome == "applied"
    assert late_ok.profile.event_counts == {"click": 2}
    assert late_ok.profile.as_of == profile.as_of
    too_late = step(
        click(3, T0 - timedelta(hours=config.max_lateness_hours + 1)), late_ok.profile, trained, NOW
    )
    assert too_late.outcome == "late"
    assert too_late.profile is late_ok.profile


def test_properties_keep_the_latest_value(trained: SegmentModel) -> None:
    profile = step(click(1, T0, properties={"lead_source": "webinar"}), None, trained, NOW).profile
    profile = step(
        click(2, T0 + timedelta(hours=2), properties={"lead_source": "event"}),
        profile,
        trained,
        NOW,
    ).profile
    late = step(
        click(3, T0 + timedelta(hours=1), properties={"lead_source": "old"}), profile, trained, NOW
    ).profile
    assert late.properties["lead_source"] == "event"


def test_each_event_type_feeds_its_counters(trained: SegmentModel) -> None:
    events: list[Event] = [
        click(1, T0),
        DownloadEvent(
            event_id="e2", customer_id="c1", occurred_at=T0, asset_id="a", funnel_stage="decision"
        ),
        EmailEvent(event_id="e3", customer_id="c1", occurred_at=T0, campaign_id="x", action="sent"),
        EmailEvent(event_id="e4", customer_id="c1", occurred_at=T0, campaign_id="x", action="open"),
        EmailEvent(
            event_id="e5", customer_id="c1", occurred_at=T0, campaign_id="x", action="unsubscribe"
        ),
        PurchaseEvent(event_id="e6", customer_id="c1", occurred_at=T0, order_id="o", amount=80),
        PurchaseEvent(event_id="e7", customer_id="c1", occurred_at=T0, order_id="o", amount=-30),
    ]
    profile: Profile | None = None
    result = None
    for event in events:
        result = step(event, profile, trained, NOW)
        profile = result.profile
    assert result is not None
    assert profile is not None
    assert profile.event_counts == {"click": 1, "download": 1, "email": 3, "purchase": 2}
    values = dict(
        zip(
            ("clicks", "downloads_decision", "emails_sent", "email_opens", "purchases", "spend"),
            (1.0, 1.0, 1.0, 1.0, 1.0, 50.0),
            strict=True,
        )
    )
    for name, expected in values.items():
        assert profile.value(name, profile.as_of, 7 * 86_400.0) == pytest.approx(expected)
    scores = trained.scores({"unsubscribed": 1.0, "open_rate": 0.9, "click_rate": 0.5})
    assert scores["email_responsiveness"] == 0.0


def test_a_first_assignment_comes_from_none_with_reasons(trained: SegmentModel) -> None:
    result = step(click(1, T0), None, trained, NOW)
    behavioral = [c for c in result.changes if c.kind == "behavioral"]
    assert len(behavioral) == 1
    change = behavioral[0]
    assert change.from_segment is None
    assert change.to_segment in trained.segment_names()
    assert change.to_name == trained.segment_names()[change.to_segment]
    assert change.model_version == trained.version
    assert change.cause_event_id == "e1"
    assert change.emitted_at == NOW
    assert change.occurred_at == T0
    assert set(change.scores) == {"engagement", "email_responsiveness", "content_intent", "value"}
    assert change.reasons
    assert all(r.feature in trained.clusterer.features for r in change.reasons)  # type: ignore[operator]


def test_the_step_reports_the_distance_to_the_segment_it_assigned(
    trained: SegmentModel,
) -> None:
    result = step(click(1, T0), None, trained, NOW)
    segment = result.profile.segment
    assert segment is not None and result.distance is not None
    half_life = trained.config.half_life_days * 86_400.0
    x = trained.transform.transform_one(profile_features(result.profile, T0.timestamp(), half_life))
    distances = trained.distances(x)
    # A customer on the site this moment has not lapsed: the nearest segment but a dormant one.
    active = [d for s, d in distances.items() if s not in trained.dormant_segments()]
    assert result.distance == distances[segment] == min(active)
    # The sweep's re-assessment reports it too; without a segment there is none.
    later = reassess(result.profile, trained, T0.timestamp() + 3 * 86_400.0, NOW)
    assert later.distance is not None and later.distance != result.distance
    blank = SegmentModel.create(trained.config)
    assert step(click(1, T0), None, blank, NOW).distance is None


def silent_month(model: SegmentModel, every_days: int) -> tuple[list[tuple[float, bool]], Profile]:
    """A light visitor (a click every ``every_days`` days, eight times) then silent,
    looked at daily by the sweep: (site presence, in a dormant segment) per day, and
    the profile at the end of the month."""
    profile: Profile | None = None
    for i in range(8):
        profile = step(click(i, T0 + timedelta(days=every_days * i)), profile, model, NOW).profile
    assert profile is not None
    days = []
    for day in range(1, 30):
        at = profile.as_of + day * DAY
        profile = reassess(profile, model, at, NOW).profile
        presence = profile_features(profile, at, model.config.half_life_days * DAY)["presence"]
        days.append((presence, profile.segment in model.dormant_segments()))
    return days, profile


def test_a_customer_joins_a_dormant_segment_only_once_it_lapsed(trained: SegmentModel) -> None:
    assert trained.dormant_segments()
    gate = trained.config.lapse_gate
    ungated = SegmentModel(
        trained.config.model_copy(update={"lapse_gate": 1.0}), trained.clusterer, trained.engagement
    )
    for every in (3, 4, 5):
        days, _ = silent_month(trained, every)
        assert all(presence < gate for presence, dormant in days if dormant)
        assert days[-1][1]  # a month of silence is a lapse
        # Without the gate, decay alone takes the same visitor to the dormant segment
        # during an ordinary gap between two visits.
        early = [presence for presence, dormant in silent_month(ungated, every)[0] if dormant]
        assert early and max(early) >= gate


def test_a_dormant_customer_back_on_the_site_leaves_at_once(trained: SegmentModel) -> None:
    days, profile = silent_month(trained, 4)
    assert days[-1][1]
    back = step(click(100, from_epoch(profile.as_of + 30 * DAY)), profile, trained, NOW)
    assert back.profile.segment not in trained.dormant_segments()
    moves = [change for change in back.changes if change.kind == "behavioral"]
    assert [(m.from_segment, m.cause_event_id) for m in moves] == [(profile.segment, "e100")]


def test_replays_are_deterministic_and_change_ids_repeat() -> None:
    sim = simulate(
        SimulationConfig(customers=150, days=21.0, seed=5, warmup_days=7.0, settle_days=7.0)
    )
    config = EngineConfig(warmup_samples=100, warmup_days=5.0)
    first, second = replay(sim.events, config), replay(sim.events, config)
    assert first.changes
    assert [c.model_dump() for c in first.changes] == [c.model_dump() for c in second.changes]
    assert len({c.change_id for c in first.changes}) == len(first.changes)


def test_every_customer_gets_a_segment_and_counts_match_what_was_sent() -> None:
    sim = simulate(
        SimulationConfig(customers=120, days=21.0, seed=8, warmup_days=7.0, settle_days=7.0)
    )
    result = replay(sim.events, EngineConfig(warmup_samples=100, warmup_days=5.0))
    sent: dict[str, dict[str, int]] = {}
    for event in sim.events:
        per = sent.setdefault(event.customer_id, {})
        per[event.kind] = per.get(event.kind, 0) + 1
    assert {c: p.event_counts for c, p in result.profiles.items()} == sent
    assert all(p.segment is not None for p in result.profiles.values())


def test_the_runner_without_learning_uses_the_model_as_given(trained: SegmentModel) -> None:
    sim = simulate(
        SimulationConfig(customers=40, days=7.0, seed=4, warmup_days=2.0, settle_days=2.0)
    )
    before = trained.to_snapshot()
    pinned = SegmentModel.from_snapshot(before, trained.config)
    samples: list[float] = []
    result = replay(sim.events, model=pinned, learn=False, on_sample=lambda x, t: samples.append(t))
    assert result.model is pinned
    assert pinned.version == trained.version and pinned.to_snapshot() == before
    assert samples == []
    assert result.changes
    assert all(c.model_version == trained.version for c in result.changes)
    # The step still takes its samples: profiles remember when they last fed the model.
    assert any(p.learned_at is not None for p in result.profiles.values())
    # The same events with the same pinned model give the same changes every time.
    again = replay(
        sim.events, model=SegmentModel.from_snapshot(before, trained.config), learn=False
    )
    assert [c.model_dump() for c in again.changes] == [c.model_dump() for c in result.changes]
    learning = replay(sim.events, model=SegmentModel.from_snapshot(before, trained.config))
    assert learning.model.version > trained.version


def test_the_runner_stamps_changes_with_the_clock_it_is_given() -> None:
    sim = simulate(
        SimulationConfig(customers=60, days=14.0, seed=2, warmup_days=3.0, settle_days=3.0)
    )
    ticks = iter(range(10**9))

    def clock() -> datetime:
        return NOW + timedelta(seconds=next(ticks))

    result = replay(sim.events, EngineConfig(warmup_samples=50, warmup_days=2.0), clock=clock)
    assert result.changes
    assert all(c.emitted_at >= NOW for c in result.changes)


def test_rule_segments_are_entered_and_exited(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "segments:\n"
        "  - id: pricing-visitor\n"
        "    name: Pricing visitor\n"
        "    when: {field: features.clicks, op: gte, value: 2.5}\n"
        "  - id: from-webinar\n"
        "    name: Came from a webinar\n"
        "    when: {field: properties.lead_source, op: eq, value: webinar}\n"
    )
    model = SegmentModel.create(EngineConfig(rules_file=rules))
    profile = None
    entered = []
    for n in range(3):
        result = step(
            click(n, T0 + timedelta(minutes=n), properties={"lead_source": "webinar"}),
            profile,
            model,
            NOW,
        )
        profile = result.profile
        entered += [(c.from_segment, c.to_segment, c.to_name) for c in result.changes]
    assert entered == [
        (None, "from-webinar", "Came from a webinar"),
        (None, "pricing-visitor", "Pricing visitor"),
    ]
    # three weeks later the clicks have decayed below 2.5: the next event exits the rule
    result = step(
        click(9, T0 + timedelta(days=21), properties={"lead_source": "webinar"}),
        profile,
        model,
        NOW,
    )
    assert [(c.kind, c.from_segment, c.to_segment) for c in result.changes] == [
        ("rule", "pricing-visitor", None)
    ]
    assert result.changes[0].model_version is None


def test_the_example_rules_file_loads() -> None:
    model = SegmentModel.create(EngineConfig(rules_file=EXAMPLE_RULES))
    assert model.rules is not None
    assert model.rules.names
