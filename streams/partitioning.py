"""Which partition a key lands in: the same answer as Kafka's default partitioner."""

from __future__ import annotations

from aiokafka.partitioner import murmur2  # type: ignore[import-untyped,unused-ignore]


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Faust and the Java client
    use) gives ``key`` among ``partitions``.

    >>> partition_of(b"c00001", 4) in range(4)
    True
    """
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
