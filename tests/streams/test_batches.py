"""The profile agent's batch step, without a broker: direct path, forwarding, one write
per customer per batch, the profile cache, and equality with the pure step."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import (
    Clock,
    FakeEvent,
    FakeMessage,
    FakeTopic,
    RecordingTable,
    at,
    click,
    commit,
    memory_pipeline,
)
from prometheus_client import CollectorRegistry

from segflow.models.erasure import EraseCommand
from segflow.models.events import BaseEvent
from segflow.models.profile import Profile
from segflow.models.step import step
from segflow.sources.simulator import SimulationConfig, iter_events
from segflow.streams import partitions
from segflow.streams.app import Pipeline
from segflow.streams.ingest import HEADER_ORIGIN, HEADER_TYPE
from segflow.streams.metric_names import SWEPT
from segflow.streams.partitioning import partition_of

PARTITIONS = 4


def ticks_while(work: Coroutine[Any, Any, None]) -> int:
    """Run ``work``; how many times another task got to run meanwhile."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def go() -> int:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        await work
        task.cancel()
        return ticks - start

    return asyncio.run(go())


def pipeline_knowing_partitions(tmp_path: Path, clock: Clock, **overrides: object) -> Pipeline:
    """A memory pipeline that knows its input topics have as many partitions as its table."""
    pipeline = memory_pipeline(tmp_path, clock, CollectorRegistry(), **overrides)
    for topic in pipeline.kinds:
        pipeline.partition_counts[topic] = PARTITIONS
    return pipeline


def input_message(
    pipeline: Pipeline, event: BaseEvent, offset: int, partition: int | None = None
) -> FakeEvent:
    """``event`` on its input topic, in its customer's partition unless told otherwise."""
    key = event.customer_id.encode()
    if partition is None:
        partition = partition_of(key, PARTITIONS)
    topic = pipeline.settings.topics.inputs()[event.kind]
    raw = event.model_dump_json(exclude_none=True).encode()
    return FakeEvent(FakeMessage(topic, partition, offset, key, raw))


def stored(pipeline: Pipeline, customer: str) -> Profile:
    """The customer's profile in the table once the next commit wrote it."""
    commit(pipeline)
    return Profile.from_json(pipeline.profiles[customer.encode()])


def by_customer(changes: list[dict[str, object]]) -> dict[object, list[dict[str, object]]]:
    """Changes per customer, in order (a batch is processed partition by partition)."""
    found: dict[object, list[dict[str, object]]] = {}
    for change in changes:
        found.setdefault(change["customer_id"], []).append(change)
    return found


def test_an_event_in_its_customers_partition_is_processed_without_a_repartition_hop(
    tmp_path: Path,
) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    event = click("c1", 1, at(0))
    asyncio.run(pipeline.process_batch([input_message(pipeline, event, 0)]))
    forwarded = pipeline.events
    assert isinstance(forwarded, FakeTopic)
    assert forwarded.sent == []
    assert stored(pipeline, "c1").event_counts == {"click": 1}


def test_an_event_in_another_partition_is_forwarded_keyed_by_customer(tmp_path: Path) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    event = click("c1", 1, at(0))
    home = partition_of(b"c1", PARTITIONS)
    elsewhere = (home + 1) % PARTITIONS
    asyncio.run(pipeline.process_batch([input_message(pipeline, event, 7, elsewhere)]))
    assert pipeline.profiles == {}
    forwarded = pipeline.events
    assert isinstance(forwarded, FakeTopic)
    (sent,) = forwarded.sent
    assert sent.key == b"c1"
    assert sent.headers[HEADER_TYPE] == b"click"
    topic = pipeline.settings.topics.clicks
    assert orjson.loads(sent.headers[HEADER_ORIGIN]) == [topic, elsewhere, 7]

    # On the repartition topic it lands in its customer's partition and is applied,
    # and a dead letter from there would name the input topic as its origin.
    message = FakeMessage(pipeline.settings.topics.events, home, 0, sent.key, sent.value)
    asyncio.run(pipeline.process_batch([FakeEvent(message, sent.headers)]))
    assert stored(pipeline, "c1").event_counts == {"click": 1}


