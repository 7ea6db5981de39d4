"""The inactivity sweep: silent customers move by decay alone; only due customers are looked at."""

from __future__ import annotations

import heapq
import random
from datetime import UTC, datetime, timedelta

import pytest

from segflow.models import sweep as sweep_module
from segflow.models.config import EngineConfig
from segflow.models.engine import Engine, Handled
from segflow.models.model import SegmentModel
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
    schedule.load(0, [])
    for profile in profiles:  # scheduled after their events
        schedule.schedule(0, profile)
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
    # After a gap in the traffic a customer silent for ten days is looked at once,
    # now, not ten times in a row for the days missed.
    config = EngineConfig()
    schedule = Sweep(config)
    profile = Profile.new("c", as_of=0.0)
    profile.segment = "seg-1"
    schedule.load(0, [])
    schedule.schedule(0, profile)
    looks = list(schedule.due(0, 10 * DAY))
    assert looks == [(10 * DAY, "c")]
    schedule.schedule(0, profile, after=10 * DAY)
    assert list(schedule.due(0, 10.5 * DAY)) == []
    assert list(schedule.due(0, 11 * DAY)) == [(11 * DAY, "c")]  # then daily again


def test_restored_customers_overdue_are_looked_at_once_spread_over_the_next_interval() -> None:
    # Read back from the table after a restart, a million silent customers are not
    # all due on the first event: the worker before looked at them within the day
    # before it stopped.
    config = EngineConfig()
    interval = DAY  # a seventh of the default 7-day half-life
    schedule = Sweep(config)
    profiles = [Profile.new(f"c{i}", as_of=float(i % 5) * DAY) for i in range(1_000)]
    recent = Profile.new("recent", as_of=9.5 * DAY)  # due within the last interval (10.5)
    talker = Profile.new("talker", as_of=0.0)
    waiting = Profile.new("waiting", as_of=10.0 * DAY)  # a move waiting for its dwell
    waiting.pending, waiting.pending_since = "seg-2", 10.0 * DAY
    schedule.load(0, [*profiles, recent, talker, waiting])
    watermark = 10.7 * DAY
    confirm = due_at(waiting, config)
    assert confirm is not None and confirm < watermark
    assert list(schedule.due(0, watermark)) == [(confirm, "waiting")]  # not deferred
    talker.as_of = watermark  # an event: scheduled as usual from now on
    schedule.schedule(0, talker)
    looked: dict[str, float] = {}
    for tenth in range(1, 11):
        for when, customer in schedule.due(0, watermark + tenth * interval / 10):
            assert customer not in looked  # once
            looked[customer] = when
        assert abs(len(looked) - 100 * tenth) < 40  # spread evenly over the interval
    assert set(looked) == {p.customer_id for p in profiles} | {"talker", "recent"}
    assert looked["talker"] == watermark + interval
    # Due before the restart (the worker before took that look): one interval later.
    assert looked["recent"] == recent.as_of + 2 * interval


def test_a_limited_sweep_takes_the_earliest_due_and_leaves_the_rest_scheduled() -> None:
    config = EngineConfig()
    model = SegmentModel.create(config)
    rng = random.Random(9)
    profiles = {}
    for i in range(50):
        profile = Profile.new(f"c{i}", as_of=rng.uniform(0.0, 3 * DAY))
        profiles[profile.customer_id] = profile

    calls: list[int] = []

    def looks(limit: int | None) -> list[tuple[str, float]]:
        calls.clear()
        engine = Engine(config)
        engine.schedule.load(0, [])
        for profile in profiles.values():
            engine.schedule.schedule(0, profile)
        seen: list[tuple[str, float]] = []

        def keep(done: Handled) -> None:
            seen.append((done.customer, done.result.t))

        def stamp(t: float) -> datetime:
            return datetime.fromtimestamp(t, UTC)

        while not calls or calls[-1] == limit:
            calls.append(engine.sweep(0, 10 * DAY, model, profiles.get, keep, stamp, limit=limit))
        return seen

    whole = looks(None)
    assert len(whole) > 7  # several are due, some more than once
    chunked = looks(7)
    assert calls[0] == 7 and len(calls) == len(whole) // 7 + 1
    assert chunked == whole  # the same looks in the same order, seven at a time


