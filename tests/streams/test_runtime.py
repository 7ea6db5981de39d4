"""Worker state without Kafka: snapshot envelopes, the model holder, rate limit, counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from segflow.models.config import EngineConfig
from segflow.models.model import SegmentModel
from segflow.streams.metrics import Metrics, json_counts
from segflow.streams.model_holder import (
    ModelHolder,
    SnapshotMeta,
    config_key,
    decode_snapshot,
    encode_snapshot,
)
from segflow.streams.throttle import TokenBucket

CONFIG = EngineConfig(warmup_samples=10, warmup_days=0)


def learned_model(n: int) -> SegmentModel:
    model = SegmentModel.create(CONFIG)
    for i in range(n):
        model.learn_one(
            {"clicks": float(i % 5), "email_opens": float(i % 3), "purchases": float(i % 2)},
            t=float(i),
        )
    return model


def published(seq: int, model: SegmentModel) -> bytes:
    return encode_snapshot(SnapshotMeta(seq, model.version, 0.0, "test:1"), model.to_snapshot())


def test_snapshot_envelope_round_trips() -> None:
    model = learned_model(30)
    meta, raw = decode_snapshot(published(4, model))
    assert meta.seq == 4 and meta.model_version == model.version == 30
    assert SegmentModel.from_snapshot(raw, CONFIG).segment_names() == model.segment_names()


def test_holder_keeps_only_newer_snapshots() -> None:
    holder = ModelHolder(CONFIG)
    assert holder.seq == 0 and not holder.model.is_ready
    assert holder.offer(published(2, learned_model(30)))
    assert holder.seq == 2 and holder.model.version == 30
    assert not holder.offer(published(1, learned_model(40)))
    assert not holder.offer(published(2, learned_model(40)))
    assert holder.model.version == 30
    assert holder.offer(published(3, learned_model(40)))
    assert holder.model.version == 40


def test_holder_ignores_garbage_and_counts_it() -> None:
    holder = ModelHolder(CONFIG)
    assert not holder.offer(b"not a snapshot")
    assert not holder.offer(encode_snapshot(SnapshotMeta(9, 1, 0.0, "x"), b"{broken"))
    assert holder.rejected == 2 and holder.seq == 0


def test_holder_rejects_a_snapshot_learned_under_other_settings() -> None:
    holder = ModelHolder(CONFIG)
    other = EngineConfig(warmup_samples=10, warmup_days=0, n_segments=9)
    model = learned_model(30)
    foreign = encode_snapshot(
        SnapshotMeta(5, 30, 0.0, "elsewhere:1", config_key(other)), model.to_snapshot()
    )
    assert not holder.offer(foreign)
    assert holder.rejected == 1 and holder.seq == 0
    own = SnapshotMeta(5, 30, 0.0, "here:1", config_key(CONFIG))
    assert holder.offer(encode_snapshot(own, model.to_snapshot()))


def test_holder_reads_the_rules_file_once(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "segments:\n  - id: buyer\n    name: Buyer\n"
        "    when: {field: features.purchases, op: gt, value: 0.5}\n"
    )
    config = EngineConfig(warmup_samples=10, warmup_days=0, rules_file=str(rules))
    holder = ModelHolder(config)
    rules.unlink()  # a snapshot decoded later must not go back to the file
    model = learned_model(30)
    assert holder.offer(published(1, model))
    assert holder.model.rules is holder.rules is not None
    assert [r.id for r in holder.rules.segments] == ["buyer"]
    assert holder.fresh_copy().rules is holder.rules


def test_trainer_copy_is_independent_of_the_held_model() -> None:
    holder = ModelHolder(CONFIG)
    holder.offer(published(1, learned_model(30)))
    copy = holder.fresh_copy()
    copy.learn_one({"clicks": 1.0}, t=0.0)
    assert copy.version == 31 and holder.model.version == 30


def test_wait_ready_times_out_then_succeeds() -> None:
    async def scenario() -> tuple[bool, bool]:
        holder = ModelHolder(CONFIG)
        first = await holder.wait_ready(0.01)
        holder.ready.set()
        return first, await holder.wait_ready(0.01)

    assert asyncio.run(scenario()) == (False, True)


def test_token_bucket_limits_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=5.0, clock=lambda: now[0])
    assert sum(bucket.allow() for _ in range(20)) == 5
    now[0] = 1.0
    assert sum(bucket.allow() for _ in range(20)) == 5  # refilled up to the burst
    now[0] = 1.25
    assert sum(bucket.allow() for _ in range(20)) == 2
    unlimited = TokenBucket(rate=0.0)
    assert all(unlimited.allow() for _ in range(1000))


def test_json_counts_are_read_from_the_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.event("applied")
    metrics.event("applied")
    metrics.dead_letter("clicks", "not_json", "ingest")
    metrics.dead_letter("emails", "invalid", "ingest")
    metrics.sample(sent=False)
    metrics.error("sweep")
    counts = json_counts(registry)
    assert counts["events_applied"] == 2
    assert counts["dead_letters"] == 2
    assert counts["dead_letters_not_json"] == 1
    assert counts["samples_throttled"] == 1
    assert counts["errors_sweep"] == 1
    assert counts["forwarded"] == 0
    assert "events_late" not in counts  # a label value never seen is not a count
    text = generate_latest(registry).decode()
    assert 'segflow_dead_letters_total{reason="not_json",source_topic="clicks"} 1.0' in text
    assert 'segflow_training_samples_total{status="throttled"} 1.0' in text
    # One source of truth: a count bumped in the registry shows in the JSON.
    metrics.events.labels(outcome="late").inc(3)
    assert json_counts(registry)["events_late"] == 3


@pytest.mark.parametrize("data", [b"", b"SGF1", b"XXXX\x00\x00\x00\x02{}"])
def test_decode_snapshot_rejects_non_snapshots(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a segflow model snapshot"):
        decode_snapshot(data)


def test_a_visitor_profile_belongs_to_its_anonymous_ids_partition() -> None:
    """The sweep schedule and segment sizes after a rebalance put each profile in the
    partition its events travel in: a visitor's ``~anon:`` key hashes elsewhere."""
    from prometheus_client import CollectorRegistry

    from segflow.models.events import anonymous_key
    from segflow.models.profile import Profile
    from segflow.streams.local_state import ProfileCache
    from segflow.streams.metrics import Metrics
    from segflow.streams.partitioning import partition_of
    from segflow.streams.profile_store import ProfileStore

    n = 4
    cookie = next(
        f"ck-{i}"
        for i in range(100)
        if partition_of(f"ck-{i}".encode(), n) != partition_of(anonymous_key(f"ck-{i}").encode(), n)
    )
    keys = [anonymous_key(cookie), "c00001"]
    table = {key.encode(): Profile.new(key, as_of=0.0).to_json() for key in keys}
    store = ProfileStore(table, ProfileCache(0), Metrics(CollectorRegistry()), n)

    async def collect() -> dict[bytes, int]:
        return {key: p async for key, p, _ in store.items()}

    found = asyncio.run(collect())
    assert found == {
        anonymous_key(cookie).encode(): partition_of(cookie.encode(), n),
        b"c00001": partition_of(b"c00001", n),
    }


def test_a_worker_says_its_members_are_incomplete_until_it_read_every_partition() -> None:
    from types import SimpleNamespace

    from segflow.models.profile import Profile
    from segflow.streams.local_state import SegmentSizes
    from segflow.streams.members_api import local_members

    member = Profile.new("c1", as_of=0.0)
    member.segment = "seg-1"
    sizes = SegmentSizes()
    sizes.load(0, [member])
    events = "segflow-events"
    owned = {(events, 0), (events, 1)}
    consumer = SimpleNamespace(
        assignment=lambda: [SimpleNamespace(topic=t, partition=p) for t, p in owned]
    )
    pipeline = SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        settings=SimpleNamespace(topics=SimpleNamespace(events=events)),
        sizes=sizes,
    )
    first = local_members(pipeline, "seg-1", "", 10)  # type: ignore[arg-type]
    assert (first.members, first.count, first.loaded) == (["c1"], 1, False)
    sizes.load(1, [])
    assert local_members(pipeline, "seg-1", "", 10).loaded  # type: ignore[arg-type]