def test_input_topics_of_unknown_partition_count_always_go_through_the_repartition_topic(
    tmp_path: Path,
) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, CollectorRegistry())
    event = click("c1", 1, at(0))
    asyncio.run(pipeline.process_batch([input_message(pipeline, event, 0)]))
    forwarded = pipeline.events
    assert isinstance(forwarded, FakeTopic)
    assert len(forwarded.sent) == 1
    assert pipeline.profiles == {}


def test_a_worker_asks_the_cluster_for_partition_counts_then_applies_keyed_input_here(
    tmp_path: Path,
) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, CollectorRegistry())
    asked: list[list[str]] = []

    def cluster(names: list[str]) -> dict[str, int]:
        asked.append(names)
        return {name: pipeline.settings.partitions for name in names}

    pipeline.count_partitions = cluster

    async def go() -> None:
        await pipeline.fetch_partition_counts()  # what the profile agent does first
        await pipeline.process_batch([input_message(pipeline, click("c1", 1, at(0)), 0)])

    asyncio.run(go())
    assert asked == [list(pipeline.kinds)]
    forwarded = pipeline.events
    assert isinstance(forwarded, FakeTopic) and forwarded.sent == []
    assert stored(pipeline, "c1").event_counts == {"click": 1}


def two_batches_of_three_customers(tmp_path: Path, write_behind: bool) -> Pipeline:
    """Six clicks each of c1, c2, c3 in two batches, through a pipeline whose table
    counts writes."""
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock, write_behind=write_behind)
    events = [click(c, n, at(n)) for n in range(6) for c in ("c1", "c2", "c3")]
    batch = [input_message(pipeline, e, i) for i, e in enumerate(events)]
    asyncio.run(pipeline.process_batch(batch[:9]))
    asyncio.run(pipeline.process_batch(batch[9:]))
    assert isinstance(pipeline.profiles, RecordingTable)
    return pipeline


def test_each_customer_is_written_once_per_commit_however_many_batches(tmp_path: Path) -> None:
    pipeline = two_batches_of_three_customers(tmp_path, write_behind=True)
    table = pipeline.profiles
    assert table.writes == 0  # not before the commit...
    now = pipeline.current_profile(b"c1")  # ...but the worker reads the newest
    assert now is not None and now.event_counts == {"click": 6}
    assert commit(pipeline) == 3 and table.writes == 3
    assert commit(pipeline) == 0  # nothing changed since
    assert {c: stored(pipeline, c).event_counts["click"] for c in ("c1", "c2", "c3")} == {
        "c1": 6,
        "c2": 6,
        "c3": 6,
    }


def test_without_write_behind_each_customer_is_written_once_per_batch(tmp_path: Path) -> None:
    pipeline = two_batches_of_three_customers(tmp_path, write_behind=False)
    assert pipeline.profiles.writes == 6 and commit(pipeline) == 0


def test_unwritten_profiles_past_the_limit_are_written_at_once_oldest_first(
    tmp_path: Path,
) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    pipeline.store.unwritten_limit = 4
    customers = [f"c{i}" for i in range(12)]
    first = [input_message(pipeline, click(c, 0, at(0)), i) for i, c in enumerate(customers)]
    asyncio.run(pipeline.process_batch(first))
    table = pipeline.profiles
    assert isinstance(table, RecordingTable)
    unwritten = pipeline.store.unwritten
    assert len(unwritten) <= 4  # bounded, not held until the commit
    assert table.writes == 12 - len(unwritten)  # each written once
    written = {c for c in customers if c.encode() not in unwritten}
    assert written and all(pipeline.profiles[c.encode()] is not None for c in written)
    assert len(unwritten) == 2
    waiting = {b"c0", *unwritten}
    second = [input_message(pipeline, click("c0", 1, at(1)), 12)]
    asyncio.run(pipeline.process_batch(second))
    assert commit(pipeline) == len(waiting)
    assert stored(pipeline, "c0").event_counts == {"click": 2}
    assert all(stored(pipeline, c).event_counts == {"click": 1} for c in customers[1:])


