"""Which partition a key lands in: the same answer as Kafka's default partitioner."""

from __future__ import annotations

import functools

from aiokafka.partitioner import murmur2  # type: ignore[import-untyped,unused-ignore]

#: Keys whose partition is remembered: aiokafka's murmur2 is pure Python (1.4-1.8 us a
#: key, asked for every input event), a remembered one about 0.2 us.
REMEMBERED_KEYS = 65_536


@functools.lru_cache(maxsize=REMEMBERED_KEYS)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Faust and the Java client
    use) gives ``key`` among ``partitions`` (the latest keys' answers remembered).

    >>> partition_of(b"c00001", 4) in range(4)
    True
    """
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
