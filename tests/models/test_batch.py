"""The batch step gives what stepping event by event gives: the same looks, profiles,
changes, samples and distances, in the same order, on the simulator and on real data."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from functools import partial

import pytest

from bench.realdata import ENGINES
from segflow.models import step as step_module
from segflow.models.columns import Screen
from segflow.models.config import EngineConfig
from segflow.models.engine import Engine, Handled
from segflow.models.events import Event
from segflow.models.model import SegmentModel
from segflow.models.profile import DECISION_FIELDS, Profile
from segflow.models.runner import replay
from segflow.models.timeutil import from_epoch
from segflow.sources.datasets import default_path
from segflow.sources.online_retail import online_retail
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.sources.taobao import taobao
from segflow.streams.replay import datasets_folder

Record = list[tuple[int, Handled]]


def batches(events: Sequence[Event], size: int) -> Iterator[Sequence[Event]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def run(
    events: Sequence[Event],
    model: SegmentModel,
    start: dict[str, Profile],
    size: int,
    batched: bool,
) -> tuple[Record, list[int]]:
    """Every result of handling ``events`` as a worker does (batches of ``size``, the
    noted looks after each), event by event or through the batch step; and the
    indexes of the events that failed."""
    engine = Engine(model.config)
    profiles = dict(start)
    engine.schedule.load(0, profiles.values())
    record: Record = []
    failed: list[int] = []
    offset = 0

    def sink_for(i: int) -> Callable[[Handled], None]:
        def keep(done: Handled) -> None:
            record.append((i, done))
            if done.result.outcome == "applied":
                profiles[done.customer] = done.result.profile

        return keep

    def fail(offset: int, i: int, error: Exception) -> None:
        failed.append(offset + i)

    for batch in batches(events, size):
        sinks = [sink_for(offset + i) for i in range(len(batch))]
        if batched:
            engine.handle_batch(
                0,
                batch,
                [None] * len(batch),
                model,
                profiles.get,
                sinks,
                from_epoch,
                partial(fail, offset),
            )
        else:
            for i, event in enumerate(batch):
                try:
                    engine.handle(
                        0, event, model, profiles.get, sinks[i], from_epoch, sweep_first=False
                    )
                except ValueError:
                    failed.append(offset + i)
        engine.sweep(0, None, model, profiles.get, sink_for(-1), from_epoch)
        offset += len(batch)
    return record, failed


class Counting:
    """Counts the customers the screen let stay without the change policy."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kept = 0
        self.asked = 0
        original = Screen.stays

        def stays(screen: Screen, i: int, segment: str, margin: float) -> float | None:
            kept = original(screen, i, segment, margin)
            self.asked += 1
            self.kept += kept is not None
            return kept

        monkeypatch.setattr(Screen, "stays", stays)


def assert_same(
    events: Sequence[Event],
    model: SegmentModel,
    start: dict[str, Profile],
    sizes: Sequence[int],
) -> Record:
    for size in sizes:
        one_by_one, failed = run(events, model, start, size, batched=False)
        batched, failed_batched = run(events, model, start, size, batched=True)
        assert failed_batched == failed
        assert len(batched) == len(one_by_one)
        for ours, theirs in zip(batched, one_by_one, strict=True):
            assert ours == theirs
    return one_by_one


def simulated(seed: int = 7) -> tuple[SegmentModel, dict[str, Profile], list[Event]]:
    """A model learned on four weeks of the simulator, the profiles then, the next week."""
    sim = simulate(SimulationConfig(customers=400, days=35.0, seed=seed))
    cut = sim.config.start + timedelta(days=28)
    config = EngineConfig(warmup_samples=200, warmup_days=7.0)
    learned = replay([e for e in sim.events if e.occurred_at < cut], config)
    later = [e for e in sim.events if e.occurred_at >= cut]
    return learned.model, learned.profiles, later


