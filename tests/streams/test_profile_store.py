"""The worker's profile store without a broker: changes kept until a commit writes them,
read as the newest meanwhile, and a write that lets the event loop run never shows a
reader an older profile nor lets an older value land after a newer one."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from segflow.models.profile import Profile
from segflow.streams.local_state import ProfileCache
from segflow.streams.metrics import Metrics
from segflow.streams.profile_store import WRITE_CHUNK, ProfileStore


class Event:
    """Stands for a Faust event of a partition (table writes read it as current)."""


def store_without_cache() -> tuple[ProfileStore, dict[bytes, bytes]]:
    table: dict[bytes, bytes] = {}
    return ProfileStore(table, ProfileCache(0), Metrics(CollectorRegistry()), 4), table


def profile(customer: str, clicks: int) -> Profile:
    p = Profile.new(customer, as_of=0.0)
    p.event_counts["click"] = clicks
    return p


def test_a_reader_sees_the_newest_profile_while_a_commit_writes_it() -> None:
    store, table = store_without_cache()
    keys = [f"c{i}".encode() for i in range(3 * WRITE_CHUNK)]
    for key in keys:
        table[key] = profile(key.decode(), 1).to_json()  # the old state
    store.keep(0, {key: profile(key.decode(), 2) for key in keys}, Event())

    async def go() -> list[int]:
        writing = asyncio.create_task(store.write_unwritten())
        await asyncio.sleep(0)  # the write has done its first chunk and let us run
        seen = [store.get(key, {}) for key in keys]
        assert 0 < sum(table[k] == profile(k.decode(), 2).to_json() for k in keys) < len(keys)
        await writing
        return [p.event_counts["click"] if p else 0 for p in seen]

    assert asyncio.run(go()) == [2] * len(keys)
    assert all(Profile.from_json(table[k]).event_counts["click"] == 2 for k in keys)


def test_two_commits_write_in_order_however_they_overlap() -> None:
    store, table = store_without_cache()
    keys = [f"c{i}".encode() for i in range(3 * WRITE_CHUNK)]

    async def go() -> None:
        store.keep(1, {key: profile(key.decode(), 1) for key in keys}, Event())
        first = asyncio.create_task(store.write_unwritten())
        await asyncio.sleep(0)  # the first write is under way
        store.keep(1, {key: profile(key.decode(), 2) for key in keys}, Event())
        second = asyncio.create_task(store.write_unwritten())
        assert await first == len(keys) and await second == len(keys)

    asyncio.run(go())
    assert all(Profile.from_json(table[k]).event_counts["click"] == 2 for k in keys)


def test_waiting_counts_what_a_commit_has_still_to_write() -> None:
    store, table = store_without_cache()
    keys = [f"c{i}".encode() for i in range(2 * WRITE_CHUNK)]
    store.keep(0, {key: profile(key.decode(), 1) for key in keys}, Event())
    assert store.waiting() == len(keys)

    async def go() -> list[int]:
        writing = asyncio.create_task(store.write_unwritten())
        await asyncio.sleep(0)  # the first chunk is written: the write is not done
        during = store.waiting()
        store.keep(0, {keys[-1]: profile("again", 2)}, Event())  # changed while written
        again = store.waiting()
        await writing
        return [during, again]

    during, again = asyncio.run(go())
    assert during == len(keys)
    assert again == len(keys) + 1  # its older value is still being written
    assert store.waiting() == 1  # the newer one waits for the next commit
    asyncio.run(store.write_unwritten())
    assert store.waiting() == 0
    assert len(table) == len(keys)


def test_a_removed_profile_reads_as_gone_before_and_after_the_commit() -> None:
    store, table = store_without_cache()
    table[b"c1"] = profile("c1", 1).to_json()
    store.keep(2, {b"c1": None}, Event())
    assert store.get(b"c1", {}) is None and b"c1" in table
    assert asyncio.run(store.write_unwritten()) == 1
    assert b"c1" not in table and store.get(b"c1", {}) is None


class CountingStore(dict[bytes, bytes]):
    """A table's store that counts its reads (a RocksDB get each, in a worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __contains__(self, key: object) -> bool:
        self.reads += 1
        return super().__contains__(key)

    def __getitem__(self, key: bytes) -> bytes:
        self.reads += 1
        return super().__getitem__(key)

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        try:  # as a Faust store's Mapping.get: one read
            return self[key]
        except KeyError:
            return default


class FaustLikeTable:
    """A table over a store, whose ``get`` asks the store for the key, then its value."""

    def __init__(self) -> None:
        self.data = CountingStore()

    def get(self, key: bytes) -> bytes | None:
        return self.data[key] if key in self.data else None  # noqa: SIM401 (as Faust does)


def test_a_profile_not_cached_is_read_from_the_store_once() -> None:
    table = FaustLikeTable()
    table.data[b"c1"] = profile("c1", 3).to_json()
    store = ProfileStore(table, ProfileCache(0), Metrics(CollectorRegistry()), 4)
    got = store.get(b"c1", {})
    assert got is not None and got.event_counts["click"] == 3
    assert table.data.reads == 1
    assert store.get(b"c2", {}) is None  # not stored: one read that finds nothing
    assert table.data.reads == 2
