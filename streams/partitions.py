"""Partition work: a batch's events of one partition through the engine (sweep, step,
reschedule), published (changes, drifts, samples), each profile kept once; the
partition's load after a rebalance and the moves out of retired segments."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from segflow.models.changes import SegmentChange
from segflow.models.drift import DriftEvent, DriftMonitor
from segflow.models.engine import Engine, Handled, Lookup, Sink, Stamp
from segflow.models.erasure import EraseCommand
from segflow.models.events import Event
from segflow.models.lifecycle import RetiredSegments, is_member
from segflow.models.membership import membership_of
from segflow.models.profile import Profile
from segflow.models.step import StepResult
from segflow.models.sweep import Sweep
from segflow.models.training import encode_purchase, encode_sample
from segflow.models.value import PurchaseRecord
from segflow.models.watermark import Watermarks

from .api import WebState
from .collector import freeze_long_lived
from .deadletters import PROFILE
from .ingest import Work
from .local_state import ProfileCache, SegmentSizes
from .model_holder import ModelHolder
from .profile_store import ProfileStore
from .throttle import TokenBucket
from .worker_base import WorkerBase

#: Looks of the sweep (or retirement moves) taken before their profiles are kept and
#: the event loop is let run: 2-10 ms of a worker's time.
SWEEP_CHUNK = 100
#: After a batch, the looks due get at least this long (seconds), or as long as the
#: batch's events took if longer; the rest wait for the next batch (or the idle turn).
LOOK_SLICE_S = 0.005
#: A load pass of at least this many profiles moves what the worker holds out of the
#: garbage collector's generations (:mod:`.collector`): below it, a full collection over
#: the schedule takes under a millisecond, less than the collection freezing starts with.
FREEZE_AFTER_PROFILES = 10_000

log = logging.getLogger("segflow.streams")


def stepped(work: Work) -> Event:
    """The event of ``work``, which is not a command."""
    event = work.event
    assert not isinstance(event, EraseCommand), "commands are not stepped"
    return event


#: Profiles changed (or, None, removed) in a batch, by key: kept once at its end.
Dirty = dict[bytes, Profile | None]


class PartitionWork(WorkerBase):
    """Processing of one partition's events (a part of ``Pipeline``)."""

    engine: Engine
    holder: ModelHolder
    bucket: TokenBucket
    sweep: Sweep
    cache: ProfileCache
    store: ProfileStore
    sizes: SegmentSizes
    drift: DriftMonitor
    watermarks: Watermarks
    retired: RetiredSegments
    retiring: dict[int, set[bytes]]
    profiles: Any
    changes: Any
    membership: Any
    #: Readable names of behavioral and rule segments, by id (the ``Pipeline``'s).
    segment_names: Callable[[], dict[str, str]]
    training: Any
    drift_topic: Any
    recent_changes: collections.deque[dict[str, Any]]
    recent_drifts: collections.deque[dict[str, Any]]
    web_state: WebState

    async def process_partition(self, partition: int, items: list[Work]) -> None:
        """Apply the events of one partition in order through the engine (which sweeps
        the silent customers due first); publish changes, samples and drifts; then keep
        each customer's profile once: written to the table before the next offset
        commit (``write_behind``), or now."""
        dirty: Dirty = {}
        await self.move_retired(partition, dirty, items[-1].item if items else None)
        run: list[Work] = []
        for work in items:
            if self.steps_plainly(work):
                run.append(work)
                continue
            if run:
                await self.handle_events(partition, run, dirty)
                run = []
            await self.process_work(partition, work, dirty)
        if run:
            await self.handle_events(partition, run, dirty)
        try:
            self.store.keep(partition, dirty, items[-1].item if items else None)
        except Exception as exc:
            await self.fatal(exc)

    def profile_of(self, customer: bytes, dirty: Mapping[bytes, Profile | None]) -> Profile | None:
        """The customer's current profile (see :meth:`.ProfileStore.get`)."""
        return self.store.get(customer, dirty)

    def current_profile(self, customer: bytes) -> Profile | None:
        """The customer's profile as this worker holds it now (the API's view)."""
        return self.store.get(customer, {})

    async def process_work(self, partition: int, work: Work, dirty: Dirty) -> None:
        """One event (the identity part of the pipeline may take it instead)."""
        await self.handle_event(partition, work, dirty)

    def steps_plainly(self, work: Work) -> bool:
        """Whether :meth:`process_work` would only step ``work``'s event through the
        engine (then it goes with its neighbours through the batch step)."""
        return True

    def watermark_at(self, partition: int, work: Work) -> float | None:
        """The partition's watermark once ``work``'s event is counted (None: no sweep)."""
        if not self.settings.sweep:
            return None
        now = self.clock()
        self.watermarks.observe(partition, work.source, work.event.occurred_at.timestamp(), now)
        return self.watermarks.watermark(partition, now)

    async def handle_events(self, partition: int, works: list[Work], dirty: Dirty) -> None:
        """:meth:`handle_event` of each of ``works`` in order, through the engine's batch
        step (:meth:`.Engine.handle_batch`): the same results, published event by event
        after the batch. Should the batch step itself fail, the events go one by one."""
        watermarks = [self.watermark_at(partition, work) for work in works]
        dones: list[list[Handled]] = [[] for _ in works]
        failures: dict[int, Exception] = {}

        def failed(i: int, error: Exception) -> None:
            log.error("processing failed on %s:%s:%s", *works[i].origin, exc_info=error)
            failures[i] = error

        lookup, _, stamp = self.engine_io(partition, dirty, dones[0])
        try:
            self.engine.handle_batch(
                partition,
                [stepped(work) for work in works],
                watermarks,
                self.holder.model,
                lookup,
                [self.keeper(partition, dirty, done) for done in dones],
                stamp,
                failed,
                self.sweep_failed,
            )
        except Exception:
            log.exception(
                "the batch step failed on %s:%s:%s: one event at a time", *works[0].origin
            )
            self.metrics.error("batch_step")
            if any(dones):
                raise  # (results were kept: the events cannot be taken again)
            for i, work in enumerate(works):
                await self.step_one(partition, work, watermarks[i], dirty)
            return
        for i, work in enumerate(works):
            await self.publish_event(work, dones[i], failures.get(i))

    async def handle_event(self, partition: int, work: Work, dirty: Dirty) -> None:
        """Step one event through the engine (which looks at its customer first if due:
        the partition's other looks due are taken after the batch); publish what it did;
        dead-letter the event if processing it failed."""
        await self.step_one(partition, work, self.watermark_at(partition, work), dirty)

    async def step_one(
        self, partition: int, work: Work, watermark: float | None, dirty: Dirty
    ) -> None:
        """:meth:`handle_event` at the partition's ``watermark``."""
        done: list[Handled] = []
        failed: Exception | None = None
        try:
            self.engine.handle(
                partition,
                stepped(work),
                self.holder.model,
                *self.engine_io(partition, dirty, done),
                watermark=watermark,
                on_sweep_error=self.sweep_failed,
                sweep_first=False,
            )
        except Exception as error:
            log.exception("processing failed on %s:%s:%s", *work.origin)
            failed = error
        await self.publish_event(work, done, failed)

    async def publish_event(
        self, work: Work, done: list[Handled], failed: Exception | None
    ) -> None:
        """Publish what handling ``work``'s event did; dead-letter it if that failed."""
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

    async def look_first(self, partition: int, keys: Iterable[str], dirty: Dirty) -> None:
        """Look at the customers ``keys`` now, if due by the partition's watermarks so
        far, before something other than their own event changes them (an identify, an
        erasure): each customer's looks and changes stay in event-time order."""
        done: list[Handled] = []
        io = self.engine_io(partition, dirty, done)
        for key in keys:
            self.engine.look_if_due(partition, key, self.holder.model, *io, self.sweep_failed)
        for handled in done:
            await self.publish_handled(handled, None)

    async def take_due_looks(self, slice_s: float | None = None) -> int:
        """Take the sweep's looks due by the watermarks the events brought, partition by
        partition (each look as it would have been taken before the event that made it
        due: :meth:`.Engine.sweep` by the watermarks noted); how many.

        The looks go :data:`SWEEP_CHUNK` at a time, each chunk's profiles kept and its
        changes published before the next, the event loop let run before each (so the
        batch's own changes are sent first). After ``slice_s`` of the worker's clock
        (None: no limit) the rest wait for the next call: a burst of looks (a watermark
        held back by a slow source, then let go) is spread over the batches after it
        instead of holding up the events of one.
        """
        deadline = None if slice_s is None else self.clock() + slice_s
        taken = 0
        for partition in self.sweep.noted_partitions():
            while self.sweep.waiting(partition):
                await asyncio.sleep(0)
                event = self.store.partition_events.get(partition)
                if event is None:
                    break  # (a rebalance came meanwhile: the schedule is rebuilt)
                dirty: Dirty = {}
                looks = await self.look_chunk(partition, dirty)
                self.store.keep(partition, dirty, event)
                taken += looks
                if deadline is not None and self.clock() >= deadline:
                    return taken
        return taken

    def looks_waiting(self) -> bool:
        """Whether looks of the sweep may be due and not taken yet."""
        return bool(self.sweep.noted_partitions())

    async def look_chunk(self, partition: int, dirty: Dirty) -> int:
        """Take up to :data:`SWEEP_CHUNK` looks due on ``partition`` by the watermarks
        noted (the earliest due first) and publish what they did; how many."""
        done: list[Handled] = []
        try:
            looks = self.engine.sweep(
                partition,
                None,
                self.holder.model,
                *self.engine_io(partition, dirty, done),
                self.sweep_failed,
                limit=SWEEP_CHUNK,
            )
        except Exception:
            log.exception("sweeping partition %s failed", partition)
            self.metrics.error("sweep")
            self.sweep.forget_noted(partition)  # (so as not to fail again at once)
            looks = 0
        for handled in done:
            await self.publish_handled(handled, None)
        return looks

    async def keep_chunk(self, partition: int, dirty: Dirty, event: Any) -> None:
        """Keep the profiles changed so far (a chunk of a long catch-up); let others run."""
        self.store.keep(partition, dirty, event)
        dirty.clear()
        await asyncio.sleep(0)

    def engine_io(
        self, partition: int, dirty: Dirty, done: list[Handled]
    ) -> tuple[Lookup, Sink, Stamp]:
        """What the engine reads and writes through for a batch's work on ``partition``:
        a customer's current profile (the batch's own changes first), the :meth:`keeper`
        sink, and the processing time stamped on its results."""
        return (
            lambda customer: self.profile_of(customer.encode(), dirty),
            self.keeper(partition, dirty, done),
            lambda t: self.now(),
        )

    def keeper(
        self, partition: int, dirty: Dirty, done: list[Handled]
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
        self.metrics.error("sweep")

    async def publish_handled(self, handled: Handled, work: Work | None) -> None:
        """Count and publish what the engine did to one customer while handling ``work``
        (None: a retirement move)."""
        result = handled.result
        customer = handled.customer.encode()
        if handled.cause == "event" and work is not None:
            self.metrics.event(result.outcome)
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
            self.metrics.swept()
        else:
            self.metrics.retirement_move()
        drifts = self.watch_drift(result) if handled.cause == "event" else []
        ingested_at = work.ingested_at if work is not None and handled.cause == "event" else None
        await self.send_or_stop(self._send_results(customer, result, drifts, ingested_at))

    async def _send_results(
        self,
        customer: bytes,
        result: StepResult,
        drifts: list[DriftEvent],
        ingested_at: float | None,
    ) -> None:
        await self.publish_changes(customer, result.changes, result.profile, ingested_at)
        await self.publish_drifts(drifts)
        await self.send_sample(result)

    async def send_sample(self, result: StepResult) -> None:
        """Send the trainer what a step or a sweep handed out (none when the worker does
        not learn): the sample (rate-limited), and a customer's first purchase of a
        day (not rate-limited: the value scores' statistics and labels need them all)."""
        if not self.settings.learn:
            return
        customer, purchases = result.profile.customer_id, PurchaseRecord.of(result.profile)
        if result.bought and purchases is not None:
            await self.training.send(value=encode_purchase(customer, purchases, result.t))
        if result.sample is None:
            return
        allowed = self.bucket.allow()
        self.metrics.sample(allowed)
        if allowed:
            sample = encode_sample(result.sample, result.t, customer, purchases)
            await self.training.send(value=sample)

    async def publish_changes(
        self,
        customer: bytes,
        changes: list[SegmentChange],
        profile: Profile,
        ingested_at: float | None = None,
    ) -> None:
        """Publish a customer's changes, then its memberships after them (``profile``:
        the customer's after the changes) on the compacted membership topic."""
        for change in changes:
            await self.changes.send(key=customer, value=change.model_dump_json().encode())
            self.metrics.change(change, ingested_at)
            self.recent_changes.append(change.model_dump(mode="json"))
            self.web_state.change(self.clock(), change.kind, change.from_segment, change.to_segment)
        if changes:
            model = self.holder.model
            state = membership_of(profile, changes[-1], self.segment_names(), model.version)
            value = state.model_dump_json().encode() if state is not None else None
            await self.membership.send(key=customer, value=value)

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
            self.metrics.error("drift")
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
            self.metrics.drift(drift.segment, drift.statistic)
            self.recent_drifts.append(drift.model_dump(mode="json"))

    # -- the inactivity sweep -----------------------------------------------------------

    async def load_partitions(self, partitions: Iterable[int]) -> None:
        """On the first batch with events of a partition since a rebalance: read the
        profiles of every partition this worker holds from the table, in one pass (a
        pass reads the whole table), into the sweep's schedule and the sizes (no raise).

        The pass yields to the event loop every :data:`.profile_store.LOAD_CHUNK`
        profiles: a worker holding a million profiles keeps heartbeating (its seat).
        """

        def unloaded(ps: Iterable[int]) -> set[int]:
            sweep, sizes = self.settings.sweep, self.sizes
            return {p for p in ps if not sizes.loaded(p) or (sweep and not self.sweep.loaded(p))}

        wanted = unloaded(partitions)
        if not wanted:
            return
        wanted |= unloaded(self.held_partitions())  # (asked only when a load is due)
        held = dict.fromkeys(wanted, 0)
        for partition in wanted:  # streamed in below, never held in a list
            if self.settings.sweep and not self.sweep.loaded(partition):
                self.sweep.load(partition, [])
            if not self.sizes.loaded(partition):
                self.sizes.load(partition, [])
        try:
            async for key, partition, profile in self.store.items(held):
                held[partition] += 1
                if self.settings.sweep:
                    self.sweep.restore(partition, profile)
                self.sizes.update(partition, None, profile)
                self.store.warm(key, profile)
        except Exception:
            log.exception("loading partitions %s failed", sorted(wanted))
            self.metrics.error("sweep")
            self.sweep.reset()  # every partition loads again with the next batch
            self.sizes.reset()
            return
        for partition, count in sorted(held.items()):
            log.info("partition %s has %s customers", partition, count)
        if sum(held.values()) >= FREEZE_AFTER_PROFILES:
            freeze_long_lived()  # the schedule and sizes live until the next rebalance

    def held_partitions(self) -> set[int]:
        """The profile partitions whose input this worker's consumer holds now."""
        topics = {*self.settings.topics.inputs().values(), self.settings.topics.events}
        try:
            assigned = self.app.consumer.assignment()
        except Exception:  # not started, or no consumer (a pipeline without a worker)
            return set()
        return {tp.partition for tp in assigned if tp.topic in topics}

    async def move_retired(self, partition: int, dirty: Dirty, event: Any = None) -> None:
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
        ordered = sorted(customers)
        for start in range(0, len(ordered), SWEEP_CHUNK):
            if start:  # a big segment retired: kept chunk by chunk, as the sweep's looks
                await self.keep_chunk(partition, dirty, event)
            members, chunk = [], ordered[start : start + SWEEP_CHUNK]
            for customer in chunk:
                profile = self.profile_of(customer, dirty)
                if profile is not None and profile.segment not in model.segment_ids():
                    members.append(profile)  # (else moved by an event since it was found)
            done: list[Handled] = []
            try:
                _, keep, stamp = self.engine_io(partition, dirty, done)
                self.engine.retire(partition, members, model, at, keep, stamp)
            except Exception:
                log.exception("moving customers out of retired segments %s failed", chunk)
                self.metrics.error("sweep")
            for handled in done:
                await self.publish_handled(handled, None)

    async def find_retired(self, gone: frozenset[str]) -> None:
        """Queue, per partition, the local customers in the segments ``gone``."""
        try:
            async for key, partition, profile in self.store.items():
                if is_member(profile, gone):
                    self.retiring.setdefault(partition, set()).add(key)
        except Exception:
            log.exception("finding the members of retired segments %s failed", sorted(gone))
            self.metrics.error("sweep")

    # -- the shared model ---------------------------------------------------------------
