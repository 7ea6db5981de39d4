"""The inactivity sweep: silent customers move by decay alone; only due customers are looked at."""

from __future__ import annotations

import random
from datetime import timedelta

from segflow.models.config import EngineConfig
from segflow.models.profile import Profile
from segflow.models.runner import replay
from segflow.models.step import due_at
from segflow.models.sweep import Sweep
from segflow.sources.simulator import SimulationConfig, simulate

DAY = 86_400.0


def test_a_customer_who_goes_silent_leaves_an_activity_segment_without_a_new_event() -> None:
    sim = simulate(SimulationConfig(customers=300, days=42.0, seed=4, drift_fraction=0.0))
    silent_from = sim.config.start + timedelta(days=21)
    researchers = sorted(c for c, p in sim.personas.items() if p == "researcher")
    quiet = set(researchers[:5])
    events = [e for e in sim.events if e.customer_id not in quiet or e.occurred_at < silent_from]
    result = replay(events, EngineConfig(warmup_samples=200, warmup_days=7.0))
    model = result.model
    active = {"pages_awareness", "pages_consideration", "downloads_awareness"}
    for customer in quiet:
        mine = [c for c in result.changes if c.customer_id == customer and c.kind == "behavioral"]
        assert mine, customer
        last = mine[-1]
        # the move came from the sweep (no cause event), after the customer fell silent
        assert last.cause_event_id is None
        assert last.occurred_at > silent_from
        assert last.from_segment is not None
        assert last.to_segment is not None
        before, after = (
            model.clusterer.centroid(int(s.removeprefix("seg-")))
            for s in (last.from_segment, last.to_segment)
        )
        assert sum(after[f] for f in active) < sum(before[f] for f in active)
    assert result.outcomes["swept"] > 0


def test_the_sweep_yields_exactly_the_customers_due_and_each_once() -> None:
    config = EngineConfig()
    rng = random.Random(5)
    schedule = Sweep(config)
    profiles = []
    for i in range(2_000):
        profile = Profile.new(f"c{i}", as_of=rng.uniform(0.0, 30 * DAY))
        profile.segment = "seg-1"
        profiles.append(profile)
    schedule.load(0, profiles)
    due_times = {p.customer_id: due_at(p, config) for p in profiles}
    for watermark in (5 * DAY, 12 * DAY, 20 * DAY):
        looked = list(schedule.due(0, watermark))
        expected = {c for c, when in due_times.items() if when is not None and when <= watermark}
        assert {c for _, c in looked} == expected
        assert len(looked) == len(expected)  # each once, nothing else touched
        for _, customer in looked:
            due_times.pop(customer)
    assert list(schedule.due(0, 20 * DAY)) == []  # nothing is due twice


def test_an_event_reschedules_and_supersedes_the_old_due_time() -> None:
    config = EngineConfig()
    schedule = Sweep(config)
    profile = Profile.new("c", as_of=0.0)
    profile.segment = "seg-1"
    schedule.schedule(0, profile)
    first = due_at(profile, config)
    assert first is not None
    later = Profile.new("c", as_of=first - 1.0)
    later.segment = "seg-1"
    schedule.schedule(0, later)  # an event just before the old due time
    assert list(schedule.due(0, first)) == []
    second = due_at(later, config)
    assert second is not None
    assert list(schedule.due(0, second)) == [(second, "c")]


def test_a_look_overdue_by_days_is_taken_once_at_the_watermark() -> None:
    # After a restart (or a gap in the traffic) a customer silent for ten days is
    # looked at once, now, not ten times in a row for the days missed.
    config = EngineConfig()
    schedule = Sweep(config)
    profile = Profile.new("c", as_of=0.0)
    profile.segment = "seg-1"
    schedule.load(0, [profile])
    looks = list(schedule.due(0, 10 * DAY))
    assert looks == [(10 * DAY, "c")]
    schedule.schedule(0, profile, after=10 * DAY)
    assert list(schedule.due(0, 10.5 * DAY)) == []
    assert list(schedule.due(0, 11 * DAY)) == [(11 * DAY, "c")]  # then daily again
