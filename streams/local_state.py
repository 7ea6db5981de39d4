"""A worker's in-memory views of the profiles of its partitions (not Faust tables).

- :class:`ProfileCache`: the most recently used profiles, decoded;
- :class:`SegmentSizes`: customers per segment, per partition, for the metrics and pages.

Both are rebuilt from the profile table after a rebalance.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterable

from segflow.models.profile import Profile


class ProfileCache:
    """The most recently used profiles, decoded, in front of the profile table.

    Only the worker that owns a partition writes its profiles, so a cached profile is
    the table's value as long as the partition stays here: the worker clears the
    cache on every rebalance. ``size`` 0 turns it off.

    >>> cache = ProfileCache(2)
    >>> for key in (b"a", b"b", b"c"):
    ...     cache.put(key, Profile.new(key.decode(), as_of=0.0))
    >>> cache.get(b"a") is None, cache.get(b"c").customer_id
    (True, 'c')
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._profiles: collections.OrderedDict[bytes, Profile] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, key: bytes) -> Profile | None:
        profile = self._profiles.get(key)
        if profile is not None:
            self._profiles.move_to_end(key)
        return profile

    def put(self, key: bytes, profile: Profile) -> None:
        if self.size <= 0:
            return
        self._profiles[key] = profile
        self._profiles.move_to_end(key)
        if len(self._profiles) > self.size:
            self._profiles.popitem(last=False)

    def remove(self, key: bytes) -> None:
        self._profiles.pop(key, None)

    def clear(self) -> None:
        self._profiles.clear()


class SegmentSizes:
    """Customers per segment among this worker's profiles, kept per partition, with the
    members themselves (for the member lists).

    A partition is counted once loaded (from the table, when the worker first
    handles it after a rebalance) and then updated on every profile write.

    >>> sizes = SegmentSizes()
    >>> sizes.load(0, [])
    >>> a = Profile.new("c1", as_of=0.0); b = a.copy(); b.segment = "seg-1"
    >>> sizes.update(0, None, a); sizes.update(0, a, b)
    >>> sizes.totals(), sizes.members("seg-1")
    (({('behavioral', 'seg-1'): 1}, 1), ['c1'])
    """

    def __init__(self) -> None:
        self._parts: dict[int, dict[tuple[str, str], set[str]]] = {}
        self._profiles: dict[int, int] = {}

    def reset(self) -> None:
        self._parts.clear()
        self._profiles.clear()

    def loaded(self, partition: int) -> bool:
        return partition in self._parts

    def load(self, partition: int, profiles: Iterable[Profile]) -> None:
        self._parts[partition] = {}
        self._profiles[partition] = 0
        for profile in profiles:
            self.update(partition, None, profile)

    @staticmethod
    def _keys(profile: Profile) -> list[tuple[str, str]]:
        keys = [("rule", segment) for segment in profile.rule_segments]
        if profile.segment is not None:
            keys.append(("behavioral", profile.segment))
        return keys

    def update(self, partition: int, before: Profile | None, after: Profile) -> None:
        """A profile of ``partition`` went from ``before`` (None: new) to ``after``."""
        members = self._parts.get(partition)
        if members is None:
            return  # not loaded yet: the load will count it
        if before is None:
            self._profiles[partition] += 1
        else:
            self._subtract(members, before)
        for key in self._keys(after):
            members.setdefault(key, set()).add(after.customer_id)

    def remove(self, partition: int, profile: Profile) -> None:
        """A profile of ``partition`` was removed (merged into another, or erased)."""
        members = self._parts.get(partition)
        if members is None:
            return
        self._profiles[partition] -= 1
        self._subtract(members, profile)

    def _subtract(self, members: dict[tuple[str, str], set[str]], profile: Profile) -> None:
        for key in self._keys(profile):
            found = members.get(key)
            if found is not None:
                found.discard(profile.customer_id)
                if not found:
                    del members[key]

    def totals(self) -> tuple[dict[tuple[str, str], int], int]:
        """(kind, segment) -> customers, and the number of profiles, over loaded partitions."""
        out: dict[tuple[str, str], int] = {}
        for members in self._parts.values():
            for key, found in members.items():
                out[key] = out.get(key, 0) + len(found)
        return out, sum(self._profiles.values())

    def members(self, segment: str, after: str = "", limit: int | None = None) -> list[str]:
        """The customers in ``segment`` (behavioral or rule) whose ids sort after
        ``after``, in id order, at most ``limit``."""
        return self.page(segment, after, limit)[0]

    def page(
        self, segment: str, after: str = "", limit: int | None = None
    ) -> tuple[list[str], int]:
        """:meth:`members`, and how many customers ``segment`` has in all (one pass)."""
        found = {
            customer
            for members in self._parts.values()
            for (_, name), ids in members.items()
            if name == segment
            for customer in ids
        }
        later = (customer for customer in found if customer > after)
        listed = sorted(later) if limit is None else heapq.nsmallest(limit, later)
        return listed, len(found)