def test_batches_of_any_size_give_the_results_of_one_event_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, profiles, later = simulated()
    counting = Counting(monkeypatch)
    record = assert_same(later, model, profiles, (500,))
    changes = sum(len(done.result.changes) for _, done in record)
    looks = sum(1 for _, done in record if done.cause == "inactivity")
    # the screen did the work most of the time, and the policy the rest
    assert counting.kept > 0.7 * len(later)
    assert counting.asked > counting.kept
    assert changes > 50 and looks > 100
    # batches that split a customer's events, and single events, agree too
    assert_same(later[:3_000], model, profiles, (1, 7, 64))


def test_the_batch_step_on_real_clickstreams_and_purchases() -> None:
    folder = datasets_folder()
    # (learned on, then replayed with the model held: Taobao's last 40,000 events,
    # which leaves out its strays dated weeks before the rest; Online Retail's 3,000
    # orders after its first 6,000, each customer looked at daily for weeks after)
    for name, stream, learn, held in (
        ("taobao", taobao, slice(None), slice(-40_000, None)),
        ("online-retail", online_retail, slice(6_000), slice(6_000, 9_000)),
    ):
        path = default_path(name, folder)
        if not path.is_file():
            pytest.skip(f"{path} is not here")
        events = list(stream(path))
        config = EngineConfig.model_validate(ENGINES[name])
        model = replay(events[learn], config).model
        assert model.is_ready
        record = assert_same(events[held], model, {}, (500,))
        assert sum(len(done.result.changes) for _, done in record) > 100, name


def test_a_failed_event_is_reported_and_its_customers_later_events_go_on_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, profiles, later = simulated()
    events = later[:1_500]
    customer = events[10].customer_id
    mine = [i for i, e in enumerate(events) if e.customer_id == customer]
    assert len(mine) >= 3
    broken = {events[mine[0]].event_id, events[mine[1]].event_id}
    apply_event = step_module.apply_event

    def fragile(profile: Profile, event: Event, *args: object, **kwargs: object) -> bool:
        if event.event_id in broken:
            raise ValueError("cannot apply")
        return apply_event(profile, event, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(step_module, "apply_event", fragile)
    record = assert_same(events, model, profiles, (500, 5))
    assert {i for i, done in record if done.customer == customer and done.cause == "event"}
    failed = run(events, model, profiles, 500, batched=True)[1]
    assert failed == mine[:2]


def test_every_profile_field_is_on_the_event_side_or_the_decision_side() -> None:
    event_side = {
        "customer_id", "as_of", "first_seen", "counts", "last_active", "last_sent",
        "last_site", "last_open", "last_session", "unopened", "active_days", "visit_days",
        "flags", "properties", "recent_ids", "event_counts", "first_purchase",
        "last_purchase", "purchase_days", "spend_total", "aliases", "merges",
    }  # fmt: skip
    fields = set(Profile.__dataclass_fields__)
    assert fields == event_side | set(DECISION_FIELDS)
    assert not event_side & set(DECISION_FIELDS)


def test_take_decisions_copies_the_assignment_and_shares_nothing_mutable() -> None:
    decided = Profile.new("c1", as_of=10.0)
    decided.segment, decided.seq, decided.rule_segments = "seg-2", 4, ["vip"]
    decided.rule_since = {"vip": 5.0}
    folded = Profile.new("c1", as_of=20.0)
    folded.counts[0] = 3.0
    folded.take_decisions(decided)
    assert (folded.segment, folded.seq, folded.rule_segments) == ("seg-2", 4, ["vip"])
    assert folded.counts[0] == 3.0 and folded.as_of == 20.0
    folded.rule_segments.append("new")
    folded.rule_since["new"] = 1.0
    assert decided.rule_segments == ["vip"] and decided.rule_since == {"vip": 5.0}
    folded.take_decisions(None)
    assert folded.segment is None and folded.seq == 0 and folded.rule_segments == []