def test_batches_give_the_same_profiles_and_changes_as_the_pure_step_event_by_event(
    tmp_path: Path,
) -> None:
    config = SimulationConfig(customers=40, days=10.0, seed=3, drift_fraction=0.0)
    events = list(islice(iter_events(config), 600))
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock, sweep=False)
    model = pipeline.holder.model

    # The reference: the pure step, one event at a time, the same model and clock.
    profiles: dict[str, Profile] = {}
    expected = []
    for event in events:
        result = step(event, profiles.get(event.customer_id), model, pipeline.now())
        if result.outcome == "applied":
            profiles[event.customer_id] = result.profile
            expected.extend(result.changes)

    messages = [input_message(pipeline, e, i) for i, e in enumerate(events)]
    for start in range(0, len(messages), 64):  # uneven batches, customers spread over them
        asyncio.run(pipeline.process_batch(messages[start : start + 64]))
    changes = pipeline.changes
    assert isinstance(changes, FakeTopic)
    got = [orjson.loads(s.value) for s in changes.sent]
    # The pipeline's model is learned: the comparison covers behavioral changes too.
    assert any(c["kind"] == "behavioral" for c in got)
    assert by_customer(got) == by_customer([orjson.loads(c.model_dump_json()) for c in expected])
    assert {c: stored(pipeline, c).to_json() for c in profiles} == {
        c: p.to_json() for c, p in profiles.items()
    }


def test_the_cache_serves_profiles_and_a_rebalance_clears_it(tmp_path: Path) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    asyncio.run(pipeline.process_batch([input_message(pipeline, click("c1", 1, at(0)), 0)]))
    cached = pipeline.cache.get(b"c1")
    commit(pipeline)
    assert cached is not None and cached.to_json() == pipeline.profiles[b"c1"]
    # A profile changed behind the worker's back (as after a rebalance) is read again
    # from the table once the cache is cleared.
    other = Profile.new("c1", as_of=at(0).timestamp())
    pipeline.profiles[b"c1"] = other.to_json()
    pipeline.cache.clear()
    asyncio.run(pipeline.process_batch([input_message(pipeline, click("c1", 2, at(1)), 1)]))
    assert stored(pipeline, "c1").event_counts == {"click": 1}


def test_a_bad_message_in_a_batch_is_dead_lettered_and_the_rest_applied(tmp_path: Path) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    good = input_message(pipeline, click("c1", 1, at(0)), 0)
    bad = FakeEvent(FakeMessage(pipeline.settings.topics.clicks, 2, 5, b"c9", b"{nope"))
    later = input_message(pipeline, click("c1", 2, at(1)), 1)
    asyncio.run(pipeline.process_batch([good, bad, later]))
    dead = pipeline.dead_letters
    assert isinstance(dead, FakeTopic)
    (letter,) = dead.sent
    record = orjson.loads(letter.value)
    assert (record["source_topic"], record["partition"], record["offset"]) == (
        pipeline.settings.topics.clicks,
        2,
        5,
    )
    assert record["reason"] == "not_json"
    assert stored(pipeline, "c1").event_counts == {"click": 2}


def test_a_worker_told_to_redact_copies_no_property_value_into_dead_letters(
    tmp_path: Path,
) -> None:
    from segflow.streams.data_policy import DeadLetterPolicy

    clock = Clock(at(0).timestamp())
    letters = {}
    for redact in (False, True):
        pipeline = pipeline_knowing_partitions(
            tmp_path / str(redact), clock, dead_letters=DeadLetterPolicy(redact=redact)
        )
        raw = orjson.dumps(
            {"type": "click", "customer_id": "c9", "properties": {"email": "ann@example.com"}}
        )  # no event_id: a schema violation
        bad = FakeEvent(FakeMessage(pipeline.settings.topics.clicks, 2, 5, b"c9", raw))
        asyncio.run(pipeline.process_batch([bad]))
        dead = pipeline.dead_letters
        assert isinstance(dead, FakeTopic)
        (letter,) = dead.sent
        letters[redact] = letter.value
    assert b"ann@example.com" in letters[False]
    assert b"ann@example.com" not in letters[True]
    record = orjson.loads(letters[True])
    assert (record["source_topic"], record["offset"], record["reason"]) == ("clicks", 5, "schema")


