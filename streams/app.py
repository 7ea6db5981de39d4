"""The Faust app: built by :func:`create_app` from one :class:`Settings`, never at import.

Data flow (topic names are the defaults)::

    clicks, downloads,      profile agent (batches)                      segment-changes
    emails, purchases  ---> decode once; customer in this partition? --yes--> step -->
          ^                        | no: forward keyed by customer     Table "profiles"
          |                        v                                   (changelog, one
    segflow-events  <------- (repartition topic, read by the same agent)  write per
                                   | invalid                          customer per batch)
                                   v                                        | samples
                             segflow-dead-letters                           v (rate-limited)
                                                           segflow-training (1 partition)
                                                                 | trainer agent (one worker)
                                                                 v
    every worker <---- snapshot follower <---- segflow-model (compacted, versioned snapshots)

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
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from segflow.models.drift import DriftEvent, DriftMonitor, centroid_shifts
from segflow.models.engine import Engine, Handled
from segflow.models.errors import InvalidEventError
from segflow.models.events import Event, check_event_time, decode_event
from segflow.models.lifecycle import RetiredSegments, members_of
from segflow.models.profile import Profile
from segflow.models.step import StepResult
from segflow.models.timeutil import DAY
from segflow.models.watermark import Watermarks

from .api import WebState, register_api
from .deadletters import INGEST, PROFILE, dead_letter, encode_dead_letter
from .faust_patches import SeekFirstTableManager, SegflowApp, current_event, drain_before_commit
from .metrics import faust_sensor
from .runtime import (
    ModelHolder,
    ProfileCache,
    SegmentSizes,
    SnapshotMeta,
    Stats,
    TokenBucket,
    encode_snapshot,
    partition_of,
)
from .settings import Settings

log = logging.getLogger("segflow.streams")

#: Header on ``segflow-events``: the event type (the input topic it came from says it).
HEADER_TYPE = "segflow-type"
#: Header on ``segflow-events``: ``[topic, partition, offset]`` of the original message.
HEADER_ORIGIN = "segflow-origin"
#: Header on ``segflow-events``: when the profile agent first read it (epoch seconds, ASCII).
HEADER_INGESTED = "segflow-ingested-at"
#: How many recent changes and drift alerts a worker keeps for its pages.
RECENT_CHANGES = 200
RECENT_DRIFTS = 100
#: Key of every message on the snapshot topic (compaction keeps the latest).
SNAPSHOT_KEY = b"model"
#: How many records before the end of the snapshot topic a follower starts reading.
SNAPSHOT_TAIL = 16
#: How long agents wait, at start, for the snapshot topic to be read.
MODEL_READY_TIMEOUT_S = 30.0
#: Faust's producer buffer (default 100), which holds the table's changelog writes.
PRODUCER_BUFFER_MESSAGES = 2000
#: How many profiles a partition load reads between yields to the event loop.
LOAD_CHUNK = 2000
#: How many samples the trainer learns between yields to the event loop.
TRAIN_CHUNK = 64
#: Web paths of a worker.
STATS_PATH = "/segflow/stats/"
METRICS_PATH = "/metrics"

Clock = Callable[[], float]


@dataclass(slots=True)
class Work:
    """A valid event the profile agent applies here, with where it came from."""

    #: The Faust event that carried it (made Faust's current event for table writes).
    item: Any
    #: Partition of the profile table (and of the message).
    partition: int
    customer: bytes
    event: Event
    #: Where the event first arrived (input topic, partition, offset).
    origin: tuple[str, int, int]
    key: bytes | None
    raw: bytes | None
    ingested_at: float | None
    #: The topic it was read from here (an input topic or the repartition topic).
    source: str = ""


class Pipeline:
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
        self.stats = Stats(registry)
        self.holder = ModelHolder(settings.engine)
        self.bucket = TokenBucket(settings.training_rate)
        #: The per-event loop (sweep, step, reschedule) the runner shares; this class adds
        #: the Kafka I/O around it.
        self.engine = Engine(settings.engine, sweep=settings.sweep)
        self.sweep = self.engine.schedule
        self.watermarks = Watermarks(settings.event_time.idle_s)
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
        self.publisher = f"{socket.gethostname()}:{os.getpid()}"
        self.trainer_model: Any = None
        self.trainer_seq = 0
        names = settings.topics
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        #: Input topic -> event type.
        self.kinds = {topic: kind for kind, topic in names.inputs().items()}
        #: Partition count of each input topic, once known.
        self.partition_counts: dict[str, int] = {}
        self.events = app.topic(names.events, partitions=settings.partitions, internal=True, **raw)
        #: What the profile agent reads: every input topic and the repartition topic.
        self.sources = app.topic(*self.kinds, names.events, **raw)
        self.changes = app.topic(names.changes, **raw)
        self.dead_letters = app.topic(names.dead_letters, **raw)
        self.training = app.topic(names.training, partitions=1, internal=True, **raw)
        self.snapshots = app.topic(names.snapshots, **raw)
        self.drift_topic = app.topic(names.drift, **raw)
        callbacks = self.stats.metrics.callbacks
        callbacks.sizes = self.sizes.totals
        callbacks.names = self.segment_names
        callbacks.shares = self.model_shares
        callbacks.ready = self.healthy
        callbacks.faust_monitor = lambda: getattr(app, "monitor", None)
        self.profiles = app.Table(
            "profiles",
            default=None,
            partitions=settings.partitions,
            key_type=bytes,
            value_type=bytes,
            schema=faust.Schema(key_serializer="raw", value_serializer="raw"),
            help="Customer profiles (Profile.to_json) by customer_id.",
            options=rocksdb_options(settings) if settings.store == "rocksdb://" else None,
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)

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
        """Joined the group (no rebalance under way), tables recovered, model read."""
        app = self.app
        try:
            return bool(
                self.holder.ready.is_set()
                and app.consumer_generation_id is not None
                and app.consumer_generation_id >= 0
                and not app.rebalancing
                and not app.in_recovery
                and app.tables.recovery.completed.is_set()
            )
        except Exception:
            return False

    # -- dead letters -----------------------------------------------------------------

    async def send_dead_letter(
        self,
        *,
        origin: tuple[str, int, int],
        key: bytes | None,
        raw: bytes | None,
        error: str,
        reason: str,
        field: str | None = None,
        stage: str = INGEST,
    ) -> None:
        topic, partition, offset = origin
        record = dead_letter(
            source_topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            raw=raw,
            error=error,
            reason=reason,
            field=field,
            received_at=self.clock(),
            stage=stage,
        )
        try:
            await self.dead_letters.send(key=key, value=encode_dead_letter(record))
        except Exception as exc:  # the producer is broken: stop rather than lose input
            await self.fatal(exc)
        self.stats.dead_letter(topic, reason, stage)

    async def fatal(self, exc: BaseException) -> None:
        """Crash the worker without acknowledging the current message (at-least-once)."""
        log.critical("cannot publish, stopping the worker: %r", exc)
        await self.app.crash(exc)
        await asyncio.Event().wait()  # cancelled by the shutdown

    # -- the profile agent: one batch of input and repartitioned messages ---------------

    async def process_batch(self, batch: Sequence[Any]) -> None:
        """Handle one batch the profile agent took (Faust events: ``.message``, ``.headers``).

        Each message is decoded once. An input message whose customer belongs to the
        partition it arrived on is processed here and now (its partition is also the
        profile table's); any other is forwarded, keyed by customer, to the repartition
        topic, where it arrives in the right partition. The batch is then processed
        partition by partition, in arrival order, and each customer's profile is
        written to the table once per batch.
        """
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

    async def admit(self, item: Any) -> Work | None:
        """Decode one message: the work it makes here, or None (dead-lettered or forwarded)."""
        message = item.message
        headers: Mapping[str, bytes] = item.headers or {}
        topic = str(message.topic)
        raw: bytes | None = message.value
        key: bytes | None = message.key
        kind = self.kinds.get(topic)
        ingested_at: float | None
        if kind is not None:
            origin = (topic, int(message.partition), int(message.offset))
            stage, ingested_at = INGEST, self.clock()
            self.stats.input_message(topic, kind)
        else:
            kind = headers.get(HEADER_TYPE, b"").decode("utf-8", "replace")
            origin = _origin(message, headers)
            stage, ingested_at = PROFILE, _ingested_at(headers)
        try:
            event = await self.decode(kind, raw, key, origin, stage, ingested_at)
        except Exception as error:
            log.exception("decoding failed on %s:%s:%s", *origin)
            await self.send_dead_letter(
                origin=origin,
                key=key,
                raw=raw,
                error=repr(error),
                reason="internal_error",
                stage=stage,
            )
            return None
        if event is None:
            return None
        customer = event.customer_id.encode()
        partition = int(message.partition)
        if stage == INGEST and not self.owns(topic, partition, customer):
            await self.forward(kind, customer, raw, origin, ingested_at)
            return None
        return Work(item, partition, customer, event, origin, key, raw, ingested_at, topic)

    def owns(self, topic: str, partition: int, customer: bytes) -> bool:
        """Whether ``customer``'s profile lives in ``partition`` of the table, which is
        read together with ``partition`` of ``topic`` (same partition count)."""
        n = self.settings.partitions
        if self.partition_counts.get(topic) != n:
            with contextlib.suppress(Exception):
                found = self.app.consumer.topic_partitions(topic)
                if found is not None:
                    self.partition_counts[topic] = int(found)
            if self.partition_counts.get(topic) != n:
                return False
        return partition_of(customer, n) == partition

    async def forward(
        self,
        kind: str,
        customer: bytes,
        raw: bytes | None,
        origin: tuple[str, int, int],
        ingested_at: float | None,
    ) -> None:
        """Send a valid input event on to the repartition topic, keyed by customer."""
        self.stats.count("forwarded")
        try:
            await self.events.send(
                key=customer,
                value=raw,
                headers={
                    HEADER_TYPE: kind.encode(),
                    HEADER_ORIGIN: orjson.dumps(list(origin)),
                    HEADER_INGESTED: repr(ingested_at).encode(),
                },
            )
        except Exception as exc:
            await self.fatal(exc)

    async def decode(
        self,
        kind: str,
        raw: bytes | None,
        key: bytes | None,
        origin: tuple[str, int, int],
        stage: str,
        ingested_at: float | None = None,
    ) -> Event | None:
        """The event in ``raw``, or None once an invalid one is dead-lettered. At ingest,
        an event time implausible against the ingest clock is invalid too
        (``out_of_range``)."""
        try:
            if raw is None:
                raise InvalidEventError("empty message (no value)", reason="empty")
            event = decode_event(kind, raw)
            if stage == INGEST:
                bounds = self.settings.event_time
                check_event_time(
                    event,
                    self.clock() if ingested_at is None else ingested_at,
                    bounds.max_future_s,
                    bounds.max_age_days * DAY,
                )
            return event
        except InvalidEventError as error:
            await self.send_dead_letter(
                origin=origin,
                key=key,
                raw=raw,
                error=str(error),
                reason=error.reason,
                field=error.field,
                stage=stage,
            )
            return None

    def profile_of(self, customer: bytes, dirty: Mapping[bytes, Profile]) -> Profile | None:
        """The customer's current profile: written in this batch, cached, or from the table."""
        profile = dirty.get(customer) or self.cache.get(customer)
        if profile is None:
            stored = self.profiles.get(customer)
            if stored is not None:
                profile = Profile.from_json(stored)
                self.cache.put(customer, profile)
        return profile

    async def process_partition(self, partition: int, items: list[Work]) -> None:
        """Apply the events of one partition in order through the engine (which sweeps
        the silent customers due first); publish changes, samples and drifts; then write
        each customer's profile once."""
        dirty: dict[bytes, Profile] = {}
        await self.move_retired(partition, dirty)
        for work in items:
            watermark = None
            if self.settings.sweep:
                self.watermarks.observe(
                    partition, work.source, work.event.occurred_at.timestamp(), self.clock()
                )
                watermark = self.watermarks.watermark(partition, self.clock())
            done: list[Handled] = []
            failed: Exception | None = None
            try:
                self.engine.handle(
                    partition,
                    work.event,
                    self.holder.model,
                    lambda customer: self.profile_of(customer.encode(), dirty),
                    self.keeper(partition, dirty, done),
                    lambda t: self.now(),
                    watermark=watermark,
                    on_sweep_error=self.sweep_failed,
                )
            except Exception as error:
                log.exception("processing failed on %s:%s:%s", *work.origin)
                failed = error
            for handled in done:
                await self.publish_handled(handled, work)
            if failed is not None:
                await self.send_dead_letter(
                    origin=work.origin,
                    key=work.key,
                    raw=work.raw,
                    error=f"processing error: {failed!r}",
                    reason="processing_error",
                    stage=PROFILE,
                )
        try:
            for customer, profile in dirty.items():
                self.profiles[customer] = profile.to_json()
                self.cache.put(customer, profile)
        except Exception as exc:
            await self.fatal(exc)

    def keeper(
        self, partition: int, dirty: dict[bytes, Profile], done: list[Handled]
    ) -> Callable[[Handled], None]:
        """The engine's sink for one event: the new profile joins the batch's ``dirty``
        ones at once (the engine's next lookup sees it), the rest waits in ``done``."""

        def keep(handled: Handled) -> None:
            done.append(handled)
            result = handled.result
            if handled.cause == "event" and result.outcome != "applied":
                return
            self.sizes.update(partition, handled.before, result.profile)
            if handled.cause != "inactivity" or result.profile != handled.before:
                dirty[handled.customer.encode()] = result.profile

        return keep

    def sweep_failed(self, customer: str, error: Exception) -> None:
        log.error("sweep of customer %s failed: %r", customer, error)
        self.stats.count("sweep_errors")

    async def publish_handled(self, handled: Handled, work: Work | None) -> None:
        """Count and publish what the engine did to one customer while handling ``work``
        (None: a retirement move)."""
        result = handled.result
        customer = handled.customer.encode()
        if handled.cause == "event" and work is not None:
            self.stats.event(result.outcome)
            if result.outcome == "late":
                lateness = self.settings.engine.max_lateness_hours
                await self.send_dead_letter(
                    origin=work.origin,
                    key=work.key,
                    raw=work.raw,
                    error=f"occurred_at is more than {lateness:g} h before the customer's "
                    "newest event",
                    reason="late",
                    field="occurred_at",
                    stage=PROFILE,
                )
            if result.outcome != "applied":
                return
        elif handled.cause == "inactivity":
            self.stats.swept()
        else:
            self.stats.count("retired_moves")
        drifts = self.watch_drift(result) if handled.cause == "event" else []
        try:
            ingested_at = (
                work.ingested_at if work is not None and handled.cause == "event" else None
            )
            await self.publish_changes(customer, result.changes, ingested_at)
            await self.publish_drifts(drifts)
            await self.send_sample(result)
        except Exception as exc:
            await self.fatal(exc)

    async def send_sample(self, result: StepResult) -> None:
        """Send the sample a step or a sweep handed out to the trainer (rate-limited)."""
        if result.sample is None:
            return
        allowed = self.bucket.allow()
        self.stats.sample(allowed)
        if allowed:
            await self.training.send(value=orjson.dumps({"x": result.sample, "t": result.t}))

    async def publish_changes(
        self, customer: bytes, changes: list[Any], ingested_at: float | None = None
    ) -> None:
        for change in changes:
            await self.changes.send(key=customer, value=change.model_dump_json().encode())
            self.stats.change(change, ingested_at)
            self.recent_changes.append(change.model_dump(mode="json"))
            self.web_state.change(self.clock(), change.kind, change.from_segment, change.to_segment)

    # -- drift --------------------------------------------------------------------------

    def watch_drift(self, result: StepResult) -> list[DriftEvent]:
        """Feed one assignment to the drift monitor; the drifts it completes (never raises)."""
        model = self.holder.model
        segment = result.profile.segment
        if segment is None or not model.is_ready:
            return []
        try:
            return self.drift.observe(
                segment,
                result.distance,
                model_version=model.version,
                detected_at=self.clock(),
                names=model.segment_names(),
            )
        except Exception:
            log.exception("drift detection failed")
            self.stats.count("drift_errors")
            return []

    async def publish_drifts(self, drifts: list[DriftEvent]) -> None:
        for drift in drifts:
            log.warning(
                "drift: %s %s %.4g -> %.4g (model %s)",
                drift.segment,
                drift.statistic,
                drift.old_level,
                drift.new_level,
                drift.model_version,
            )
            await self.drift_topic.send(
                key=drift.segment.encode(), value=drift.model_dump_json().encode()
            )
            self.stats.drift(drift.segment, drift.statistic)
            self.recent_drifts.append(drift.model_dump(mode="json"))

    # -- the inactivity sweep -----------------------------------------------------------

    async def load_partitions(self, partitions: Iterable[int]) -> None:
        """On the first batch with events of a partition since a rebalance: read the
        profiles of every such partition from the table, in one pass, into the sweep's
        schedule and the segment sizes (never raises).

        The pass yields to the event loop every :data:`LOAD_CHUNK` profiles, so a
        worker holding a million profiles keeps heartbeating (and its group seat).
        """
        wanted = {
            p
            for p in partitions
            if not self.sizes.loaded(p) or (self.settings.sweep and not self.sweep.loaded(p))
        }
        if not wanted:
            return
        n = self.settings.partitions
        held = dict.fromkeys(wanted, 0)
        for partition in wanted:  # streamed in below, never held in a list
            if self.settings.sweep and not self.sweep.loaded(partition):
                self.sweep.load(partition, [])
            if not self.sizes.loaded(partition):
                self.sizes.load(partition, [])
        try:
            for i, (key, value) in enumerate(self.profiles.items()):
                if i % LOAD_CHUNK == LOAD_CHUNK - 1:
                    await asyncio.sleep(0)
                if value is None:
                    continue
                partition = partition_of(key, n)
                if partition not in held:
                    continue
                profile = Profile.from_json(value)
                held[partition] += 1
                if self.settings.sweep:
                    self.sweep.schedule(partition, profile)
                self.sizes.update(partition, None, profile)
                if len(self.cache) < self.cache.size:
                    self.cache.put(key, profile)
        except Exception:
            log.exception("loading partitions %s failed", sorted(wanted))
            self.stats.count("sweep_errors")
            self.sweep.reset()  # every partition loads again with the next batch
            self.sizes.reset()
            return
        for partition, count in sorted(held.items()):
            log.info("partition %s has %s customers", partition, count)

    async def move_retired(self, partition: int, dirty: dict[bytes, Profile]) -> None:
        """Re-assess the customers of ``partition`` whose segment the model in force
        retired (changes with reason ``retired``; never raises).

        The first batch after such a model finds the members of every local partition
        in one pass over the table; each partition moves its own at its next batch,
        so the table writes land on its changelog.
        """
        model = self.holder.model
        gone = self.retired.since_last(model)
        if gone:
            await self.find_retired(gone)
        customers = self.retiring.pop(partition, None)
        if not customers:
            return
        at = self.watermarks.watermark(partition, self.clock()) or 0.0
        members = []
        for customer in sorted(customers):
            profile = self.profile_of(customer, dirty)
            if profile is not None and profile.segment not in model.segment_ids():
                members.append(profile)  # (else moved by an event since it was found)
        done: list[Handled] = []
        try:
            self.engine.retire(
                partition,
                members,
                model,
                at,
                self.keeper(partition, dirty, done),
                lambda t: self.now(),
            )
        except Exception:
            log.exception("moving customers out of retired segments %s failed", sorted(customers))
            self.stats.count("sweep_errors")
        for handled in done:
            await self.publish_handled(handled, None)

    async def find_retired(self, gone: frozenset[str]) -> None:
        """Queue, per partition, the local customers in the segments ``gone``."""
        n = self.settings.partitions
        try:
            for i, (key, value) in enumerate(self.profiles.items()):
                if i % LOAD_CHUNK == LOAD_CHUNK - 1:
                    await asyncio.sleep(0)
                if value is None:
                    continue
                profile = self.cache.get(key) or Profile.from_json(value)
                if any(members_of([profile], gone)):
                    self.retiring.setdefault(partition_of(key, n), set()).add(key)
        except Exception:
            log.exception("finding the members of retired segments %s failed", sorted(gone))
            self.stats.count("sweep_errors")

    # -- the shared model ---------------------------------------------------------------

    async def train(self, values: list[bytes]) -> None:
        """Learn a batch of samples and publish the model as the next snapshot."""
        if self.trainer_model is None or self.holder.seq > self.trainer_seq:
            # First batch here, or another worker published since: continue from the
            # latest published model (this is how the model survives a takeover).
            self.trainer_model = self.holder.fresh_copy()
            self.trainer_seq = self.holder.seq
        learned = 0
        for i, value in enumerate(values):
            if i % TRAIN_CHUNK == TRAIN_CHUNK - 1:
                await asyncio.sleep(0)  # the profile agent shares this loop: let it run
            try:
                sample = orjson.loads(value)
                x = {str(name): float(v) for name, v in sample["x"].items()}
                self.trainer_model.learn_one(x, float(sample["t"]))
            except Exception:
                log.exception("bad training sample ignored")
                self.stats.count("trainer_bad_samples")
                continue
            learned += 1
        if not learned:
            return
        self.stats.learned(learned)
        self.trainer_seq += 1
        meta = SnapshotMeta(
            seq=self.trainer_seq,
            model_version=int(self.trainer_model.version),
            published_at=self.clock(),
            publisher=self.publisher,
            config=self.holder.config_key,
        )
        snapshot = encode_snapshot(meta, self.trainer_model.to_snapshot())
        try:
            await self.snapshots.send(key=SNAPSHOT_KEY, value=snapshot)
        except Exception as exc:
            await self.fatal(exc)
        self.stats.published()

    async def follow_snapshots(self) -> None:
        """Read the snapshot topic (its tail, then follow it) into the holder; never returns.

        Every worker runs this, with its own group-less consumer, so every worker
        assigns with the same, latest model.
        """
        from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped,unused-ignore]

        tp = TopicPartition(self.settings.topics.snapshots, 0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers.split(","),
            client_id=f"{self.settings.app_id}-snapshots",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            begin = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            consumer.seek(tp, max(begin, end - SNAPSHOT_TAIL))
            while True:
                batches = await consumer.getmany(tp, timeout_ms=500)
                for record in batches.get(tp, []):
                    if record.value is None:
                        continue
                    rejected = self.holder.rejected
                    previous = self.holder.model
                    if self.holder.offer(record.value):
                        try:
                            shifts = centroid_shifts(previous, self.holder.model)
                        except Exception:
                            log.exception("centroid shift failed")
                            shifts = {}
                        self.stats.model(self.holder, shifts)
                    elif self.holder.rejected > rejected:
                        log.error(
                            "model snapshot at offset %s rejected: not a snapshot, or learned "
                            "under other engine settings (SEGFLOW_ENGINE__*) than this worker's",
                            record.offset,
                        )
                        self.stats.count("snapshots_rejected")
                if (
                    not self.holder.ready.is_set()
                    and not batches
                    and await consumer.position(tp) >= end
                ):
                    self.holder.ready.set()
                    log.info("model recovered: seq %s", self.holder.seq)
        finally:
            await consumer.stop()


def _ingested_at(headers: Mapping[str, bytes]) -> float | None:
    try:
        return float(headers[HEADER_INGESTED])
    except Exception:
        return None


def _origin(message: Any, headers: Mapping[str, bytes]) -> tuple[str, int, int]:
    """Where the event first arrived (input topic, partition, offset)."""
    try:
        topic, partition, offset = orjson.loads(headers[HEADER_ORIGIN])
        return str(topic), int(partition), int(offset)
    except Exception:
        return str(message.topic), int(message.partition), int(message.offset)


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of each partition's store: ``rocksdb_memory_mb`` split evenly over
    the partitions, half block cache, half two write buffers (Faust's defaults allow
    2 GiB of cache and 192 MiB of write buffers per partition).

    >>> rocksdb_options(Settings(partitions=4, rocksdb_memory_mb=256))["write_buffer_size"]
    16777216
    """
    per_partition = settings.rocksdb_memory_mb * 1024 * 1024 // settings.partitions
    return {
        "block_cache_size": per_partition // 2,
        "block_cache_compressed_size": 0,
        "write_buffer_size": per_partition // 4,
        "max_write_buffer_number": 2,
    }


def faust_options(settings: Settings) -> dict[str, Any]:
    """The Faust settings segflow uses (kept in one place, and noted where they matter)."""
    options: dict[str, Any] = {
        "broker": settings.broker,
        "store": settings.store,
        "datadir": str(settings.data_dir.absolute()),
        "autodiscover": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        # Only the partitions' changelog is replayed on takeover; standbys made a second
        # worker bring no speed-up with tables (measured: 1.0x with 1 standby, 1.4x with 0).
        "table_standby_replicas": settings.standby_replicas,
        # Tansu holds the first JoinGroup for half the session timeout, and a dead
        # worker's partitions move only after it: keep it short.
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "broker_commit_interval": settings.commit_interval_s,
        "consumer_auto_offset_reset": "earliest",
        # No on_leader tasks: skip the extra leader topic.
        "topic_disable_leader": True,
        "web_enabled": settings.web_port != 0,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.web_bind,
        "web_host": settings.web_advertised_host or settings.web_bind,
        "worker_redirect_stdouts": False,
        # 0 (Faust's default) sends each table write, change and sample at once (latency);
        # a few ms gathers them into fewer requests (throughput).
        "producer_linger": settings.producer_linger_s,
        # Snapshots are ~150 KB; leave room.
        "producer_max_request_size": 8 * 1024 * 1024,
        "consumer_max_fetch_size": 8 * 1024 * 1024,
        # Seek stream partitions to committed offsets before resuming them after a
        # rebalance (Faust 0.15.3 resumes first, and can skip input records).
        "TableManager": SeekFirstTableManager,
    }
    if settings.single_record_batches:
        # aiokafka starts a new batch when a record does not fit: 1 byte fits one record.
        options["producer_max_batch_size"] = 1
    return options


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
    app = SegflowApp(
        settings.app_id, fetch_max_wait_ms=settings.fetch_max_wait_ms, **faust_options(settings)
    )
    pipeline = Pipeline(app, settings, clock, registry)
    app.sensors.add(faust_sensor(pipeline.stats.metrics))
    app.segflow = pipeline  # type: ignore[attr-defined]  # for tests and introspection

    async def on_partitions_assigned(
        sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
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
        await pipeline.holder.wait_ready(MODEL_READY_TIMEOUT_S)
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_wait_s):
            await pipeline.process_batch(batch)

    async def trainer_agent(stream: Any) -> None:
        await pipeline.holder.wait_ready(MODEL_READY_TIMEOUT_S)
        async for values in stream.take(settings.publish_every, within=settings.publish_interval_s):
            await pipeline.train(values)

    async def snapshot_follower() -> None:
        await pipeline.follow_snapshots()

    async def stats_view(view: Any, request: Any) -> Any:
        data = pipeline.stats.as_json(pipeline.holder)
        assignment: dict[str, list[int]] = {}
        with contextlib.suppress(Exception):
            for tp in app.consumer.assignment():
                assignment.setdefault(tp.topic, []).append(tp.partition)
        data["assigned_partitions"] = sum(len(p) for p in assignment.values())
        data["assignment"] = {topic: sorted(parts) for topic, parts in assignment.items()}
        return view.json(data)

    async def metrics_view(view: Any, request: Any) -> Any:
        return view.bytes(
            generate_latest(pipeline.stats.registry),
            content_type=CONTENT_TYPE_LATEST.split(";")[0],
        )

    app.agent(pipeline.sources, name=f"{settings.app_id}.profiles")(profile_agent)
    app.agent(pipeline.training, name=f"{settings.app_id}.trainer")(trainer_agent)
    app.task(snapshot_follower)
    app.page(STATS_PATH)(stats_view)
    app.page(METRICS_PATH)(metrics_view)
    register_api(app, pipeline)
    return app
