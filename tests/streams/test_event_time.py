"""Event time in the worker (issue 13): the sweep's watermark is the slowest source's,
not the fastest's, and a source without traffic stops holding it back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import ENGINE, Clock, at, click, commit, email, memory_pipeline, snapshot
from prometheus_client import CollectorRegistry
from test_batches import PARTITIONS, input_message, ticks_while

from segflow.models.model import SegmentModel
from segflow.models.profile import Profile
from segflow.streams import partitions as partitions_module
from segflow.streams.app import Pipeline
from segflow.streams.partitioning import partition_of


def same_partition_customers(n: int) -> list[str]:
    wanted = partition_of(b"a0", PARTITIONS)
    found = [f"a{i}" for i in range(200) if partition_of(f"a{i}".encode(), PARTITIONS) == wanted]
    return found[:n]


def test_a_fast_topic_does_not_make_the_sweep_judge_a_slow_topics_customers(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, registry)
    for topic in pipeline.kinds:
        pipeline.partition_counts[topic] = PARTITIONS
    reader, browser = same_partition_customers(2)
    # A backlog: the emails topic has only delivered the reader's first open so far,
    # the clicks topic ten days of the browser's visits.
    batch = [input_message(pipeline, email(reader, 0, at(0)), 0)]
    batch += [input_message(pipeline, click(browser, n, at(24 * n)), n) for n in range(1, 11)]
    asyncio.run(pipeline.process_batch(batch))

    def swept() -> float:
        return registry.get_sample_value("segflow_swept_customers_total") or 0.0

    # The reader was active at hour 0 and is due for a look a day later; the emails topic
    # still holds its later events, so nobody is judged silent beyond hour 0.
    assert swept() == 0.0
    assert not [c for c in pipeline.recent_changes if c["cause_event_id"] is None]
    # Once the emails topic delivered nothing for longer than idle_s, the clicks alone
    # drive the sweep: the reader is looked at.
    clock.t += pipeline.settings.event_time.idle_s + 1.0
    later = [input_message(pipeline, click(browser, 11, at(24 * 11)), 11)]
    asyncio.run(pipeline.process_batch(later))
    assert swept() >= 1.0


def test_members_of_a_segment_a_new_model_retired_move_at_the_next_batch(
    tmp_path: Path,
) -> None:
    retire_the_biggest_segment(tmp_path)


def test_many_members_of_a_retired_segment_move_chunk_by_chunk_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = retire_the_biggest_segment(tmp_path / "whole")
    monkeypatch.setattr(partitions_module, "SWEEP_CHUNK", 2)
    chunked = retire_the_biggest_segment(tmp_path / "chunked")
    assert [(s.key, s.value) for s in chunked.changes.sent] == [
        (s.key, s.value) for s in whole.changes.sent
    ]
    assert chunked.ticks > whole.ticks + 3  # the event loop ran between chunks


def retire_the_biggest_segment(tmp_path: Path) -> Any:
    """40 customers assigned; a new model retires the biggest segment; the next batch
    moves its members (asserted); the pipeline, with the event loop's turns during
    that batch as ``ticks``."""
    clock = Clock(at(0).timestamp())
    pipeline = memory_pipeline(tmp_path, clock, CollectorRegistry())
    for topic in pipeline.kinds:
        pipeline.partition_counts[topic] = PARTITIONS
    customers = [f"r{i}" for i in range(40)]
    batch = [input_message(pipeline, click(c, 0, at(1)), i) for i, c in enumerate(customers)]
    asyncio.run(pipeline.process_batch(batch))
    assigned = {c: stored_segment(pipeline, c) for c in customers}
    biggest = max(set(assigned.values()), key=list(assigned.values()).count)
    assert biggest is not None
    # The trainer publishes a model whose refit could not match that segment.
    model = SegmentModel.from_snapshot(pipeline.holder.model.to_snapshot(), ENGINE)
    c = model.clusterer
    c.ids[[f"seg-{cid}" for cid in c.ids].index(biggest)] = c.next_id
    c.next_id += 1
    assert pipeline.holder.offer(snapshot(2, model))
    # The next batch of each partition moves its members (one event each is enough).
    later = [input_message(pipeline, click(c, 1, at(2)), 100 + i) for i, c in enumerate(customers)]
    pipeline.ticks = ticks_while(pipeline.process_batch(later))  # type: ignore[attr-defined]
    retired = [ch for ch in pipeline.recent_changes if ch["reason"] == "retired"]
    members = {cust for cust, seg in assigned.items() if seg == biggest}
    assert {ch["customer_id"] for ch in retired} == members
    assert all(ch["from_segment"] == biggest and ch["cause_event_id"] is None for ch in retired)
    assert all(stored_segment(pipeline, cust) != biggest for cust in customers)
    return pipeline


def stored_segment(pipeline: Pipeline, customer: str) -> str | None:
    commit(pipeline)
    return Profile.from_json(pipeline.profiles[customer.encode()]).segment
