"""A worker's profiles: the Faust table (backed by its changelog topic), the decoded
cache in front of it, and the changes not written to it yet (write-behind).

A profile changed by a batch is kept as unwritten and written to the table once, right
before the next offset commit (:func:`.faust_patches.write_before_flush` calls
:meth:`ProfileStore.write_unwritten` from Faust's producer flush, which Faust runs
before every commit and before giving partitions up): one changelog message per
customer per commit interval instead of one per batch, and no offset committed before
the state its events made, as Kafka Streams' record cache does. Reads see the newest:
the batch's own changes, then the unwritten ones, the cache, the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Container, Mapping
from typing import Any

from segflow.models.events import routing_key_of
from segflow.models.profile import Profile

from .faust_patches import current_event
from .local_state import ProfileCache
from .metrics import Metrics
from .partitioning import partition_of

log = logging.getLogger("segflow.streams")

#: How many profiles a pass over the table reads between yields to the event loop.
LOAD_CHUNK = 2000
#: How many profiles a commit's write writes between yields to the event loop.
WRITE_CHUNK = 50
#: How many unwritten profiles, per profile the cache holds, may wait for the commit:
#: past that (a sweep after a recovery changes hundreds of thousands at once) the oldest
#: are written at once, as without write-behind, so memory stays bounded.
UNWRITTEN_PER_CACHED = 2
#: ... and at least this many (a worker may run with no cache).
UNWRITTEN_MIN = 2_000


class ProfileStore:
    """The table, the cache and the unwritten changes of one worker's profiles."""

    def __init__(
        self,
        table: Any,
        cache: ProfileCache,
        metrics: Metrics,
        partitions: int,
        write_behind: bool = True,
    ) -> None:
        self.table, self.cache, self.metrics = table, cache, metrics
        self.partitions, self.write_behind = partitions, write_behind
        #: Profiles changed since the last commit, by key (None: removed), with their
        #: partition.
        self.unwritten: dict[bytes, tuple[int, Profile | None]] = {}
        #: How many unwritten profiles may wait for the next commit.
        self.unwritten_limit = max(UNWRITTEN_PER_CACHED * cache.size, UNWRITTEN_MIN)
        #: A recent Faust event of each partition: table writes go to the partition of
        #: Faust's current event.
        self.partition_events: dict[int, Any] = {}
        #: The changes a write in progress is writing (still read from here until done),
        #: and the lock that keeps two writes from interleaving (an older value of a key
        #: written after a newer one).
        self.writing: dict[bytes, tuple[int, Profile | None]] = {}
        self._write_lock = asyncio.Lock()

    def get(self, customer: bytes, dirty: Mapping[bytes, Profile | None]) -> Profile | None:
        """The customer's current profile: changed (or removed) in this batch or since
        the last commit, cached, or from the table."""
        if customer in dirty:
            return dirty[customer]
        if customer in self.unwritten:
            return self.unwritten[customer][1]
        if customer in self.writing:
            return self.writing[customer][1]
        profile = self.cache.get(customer)
        if profile is None:
            stored = self.stored(customer)
            if stored is not None:
                profile = Profile.from_json(stored)
                self.cache.put(customer, profile)
        return profile

    def stored(self, customer: bytes) -> bytes | None:
        """The table's value of ``customer`` (None: none), read from its store once: a
        Faust table's own ``get`` asks the store whether it holds the key, then for its
        value (two RocksDB reads, each through Faust's key encoding)."""
        store = getattr(self.table, "data", self.table)
        value: bytes | None = store.get(customer)
        return value

    def waiting(self) -> int:
        """Profile values not in the table yet: changed since the last commit, or in a
        commit's write under way (a customer changed again during that write counts
        twice: both values are still to be written)."""
        return len(self.unwritten) + len(self.writing)

    def keep(self, partition: int, dirty: Mapping[bytes, Profile | None], event: Any) -> None:
        """Keep a batch's changed profiles of ``partition`` (``event``: one of the
        batch's Faust events, None when it had none): unwritten until the next commit,
        or written now without write-behind (under ``event``, else the caller's)."""
        if event is not None:
            self.partition_events[partition] = event
        for customer, profile in dirty.items():
            if profile is None:
                self.cache.remove(customer)
            else:
                self.cache.put(customer, profile)
            if self.write_behind:
                self.unwritten[customer] = (partition, profile)
            elif event is None:
                self._write(customer, profile)
            else:
                with current_event(event):
                    self._write(customer, profile)
        if len(self.unwritten) > self.unwritten_limit:
            self.write_oldest()

    def write_oldest(self) -> None:
        """Write the oldest unwritten profiles now, until half the limit is left (not
        while a commit's write is in progress: a profile written here could be
        overwritten by its older value still in that write)."""
        if self._write_lock.locked():
            return
        keep = self.unwritten_limit // 2
        for customer in list(self.unwritten)[: len(self.unwritten) - keep]:
            partition, profile = self.unwritten[customer]
            event = self.partition_events.get(partition)
            if event is None:
                continue  # no event of its partition yet: it waits for the commit
            with current_event(event):
                self._write(customer, profile)
            del self.unwritten[customer]

    def warm(self, key: bytes, profile: Profile) -> None:
        """Cache a profile read in a pass over the table, while the cache has room."""
        if len(self.cache) < self.cache.size:
            self.cache.put(key, profile)

    def _write(self, customer: bytes, profile: Profile | None) -> None:
        if profile is not None:
            self.table[customer] = profile.to_json()
        elif self.stored(customer) is not None:
            del self.table[customer]
        self.metrics.profile_writes.inc()

    async def write_unwritten(self) -> int:
        """Write every profile changed since the last commit to the table, one write
        per customer, each under an event of its partition (its changelog message goes
        into the producer's buffer, which the commit then drains); how many.

        A write costs about 65 us (Faust's changelog send and its flush; measured in
        bench/README.md), and a commit may have thousands: every :data:`WRITE_CHUNK`
        writes the event loop is let run, so events keep flowing (what they change waits
        for the next commit's write)."""
        async with self._write_lock:
            pending, self.unwritten = self.unwritten, {}
            self.writing = pending
            by_partition: dict[int, list[tuple[bytes, Profile | None]]] = {}
            for customer, (partition, profile) in pending.items():
                by_partition.setdefault(partition, []).append((customer, profile))
            try:
                done = 0
                for partition, entries in by_partition.items():
                    for customer, profile in entries:
                        with current_event(self.partition_events[partition]):
                            self._write(customer, profile)
                        done += 1
                        if done % WRITE_CHUNK == 0:
                            await asyncio.sleep(0)
            finally:
                self.writing = {}
            return len(pending)

    def forget_unwritten(self) -> None:
        """On a new assignment: the revoke's flush wrote every change (a commit always
        writes first), so any left had no offset committed after them; whoever owns
        their partition now reads their events again from the committed offsets.
        Writing them here could land in a partition another worker owns."""
        if self.unwritten:
            log.warning(
                "%d profile changes left unwritten at a rebalance: their events are read "
                "again from the committed offsets",
                len(self.unwritten),
            )
        self.unwritten.clear()
        self.partition_events.clear()

    async def items(
        self, partitions: Container[int] | None = None
    ) -> AsyncIterator[tuple[bytes, int, Profile]]:
        """(key, partition, profile) of every profile (of ``partitions`` only, when
        given), the newest of each, yielding to the event loop every
        :data:`LOAD_CHUNK`, so a worker holding a million profiles keeps heartbeating.

        A profile's partition is its events' (a visitor's: its anonymous id's, not its
        ``~anon:`` key's): a sweep in any other partition would write it to that
        partition's changelog, where a takeover restores it over newer state."""
        unwritten = dict(self.unwritten)  # (those not in the table yet come last)
        for i, (key, value) in enumerate(self.table.items()):
            if i % LOAD_CHUNK == LOAD_CHUNK - 1:
                await asyncio.sleep(0)
            newer = unwritten.pop(key, None)
            if value is None or (newer is not None and newer[1] is None):
                continue
            partition = partition_of(routing_key_of(key.decode()).encode(), self.partitions)
            if partitions is None or partition in partitions:
                profile = newer[1] if newer is not None else None
                yield key, partition, profile or self.cache.get(key) or Profile.from_json(value)
        for key, (partition, newer_profile) in unwritten.items():
            if newer_profile is not None and (partitions is None or partition in partitions):
                yield key, partition, newer_profile