def test_the_first_batch_after_a_rebalance_loads_its_partitions_sizes_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segflow.streams import profile_store as store_module

    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    model = pipeline.holder.model
    # 400 customers already in the table, spread over the four partitions.
    for i in range(400):
        result = step(click(f"old{i}", 1, at(0)), None, model, pipeline.now())
        pipeline.profiles[f"old{i}".encode()] = result.profile.to_json()
    mine = [f"old{i}" for i in range(400) if partition_of(f"old{i}".encode(), PARTITIONS) == 0]

    monkeypatch.setattr(store_module, "LOAD_CHUNK", 10)
    # An event for a customer of partition 0: partition 0 is loaded.
    new = next(f"new{i}" for i in range(100) if partition_of(f"new{i}".encode(), 4) == 0)
    batch = [input_message(pipeline, click(new, 1, at(1)), 0)]
    ticks = ticks_while(pipeline.process_batch(batch))
    assert ticks >= 400 // 10 - 1  # the load let other tasks run
    _, held = pipeline.sizes.totals()
    assert held == len(mine) + 1  # partition 0's customers and the new one, no other
    assert len(pipeline.sweep) == len(mine) + 1
    assert all(pipeline.cache.get(c.encode()) is not None for c in mine)


@pytest.mark.parametrize("learn", [True, False])
def test_a_worker_that_does_not_learn_sends_no_training_samples(
    tmp_path: Path, learn: bool
) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock, learn=learn, sweep=False)
    # Seen for more than a day (the default learn_after): the second click is a sample.
    events = [click("c1", 1, at(0)), click("c1", 2, at(30))]
    asyncio.run(
        pipeline.process_batch([input_message(pipeline, e, i) for i, e in enumerate(events)])
    )
    training = pipeline.training
    assert isinstance(training, FakeTopic)
    assert len(training.sent) == (1 if learn else 0)
    # The step took its sample either way: the profile is the same.
    assert stored(pipeline, "c1").learned_at == at(30).timestamp()


class TickingClock(Clock):
    """A clock that moves ``tick`` seconds each time it is read."""

    def __init__(self, t: float, tick: float) -> None:
        super().__init__(t)
        self.tick = tick

    def __call__(self) -> float:
        self.t += self.tick
        return self.t


def sweep_catch_up(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch, tick: float = 0.0
) -> Pipeline:
    """400 customers, silent for a day or more when an event of partition 0 arrives
    after a quiet spell: the sweep catches up every due look of partition 0 after it
    (for as long as the clock, moving ``tick`` s at every read, lets it)."""
    from segflow.streams import partitions as partitions_module

    monkeypatch.setattr(partitions_module, "SWEEP_CHUNK", chunk)
    clock = TickingClock(at(0).timestamp(), tick) if tick else Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    clicks = [click(f"old{i}", 1, at(i % 24)) for i in range(400)]
    clicks.sort(key=lambda event: event.occurred_at)
    asyncio.run(
        pipeline.process_batch([input_message(pipeline, e, i) for i, e in enumerate(clicks)])
    )
    new = next(f"new{i}" for i in range(100) if partition_of(f"new{i}".encode(), 4) == 0)
    batch = [input_message(pipeline, click(new, 1, at(47.5)), 0)]
    # Each change as sent, with how many looks were taken by then.
    sent: list[tuple[bytes | None, float]] = []
    changes, registry = pipeline.changes, pipeline.metrics.registry
    assert isinstance(changes, FakeTopic)

    async def send(*, key: bytes | None = None, value: bytes, **kwargs: Any) -> None:
        sent.append((key, registry.get_sample_value(SWEPT + "_total") or 0.0))
        await FakeTopic.send(changes, key=key, value=value, **kwargs)

    changes.send = send  # type: ignore[method-assign]
    pipeline.ticks = ticks_while(pipeline.process_batch(batch))  # type: ignore[attr-defined]
    pipeline.changes_sent = sent  # type: ignore[attr-defined]
    return pipeline


def test_a_large_sweep_catch_up_is_kept_chunk_by_chunk_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = sweep_catch_up(tmp_path / "whole", 10**6, monkeypatch)
    chunked = sweep_catch_up(tmp_path / "chunked", 7, monkeypatch)
    swept = chunked.metrics.registry.get_sample_value(SWEPT + "_total")
    assert swept is not None and swept > 7 * 5  # several chunks' worth
    assert swept == whole.metrics.registry.get_sample_value(SWEPT + "_total")
    # Chunk by chunk, the event loop let run between them (the load's pass aside).
    assert chunked.ticks - whole.ticks >= swept // 7 - 1  # type: ignore[attr-defined]
    for pipeline in (whole, chunked):
        commit(pipeline)
    assert dict(chunked.profiles.items()) == dict(whole.profiles.items())
    for topic in ("changes", "membership", "training"):
        sent = [(s.key, s.value) for s in getattr(chunked, topic).sent]
        assert sent == [(s.key, s.value) for s in getattr(whole, topic).sent], topic


