"""An in-memory Pipeline: a real (never started) Faust app whose topics and table are fakes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from segflow.models.config import EngineConfig
from segflow.models.events import ClickEvent, EmailEvent
from segflow.models.model import SegmentModel
from segflow.streams.app import Pipeline, create_app
from segflow.streams.model_holder import SnapshotMeta, encode_snapshot
from segflow.streams.setting_groups import EventTimeBounds
from segflow.streams.settings import Settings

ENGINE = EngineConfig(warmup_samples=10, warmup_days=0, max_lateness_hours=24 * 365.0)
START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class Sent:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


@dataclass
class FakeTopic:
    name: str
    sent: list[Sent] = field(default_factory=list)

    async def send(
        self, *, key: bytes | None = None, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        self.sent.append(Sent(key, value, dict(headers or {})))


@dataclass
class FakeMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    #: The record's Kafka timestamp (s), as Faust gives it.
    timestamp: float | None = None


@dataclass
class FakeEvent:
    """What Faust's ``take_events`` hands the profile agent: a message and its headers."""

    message: FakeMessage
    headers: dict[str, bytes] = field(default_factory=dict)


class RecordingTable(dict[bytes, bytes]):
    """A dict table that counts writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def commit(pipeline: Pipeline) -> int:
    """What Faust does before committing offsets: the profiles changed since the last
    commit are written to the table (its producer flush calls this first)."""
    return asyncio.run(pipeline.store.write_unwritten())


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def learned_model(n: int = 60, config: EngineConfig = ENGINE) -> SegmentModel:
    model = SegmentModel.create(config)
    for i in range(n):
        model.learn_one(
            {"clicks": float(i % 5), "email_opens": float(i % 3), "purchases": float(i % 2)},
            t=START.timestamp() + i,
        )
    return model


def snapshot(seq: int, model: SegmentModel) -> bytes:
    return encode_snapshot(SnapshotMeta(seq, model.version, 0.0, "test:1"), model.to_snapshot())


def memory_pipeline(
    tmp_path: Path, clock: Clock, registry: CollectorRegistry, **overrides: Any
) -> Pipeline:
    """A Pipeline with a ready model, dict table and recording topics (no broker)."""
    values: dict[str, Any] = {
        "store": "memory://",
        "web_port": 0,
        "data_dir": tmp_path / "data",
        "partitions": 4,
        "engine": ENGINE,
        # The test clock stands still at START while events run ahead of it by days.
        "event_time": EventTimeBounds(max_future_s=365 * 86_400.0),
    }
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings, clock=clock, registry=registry)
    pipeline: Pipeline = app.segflow  # type: ignore[attr-defined]
    topics = ("events", "changes", "membership", "dead_letters", "training", "snapshots")
    for attr in (*topics, "drift_topic"):
        setattr(pipeline, attr, FakeTopic(attr))
    pipeline.profiles = pipeline.store.table = RecordingTable()
    pipeline.identities = {}
    pipeline.count_partitions = lambda names: {}  # no cluster to ask: counts stay unknown
    assert pipeline.holder.offer(snapshot(1, learned_model()))
    return pipeline


def click(customer: str, n: int, at: datetime) -> ClickEvent:
    return ClickEvent(
        event_id=f"{customer}-{n}", customer_id=customer, occurred_at=at, url="https://x/p"
    )


def email(customer: str, n: int, at: datetime) -> EmailEvent:
    return EmailEvent(
        event_id=f"{customer}-{n}",
        customer_id=customer,
        occurred_at=at,
        campaign_id="k1",
        action="open",
    )


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)
