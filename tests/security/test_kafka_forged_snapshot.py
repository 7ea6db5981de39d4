"""Forged snapshots published to the model topic of a live worker (real local broker).

The worker runs with a model key, learns, and its trainer publishes signed snapshots.
Then someone who can write to the topic publishes, each with a far higher ``seq``: an
unsigned snapshot with mixed id types, a valid model signed with another key, and one
signed with the right key whose ids are hostile strings. The worker refuses all three
(counted by reason), keeps serving (``/segments`` 200, valid events applied, nothing
dead-lettered), and its trainer goes on with its own lineage, not from the forged seq.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafkatest import (
    WorkerProc,
    get,
    isolated_settings,
    prepare,
    producer,
    send_events,
    traffic,
    wait_until,
)

from segflow.models.config import EngineConfig
from segflow.models.model import SegmentModel
from segflow.streams.broker import LocalBroker
from segflow.streams.model_holder import SnapshotMeta, config_key, encode_snapshot
from segflow.streams.settings import Settings
from segflow.streams.snapshots import SNAPSHOT_KEY
from segflow.streams.views import SegmentsView

KEY = "trainer-lineage-key-0123456789ab"
FORGED_SEQ = 1_000_000
#: How long the worker gets to refuse what was published (a live worker takes well under
#: a second): short, so the test fails quickly when a forged snapshot is taken instead.
REFUSE_WITHIN_S = 20.0
START = datetime(2026, 3, 2, tzinfo=UTC)


def forged_snapshots(engine: EngineConfig) -> Iterator[bytes]:
    """Three forgeries of a genuine-looking model, each with a far higher seq: unsigned
    with mixed id types, signed with another key, signed with the key but hostile ids."""
    model = SegmentModel.create(engine)
    for i in range(60):
        model.learn_one({"pages_decision": float(i % 5), "open_rate": (i % 3) / 3}, t=i * 60.0)
    genuine = model.to_snapshot()

    def with_ids(ids: list[Any]) -> bytes:
        state = orjson.loads(genuine)
        state["clusterer"]["ids"] = ids
        return orjson.dumps(state)

    ids = orjson.loads(genuine)["clusterer"]["ids"]
    hostile = [f"{i}' onmouseover='alert({i})'" for i in ids]

    def meta(offset: int) -> SnapshotMeta:
        return SnapshotMeta(FORGED_SEQ + offset, model.version, 0.0, "x:1", config_key(engine))

    yield encode_snapshot(meta(0), with_ids([str(ids[0]), *ids[1:]]))
    yield encode_snapshot(meta(1), genuine, b"someone-elses-key-0123456789abcd")  # type: ignore[call-arg,unused-ignore]
    yield encode_snapshot(meta(2), with_ids(hostile), KEY.encode())  # type: ignore[call-arg,unused-ignore]


@pytest.mark.kafka
def test_a_live_worker_refuses_forged_snapshots_and_keeps_serving(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    engine = EngineConfig(
        max_lateness_hours=24 * 365.0, warmup_samples=40, warmup_days=0, learn_after_hours=0
    )
    settings = isolated_settings(broker, tmp_path, engine=engine, model_key=KEY)
    prepare(settings)
    worker = workers(settings)

    def stats() -> dict[str, Any]:
        return worker.stats() or {}

    def counts() -> dict[str, int]:
        return dict(stats().get("counts", {}))

    def seq() -> int:
        return int(stats().get("model", {}).get("seq", 0))

    # Learn: the trainer publishes signed snapshots, which the worker takes.
    first = traffic("a", 60, 3)
    send_events(settings, first)
    assert wait_until(lambda: counts().get("events_applied", 0) == len(first)), counts()
    assert wait_until(lambda: stats().get("model", {}).get("ready", False)), stats()
    genuine_seq = seq()
    assert 1 <= genuine_seq < FORGED_SEQ

    publisher = producer(settings)

    def publish_and_wait_refused(value: bytes, refused: int) -> None:
        publisher.send(settings.topics.snapshots, key=SNAPSHOT_KEY, value=value).get(timeout=30)
        assert wait_until(
            lambda: counts().get("snapshots_rejected", 0) >= refused, REFUSE_WITHIN_S
        ), (counts(), stats().get("model"))

    for refused, value in enumerate(forged_snapshots(engine), start=1):
        publish_and_wait_refused(value, refused)
    publisher.close()
    rejected = counts()
    assert rejected.get("snapshots_rejected_signature") == 2, rejected
    assert rejected.get("snapshots_rejected_schema") == 1, rejected
    assert genuine_seq <= seq() < FORGED_SEQ

    # Still serving: segments, valid events applied, nothing dead-lettered.
    status, body = get(worker.port, "/segments")
    assert status == 200, body
    segments = SegmentsView.model_validate_json(body)
    assert segments.segments and segments.model_seq < FORGED_SEQ
    assert all(s.id.removeprefix("seg-").isdigit() for s in segments.segments)
    more = traffic("a", 60, 1, first=3) + traffic("b", 60, 3)
    send_events(settings, more)
    total = len(first) + len(more)
    assert wait_until(lambda: counts().get("events_applied", 0) == total), counts()
    assert counts().get("dead_letters", 0) == 0, counts()
    for path in ("/metrics", "/dashboard/data"):
        assert get(worker.port, path)[0] == 200, path
    metrics = get(worker.port, "/metrics")[1].decode()
    assert 'segflow_model_snapshots_rejected_total{reason="signature"} 2.0' in metrics

    # The trainer carries on with its own lineage (new customers feed it), signed and
    # taken, far below the forged seq.
    assert wait_until(lambda: seq() > genuine_seq, REFUSE_WITHIN_S), stats().get("model")
    assert seq() < FORGED_SEQ