def test_a_burst_of_looks_goes_after_the_batch_spread_over_the_next_ones_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test clock stands still in ``whole``: the looks after the batch never run out
    # of time. In ``paced`` it moves 1 ms a read: they get the batch's slice, then the
    # rest go in later calls (the next batches', or the idle turn's).
    whole = sweep_catch_up(tmp_path / "whole", 7, monkeypatch)
    paced = sweep_catch_up(tmp_path / "paced", 7, monkeypatch, tick=0.001)

    def swept(pipeline: Pipeline) -> float:
        return pipeline.metrics.registry.get_sample_value(SWEPT + "_total") or 0.0

    assert swept(whole) > 7 * 5 and not whole.looks_waiting()
    assert 0 < swept(paced) < swept(whole) and paced.looks_waiting()
    # The event's change went out before any look of the burst was taken.
    sent = paced.changes_sent  # type: ignore[attr-defined]
    assert [swept for key, swept in sent if key and key.startswith(b"new")] == [0.0]
    rounds = 0
    while paced.looks_waiting():
        asyncio.run(paced.take_looks_between_batches())
        rounds += 1
    assert rounds > 1 and swept(paced) == swept(whole)

    def published(pipeline: Pipeline, topic: str) -> dict[object, list[object]]:
        sent = getattr(pipeline, topic).sent
        found: dict[object, list[object]] = {}
        for s in sent:
            value = orjson.loads(s.value) if s.value is not None else None
            if isinstance(value, dict):
                value.pop("emitted_at", None)
            found.setdefault(s.key, []).append(value)
        return found

    for topic in ("changes", "membership", "training"):
        assert published(paced, topic) == published(whole, topic), topic
    for pipeline in (whole, paced):
        commit(pipeline)
    assert dict(paced.profiles.items()) == dict(whole.profiles.items())


def test_an_erasure_takes_its_customers_look_left_due_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = sweep_catch_up(tmp_path, 7, monkeypatch, tick=0.001)
    assert pipeline.looks_waiting()
    marks = pipeline.sweep._marks[0]
    due = sorted(c for c, when in pipeline.sweep._scheduled.items() if when <= marks[-1])
    customer = due[-1]  # a look left for later
    registry = pipeline.metrics.registry
    before = registry.get_sample_value(SWEPT + "_total")
    erase = EraseCommand(command_id="x1", customer_id=customer, occurred_at=at(47.6))
    asyncio.run(pipeline.process_batch([input_message(pipeline, erase, 1)]))
    sent = pipeline.changes_sent  # type: ignore[attr-defined]
    exits = [swept for key, swept in sent if key == customer.encode()][-1:]
    # Its look was taken just before its exit change, the other looks after the batch.
    assert before is not None and exits == [before + 1]
    assert pipeline.profile_of(customer.encode(), {}) is None


def test_the_first_batch_loads_every_partition_the_worker_holds_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections import namedtuple

    pipeline = pipeline_knowing_partitions(tmp_path, Clock(at(0).timestamp()))
    model = pipeline.holder.model
    for i in range(40):
        result = step(click(f"old{i}", 1, at(0)), None, model, pipeline.now())
        pipeline.profiles[f"old{i}".encode()] = result.profile.to_json()
    tp = namedtuple("tp", "topic partition")
    clicks = pipeline.settings.topics.inputs()["click"]
    held = {tp(clicks, 0), tp(clicks, 1), tp(pipeline.settings.topics.events, 3)}
    monkeypatch.setattr(pipeline.app.consumer, "assignment", lambda: held)
    passes = 0
    items = pipeline.store.items

    def counted(partitions: object = None) -> object:
        nonlocal passes
        passes += 1
        return items(partitions)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline.store, "items", counted)
    new = next(f"new{i}" for i in range(100) if partition_of(f"new{i}".encode(), 4) == 0)
    asyncio.run(pipeline.process_batch([input_message(pipeline, click(new, 1, at(1)), 0)]))
    assert passes == 1
    assert [pipeline.sizes.loaded(p) for p in range(4)] == [True, True, False, True]
    assert len(pipeline.sweep) == 1 + sum(
        partition_of(f"old{i}".encode(), 4) in (0, 1, 3) for i in range(40)
    )
    later = next(f"new{i}" for i in range(100) if partition_of(f"new{i}".encode(), 4) == 1)
    asyncio.run(pipeline.process_batch([input_message(pipeline, click(later, 1, at(2)), 1)]))
    assert passes == 1  # partition 1 was loaded already


