"""The Faust app: built by :func:`create_app` from one :class:`Settings`, never at import.

The data flow (topics, agents, the table) is drawn once, in the README's section
"Streaming on Kafka".

Input topics keyed by customer id (as segflow's producers do), with as many partitions
as segflow's topics, need no repartition hop: partition p of every input topic, of the
repartition topic and of the table's changelog belong to the same worker (Faust assigns
co-partitioned topics together), so an event found in its customer's partition is
applied where it is read. Anything else takes one hop through ``segflow-events``.

Agents stay thin: decode, call the pure step, store, send. Every exception is
caught inside the agent (Faust acks a message whose agent raised, which would
lose it): bad input goes to the dead-letter topic with its origin and is counted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from segflow.models.drift import DriftMonitor
from segflow.models.engine import Engine
from segflow.models.lifecycle import RetiredSegments
from segflow.models.watermark import Watermarks

from .api import WebState, register_api
from .errors import CommandError
from .faust_config import faust_options, rocksdb_options
from .faust_patches import (
    SegflowApp,
    batch_window_from_first_event,
    current_event,
    drain_before_commit,
    turns_every,
    write_before_flush,
)
from .health import BrokerProbe
from .identities import Identities
from .ingest import Work
from .local_state import ProfileCache, SegmentSizes
from .metrics import Metrics, faust_sensor
from .model_holder import ModelHolder
from .ops_pages import register_ops_pages
from .partitions import LOOK_SLICE_S
from .profile_store import ProfileStore
from .settings import Settings
from .snapshots import SNAPSHOT_KEY, follow_snapshots
from .throttle import TokenBucket, partition_share
from .topics import partition_counts, topic_specs
from .trainer import Trainer
from .web_guard import WebGuard

log = logging.getLogger("segflow.streams")

#: How many recent changes and drift alerts a worker keeps for its pages.
RECENT_CHANGES = 200
RECENT_DRIFTS = 100
#: How long agents wait, at start, for the snapshot topic to be read.
MODEL_READY_TIMEOUT_S = 30.0
#: Faust's producer buffer (default 100), which holds the table's changelog writes.
PRODUCER_BUFFER_MESSAGES = 2000
#: How often a worker takes looks of the sweep left due after its last batch (seconds).
LOOK_IDLE_S = 0.05

Clock = Callable[[], float]


class TopicsGone(CommandError):
    """The broker answers but no longer has the worker's topics."""


def profile_table(app: Any, settings: Settings, name: str = "profiles", help: str = "") -> Any:
    """A raw table of the worker (``profiles``: ``Profile.to_json`` by profile key),
    co-partitioned with the input, backed by a changelog."""
    return app.Table(
        name,
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        schema=faust.Schema(key_serializer="raw", value_serializer="raw"),
        help=help or "Customer profiles (Profile.to_json) by customer_id.",
        options=rocksdb_options(settings) if settings.store == "rocksdb://" else None,
    )