def test_restored_looks_the_watermark_jumps_over_later_are_spread_and_others_are_not() -> None:
    # The watermark first stops short of every restored look, then jumps ten days (a
    # gap in the traffic): the looks it jumped over are spread over the next interval;
    # a look it reaches a step at a time is taken one interval after its due time.
    config = EngineConfig()
    interval = DAY
    schedule = Sweep(config)
    jumped = [Profile.new(f"j{i}", as_of=2.0 * DAY + i) for i in range(200)]
    stepped = Profile.new("s", as_of=12.4 * DAY)
    schedule.load(0, [*jumped, stepped])
    assert list(schedule.due(0, 2.5 * DAY)) == []  # nothing due yet
    start = 13.0 * DAY
    assert list(schedule.due(0, start)) == []  # jumped over: deferred, not looked at
    looked: dict[str, float] = {}
    for tenth in range(1, 21):
        for when, customer in schedule.due(0, start + tenth * interval / 10):
            looked[customer] = when
        if tenth <= 10:
            assert abs(len([c for c in looked if c != "s"]) - 20 * tenth) < 15
    assert set(looked) == {p.customer_id for p in jumped} | {"s"}
    assert looked["s"] == stepped.as_of + 2 * interval


def test_the_first_look_spreads_the_restored_customers_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Half a million restored customers overdue by more than an interval were popped
    # from and pushed back into a heap one at a time on a partition's first event.
    schedule = Sweep(EngineConfig())
    schedule.load(0, [Profile.new(f"c{i}", as_of=float(i % 5) * DAY) for i in range(1_000)])
    pops = 0
    real_pop = heapq.heappop

    def counting_pop(heap: list[tuple[float, str]]) -> tuple[float, str]:
        nonlocal pops
        pops += 1
        return real_pop(heap)

    monkeypatch.setattr(sweep_module.heapq, "heappop", counting_pop)
    assert list(schedule.due(0, 10.7 * DAY)) == []  # all jumped over: spread
    assert pops == 0
    assert len(list(schedule.due(0, 11.7 * DAY))) == 1_000  # each once, a day later
    assert pops == 1_000


def test_looks_taken_after_the_events_that_made_them_due_give_each_customer_the_same() -> None:
    # A worker steps a batch's events looking first only at each event's own customer,
    # then takes the partition's other looks due, watermark by watermark. Per customer,
    # that is what looking before every event does: the same looks at the same times,
    # the same changes and profiles; only the order across customers differs.
    config = EngineConfig(warmup_samples=100)
    sim = simulate(SimulationConfig(customers=120, days=28.0, seed=8, drift_fraction=0.0))
    model = replay(sim.events, config).model
    assert model.is_ready
    events = simulate(
        SimulationConfig(
            customers=40, days=21.0, warmup_days=7.0, settle_days=7.0, seed=9, customer_prefix="q"
        )
    )

    def stamp(t: float) -> datetime:
        return datetime.fromtimestamp(t, UTC)

    def run(batch: int | None, chunk: int = 7) -> tuple[list[tuple[str, str]], dict[str, list]]:
        engine, profiles, order = Engine(config), {}, []
        engine.schedule.load(0, [])
        results: dict[str, list[tuple[str, float, list[str], str]]] = {}

        def keep(done: Handled) -> None:
            profiles[done.customer] = done.result.profile
            order.append((done.cause, done.customer))
            changes = [c.model_dump_json() for c in done.result.changes]
            results.setdefault(done.customer, []).append(
                (done.cause, done.result.t, changes, done.result.profile.to_json())
            )

        for i, event in enumerate(events.events, 1):
            if batch is None:
                engine.handle(0, event, model, profiles.get, keep, stamp)
                continue
            engine.handle(0, event, model, profiles.get, keep, stamp, sweep_first=False)
            if i % batch == 0 or i == len(events.events):  # as a worker does after a batch
                while engine.sweep(0, None, model, profiles.get, keep, stamp, limit=chunk) == chunk:
                    pass
                assert not engine.schedule.waiting(0)
        return order, results

    order, expected = run(None)
    assert sum(1 for cause, _ in order if cause == "inactivity") > 100
    assert any(c for runs in expected.values() for _, _, c, _ in runs)
    for batch in (1, 25, 400):
        paced_order, got = run(batch)
        assert got == expected, batch
        if batch > 1:
            assert paced_order != order  # looks did come after other customers' events