def test_a_large_load_pass_moves_the_schedule_out_of_the_collectors_generations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full collection visits every item of the containers it tracks; a worker's
    # schedule of a million restored customers cost 120-200 ms per collection.
    monkeypatch.setattr(partitions, "FREEZE_AFTER_PROFILES", 5)
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    for i in range(50):
        profile = Profile.new(f"c{i}", as_of=at(0).timestamp())
        pipeline.profiles[f"c{i}".encode()] = profile.to_json()
    try:
        asyncio.run(pipeline.process_batch([input_message(pipeline, click("c1", 1, at(1)), 0)]))
        heaps = list(pipeline.sweep._heaps.values())
        assert sum(len(heap) for heap in heaps) > 1  # the event's partition's customers
        tracked = {id(o) for o in gc.get_objects()}
        assert heaps and not any(id(heap) in tracked for heap in heaps)
    finally:
        gc.unfreeze()


def test_a_small_load_pass_leaves_the_collector_alone(tmp_path: Path) -> None:
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    frozen = gc.get_freeze_count()
    asyncio.run(pipeline.process_batch([input_message(pipeline, click("c1", 1, at(1)), 0)]))
    assert pipeline.sweep.loaded(partition_of(b"c1", PARTITIONS))
    assert gc.get_freeze_count() == frozen


def test_an_event_the_engine_fails_on_is_dead_lettered_and_the_rest_of_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segflow.models import step as step_module

    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    apply_event = step_module.apply_event

    def fragile(profile: Profile, event: BaseEvent, *args: Any, **kwargs: Any) -> bool:
        if event.event_id == "c5-2":
            raise ValueError("cannot apply")
        return apply_event(profile, event, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(step_module, "apply_event", fragile)
    events = [click("c5", 1, at(0)), click("c6", 1, at(0.5)), click("c5", 2, at(1))]
    events.append(click("c5", 3, at(2)))
    messages = [input_message(pipeline, e, i) for i, e in enumerate(events)]
    asyncio.run(pipeline.process_batch(messages))
    dead = pipeline.dead_letters
    assert isinstance(dead, FakeTopic)
    (letter,) = dead.sent
    record = orjson.loads(letter.value)
    assert record["reason"] == "processing_error" and "cannot apply" in record["error"]
    assert (record["partition"], record["offset"]) == (partition_of(b"c5", PARTITIONS), 2)
    assert stored(pipeline, "c5").event_counts == {"click": 2}
    assert stored(pipeline, "c6").event_counts == {"click": 1}


def test_plain_events_go_through_the_batch_step_in_runs_split_at_identity_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segflow.models import engine as engine_module

    runs: list[list[str]] = []
    prepare = engine_module.prepare

    def counting(events: Any, *args: Any) -> Any:
        runs.append([e.event_id for e in events])
        return prepare(events, *args)

    monkeypatch.setattr(engine_module, "prepare", counting)
    clock = Clock(at(0).timestamp())
    pipeline = pipeline_knowing_partitions(tmp_path, clock)
    erase = EraseCommand(command_id="x1", customer_id="c6", occurred_at=at(1))
    events: list[Any] = [click("c5", 1, at(0)), click("c6", 1, at(0.5)), erase]
    events += [click("c5", 2, at(2)), click("c7", 1, at(3))]
    messages = [input_message(pipeline, e, i) for i, e in enumerate(events)]
    asyncio.run(pipeline.process_batch(messages))
    assert runs == [["c5-1", "c6-1"], ["c5-2", "c7-1"]]
    assert stored(pipeline, "c5").event_counts == {"click": 2}
    assert b"c6" not in pipeline.profiles