class Pipeline(Identities):
    """What the agents call: one instance per app, holding the worker's state."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        clock: Clock,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        self.started = clock()
        self.metrics = Metrics(
            registry if registry is not None else CollectorRegistry(auto_describe=True)
        )
        self.holder = ModelHolder(settings.engine, settings.model_key_bytes)
        self.bucket = TokenBucket(settings.training_rate)
        #: The per-event loop (sweep, step, reschedule) the runner shares; this class adds
        #: the Kafka I/O around it.
        self.engine = Engine(settings.engine, sweep=settings.sweep)
        self.sweep = self.engine.schedule
        self.watermarks = Watermarks(settings.event_time.idle_s)
        #: Held by a batch, and by looks taken between batches (their profiles must not
        #: be read while a batch holds newer ones not kept yet).
        self.batch_lock = asyncio.Lock()
        self.retired = RetiredSegments()
        #: Per partition: customers in segments a new model retired, to re-assess.
        self.retiring: dict[int, set[bytes]] = {}
        self.cache = ProfileCache(settings.profile_cache)
        self.sizes = SegmentSizes()
        self.drift = DriftMonitor(settings.drift)
        self.recent_changes: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=RECENT_CHANGES
        )
        self.recent_drifts: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=RECENT_DRIFTS
        )
        self.web_state = WebState()
        self._declare_topics(app, settings)
        self.trainer = Trainer(
            self.holder,
            self.metrics,
            clock,
            f"{socket.gethostname()}:{os.getpid()}",
            lambda snapshot: self.send_or_stop(
                self.snapshots.send(key=SNAPSHOT_KEY, value=snapshot)
            ),
        )
        self.probe = BrokerProbe(
            settings.health,
            [spec.name for spec in topic_specs(settings)],
            lambda names: self.count_partitions(names),
            clock,
        )
        self._wire_metrics(app)
        self.profiles = profile_table(app, settings)
        self.store = ProfileStore(
            self.profiles, self.cache, self.metrics, settings.partitions, settings.write_behind
        )
        self.identities = profile_table(
            app, settings, "identities", "Links of anonymous ids to customers (a:<id>)."
        )

    def _declare_topics(self, app: Any, settings: Settings) -> None:
        names = settings.topics
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        #: Input topic -> event type.
        self.kinds = {topic: kind for kind, topic in names.inputs().items()}
        #: Partition count of each input topic, once known, and where it is asked.
        self.partition_counts: dict[str, int] = {}
        self.count_partitions = lambda names: partition_counts(settings, names)
        self.events = app.topic(names.events, partitions=settings.partitions, internal=True, **raw)
        #: What the profile agent reads: every input topic and the repartition topic.
        self.sources = app.topic(*self.kinds, names.events, **raw)
        self.changes = app.topic(names.changes, **raw)
        self.membership = app.topic(names.membership, **raw)
        self.dead_letters = app.topic(names.dead_letters, **raw)
        self.training = app.topic(names.training, partitions=1, internal=True, **raw)
        self.snapshots = app.topic(names.snapshots, **raw)
        self.drift_topic = app.topic(names.drift, **raw)

    def _wire_metrics(self, app: Any) -> None:
        callbacks = self.metrics.callbacks
        callbacks.sizes = self.sizes.totals
        callbacks.names = self.segment_names
        callbacks.shares = self.model_shares
        callbacks.ready = self.healthy
        callbacks.unwritten = lambda: self.store.waiting()  # (the store is made later)
        callbacks.faust_monitor = lambda: getattr(app, "monitor", None)

    # -- state for metrics and pages ------------------------------------------------------

    def segment_names(self) -> dict[str, str]:
        """Readable names of behavioral and rule segments, by id."""
        model = self.holder.model
        names = dict(model.rules.names) if model.rules is not None else {}
        names.update(model.segment_names())
        return names

    def model_shares(self) -> dict[str, tuple[str, float]]:
        return {s.id: (s.name, s.share) for s in self.holder.model.segments()}

    def healthy(self) -> bool:
        """Ready: no :meth:`problems`."""
        return not self.problems()

    def problems(self) -> list[str]:
        """What keeps the worker from being ready: not joined, rebalancing, recovering,
        no model read yet, or the broker (silent, or without the worker's topics)."""
        app = self.app
        problems = [] if self.holder.ready.is_set() else ["the model topic is not read yet"]
        try:
            generation = app.consumer_generation_id
            if generation is None or generation < 0:
                problems.append("not a member of the consumer group yet")
            if app.rebalancing:
                problems.append("rebalancing")
            if app.in_recovery or not app.tables.recovery.completed.is_set():
                problems.append("recovering the profile table")
        except Exception as error:
            problems.append(f"consumer state unknown: {error!r}")
        return problems + self.probe.problems()

    async def probe_broker(self) -> None:
        """Ask the broker for the worker's topics (in a thread); stop the worker, with one
        line and exit code 1, when they have been gone too long."""
        self.probe.record(await asyncio.to_thread(self.probe.ask))
        if self.probe.topics_gone():
            gone = ", ".join(self.probe.missing)
            log.critical(
                "stopping: the broker has not had the topics %s for %.0f s (its storage was "
                "lost?); recreate them (segflow topics create) and restart the worker",
                gone,
                self.settings.health.topics_gone_s,
            )
            await self.app.crash(TopicsGone(f"topics gone from the broker: {gone}"))

    # -- the profile agent: one batch of input and repartitioned messages ---------------

    async def process_batch(self, batch: Sequence[Any]) -> None:
        """Handle one batch the profile agent took (Faust events: ``.message``, ``.headers``).

        Each message is decoded once. An input message whose customer belongs to the
        partition it arrived on is processed here and now (its partition is also the
        profile table's); any other is forwarded, keyed by customer, to the repartition
        topic, where it arrives in the right partition. The batch is then processed
        partition by partition, in arrival order, and each customer's profile is
        written to the table once before the next offset commit (write-behind).
        The sweep's looks the batch's watermarks made due come after its events, for
        at most as long as they took (:data:`.partitions.LOOK_SLICE_S` at least).
        """
        async with self.batch_lock:
            started = self.clock()
            work: dict[int, list[Work]] = {}
            for item in batch:
                admitted = await self.admit(item)
                if admitted is not None:
                    work.setdefault(admitted.partition, []).append(admitted)
            await self.load_partitions(work)
            for partition, items in work.items():
                # Table writes go to the partition of Faust's "current event".
                with current_event(items[-1].item):
                    await self.process_partition(partition, items)
            if self.looks_waiting():
                await self.take_due_looks(max(LOOK_SLICE_S, self.clock() - started))

    async def take_looks_between_batches(self) -> None:
        """Take looks left due after the last batch, when no batch is under way."""
        if self.looks_waiting() and not self.batch_lock.locked():
            async with self.batch_lock:
                await self.take_due_looks(LOOK_SLICE_S)


def create_app(
    settings: Settings,
    *,
    clock: Clock = time.time,
    registry: CollectorRegistry | None = None,
) -> faust.App:
    """A Faust app with segflow's agents, table, snapshot follower and web pages.

    ``clock`` gives processing time (``emitted_at`` of changes, dead letters'
    ``received_at``, snapshot publication time). ``registry`` receives the
    worker's Prometheus metrics (default: a registry of its own).
    """
    guard = WebGuard(settings)
    app = SegflowApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        fetch_idle_wait_ms=settings.fetch_idle_wait_ms,
        **faust_options(settings, middlewares=[guard.middleware]),
    )
    # The group's workers call each other by the hosts of their URLs.
    guard.peers = lambda: app.router.tables_metadata()
    pipeline = Pipeline(app, settings, clock, registry)
    app.sensors.add(faust_sensor(pipeline.metrics))
    app.segflow = pipeline  # type: ignore[attr-defined]  # for tests and introspection

    _add_agents_and_tasks(app, pipeline, settings)
    register_ops_pages(app, pipeline)
    register_api(app, pipeline)
    return app


