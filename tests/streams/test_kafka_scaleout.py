"""Two workers in one group split the partitions and name segments the same way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from kafkatest import (
    ProfileReader,
    TopicReader,
    WorkerProc,
    isolated_settings,
    missing_and_extra,
    prepare,
    send_events,
    wait_until,
)

from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.broker import LocalBroker
from segflow.streams.partitioning import partition_of
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka


def test_two_workers_split_partitions_and_share_one_model(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    engine = EngineConfig(max_lateness_hours=24 * 365.0, warmup_samples=100)
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    events_topic = settings.topics.events
    a, b = workers(settings), workers(settings)

    def split() -> bool:
        mine, theirs = a.assignment(events_topic), b.assignment(events_topic)
        return bool(mine) and bool(theirs) and not mine & theirs and len(mine | theirs) == 4

    assert wait_until(split), (a.stats(), b.stats())
    served_by = {p: "a" for p in a.assignment(events_topic)}
    served_by.update({p: "b" for p in b.assignment(events_topic)})

    sim = simulate(
        SimulationConfig(customers=150, days=28.0, warmup_days=7.0, settle_days=7.0, seed=5)
    )
    half = sim.config.start + timedelta(days=sim.config.days / 2)
    profiles = ProfileReader(settings)
    sent = send_events(settings, [e for e in sim.events if e.occurred_at < half])
    assert profiles.wait_for_counts(sent), missing_and_extra(sent, profiles.counts())

    # Under load the trainer may publish its first model only after the first half is
    # applied: the second half is then the one both workers assess with a model.
    def model_ready() -> bool:
        return all(((w.stats() or {}).get("model") or {}).get("ready") for w in (a, b))

    assert wait_until(model_ready), (a.stats(), b.stats())
    later = send_events(settings, [e for e in sim.events if e.occurred_at >= half], rate=800.0)
    for cid, kinds in later.items():
        sent.setdefault(cid, Counter()).update(kinds)
    assert profiles.wait_for_counts(sent), missing_and_extra(sent, profiles.counts())
    profiles.close()
    assert split(), "the assignment moved during the test"

    # Both workers did part of the work.
    applied = {
        w: (s.stats() or {})["counts"].get("events_applied", 0) for w, s in (("a", a), ("b", b))
    }
    assert applied["a"] > 0 and applied["b"] > 0
    assert applied["a"] + applied["b"] == len(sim.events)
    # Input keyed by customer is applied where it is read, by the group leader and by
    # the follower alike: nothing crosses the broker twice.
    forwarded = {w: (s.stats() or {})["counts"]["forwarded"] for w, s in (("a", a), ("b", b))}
    assert forwarded == {"a": 0, "b": 0}

    # Both assign with the same, latest published model: same segments, same names.
    def same_model() -> bool:
        sa, sb = (a.stats() or {}).get("model", {}), (b.stats() or {}).get("model", {})
        return bool(sa.get("seq")) and sa.get("seq") == sb.get("seq")

    assert wait_until(same_model)
    model_a, model_b = (a.stats() or {})["model"], (b.stats() or {})["model"]
    assert model_a["ready"] and model_a["segments"]
    assert model_a["segments"] == model_b["segments"]

    # In the change stream, a segment's name under a given model version is the same
    # whichever worker served the customer.
    reader = TopicReader(settings, settings.topics.changes)
    changes = [SegmentChange.model_validate_json(r.value) for r in reader.drain()]
    reader.close()
    names: dict[tuple[str, int], set[str | None]] = {}
    workers_of: dict[tuple[str, int], set[str]] = {}
    for change in changes:
        if change.kind != "behavioral" or change.to_segment is None:
            continue
        assert change.model_version is not None
        key = (change.to_segment, change.model_version)
        names.setdefault(key, set()).add(change.to_name)
        partition = partition_of(change.customer_id.encode(), settings.partitions)
        workers_of.setdefault(key, set()).add(served_by[partition])
    assert all(len(n) == 1 for n in names.values()), names
    shared = [key for key, who in workers_of.items() if who == {"a", "b"}]
    assert shared, f"no (segment, model version) served by both workers: {workers_of}"