def _add_agents_and_tasks(app: Any, pipeline: Pipeline, settings: Settings) -> None:
    """The profile and trainer agents, the snapshot follower, the broker probe, and what
    a rebalance resets: each only calls the pipeline."""

    async def on_partitions_assigned(
        sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        assigned = args[0]  # Faust sends the worker's whole new assignment
        owned = sum(1 for tp in assigned if tp.topic == settings.topics.clicks)
        rate = partition_share(settings.training_rate, owned, settings.partitions)
        pipeline.bucket.set_rate(rate)
        pipeline.store.forget_unwritten()
        pipeline.sweep.reset()  # partitions may have moved: rebuild from the table
        pipeline.sizes.reset()
        pipeline.cache.clear()
        pipeline.watermarks.reset()
        pipeline.retiring.clear()

    app.on_partitions_assigned.connect(on_partitions_assigned)

    async def profile_agent(stream: Any) -> None:
        # One changelog message per table write: Faust's default 100-message producer
        # buffer fills at once under a backlog and warns on every event.
        app.producer.buffer.max_messages = PRODUCER_BUFFER_MESSAGES
        drain_before_commit(app.producer.buffer)
        write_before_flush(app.producer, pipeline.store.write_unwritten)
        await pipeline.holder.wait_ready(MODEL_READY_TIMEOUT_S)
        await pipeline.fetch_partition_counts()
        batch_window_from_first_event(stream)
        turns_every()
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_wait_s):
            await pipeline.process_batch(batch)

    async def trainer_agent(stream: Any) -> None:
        await pipeline.holder.wait_ready(MODEL_READY_TIMEOUT_S)
        async for values in stream.take(settings.publish_every, within=settings.publish_interval_s):
            await pipeline.trainer.train(values)

    async def idle_looks() -> None:
        await pipeline.take_looks_between_batches()

    async def broker_probe() -> None:
        await pipeline.probe_broker()

    async def snapshot_follower() -> None:
        await follow_snapshots(settings, pipeline.holder, pipeline.metrics)

    app.agent(pipeline.sources, name=f"{settings.app_id}.profiles")(profile_agent)
    app.agent(pipeline.training, name=f"{settings.app_id}.trainer")(trainer_agent)
    app.task(snapshot_follower)
    app.task(broker_probe)  # once at start: readiness need not wait an interval
    app.timer(settings.health.probe_s)(broker_probe)
    app.timer(LOOK_IDLE_S)(idle_looks)
