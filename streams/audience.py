"""A subscriber's audience from Kafka: the full membership first, then the changes.

The handover has no gap: the end offsets of ``segment-changes`` are recorded *before*
``segment-membership`` is read to its end, and the changes are then followed from those
offsets. A change older than that read is either in a membership record already, or
among the changes followed; :class:`segflow.models.membership.Audience` keeps, per
customer, what the highest ``seq`` says, so neither order nor repeats matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from segflow.models.changes import SegmentChange
from segflow.models.membership import Audience, Membership

from .settings import Settings
from .tail import read_changes


def _consumer(settings: Settings) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        group_id=None,
        enable_auto_commit=False,
        client_id=f"{settings.app_id}-audience",
    )


def _assign(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    return tps


def read_membership(
    settings: Settings,
    on_record: Callable[[str, Membership | None], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Audience, dict[Any, int]]:
    """Everyone's memberships, read to the end of ``segment-membership``, and the end
    offsets of ``segment-changes`` taken before (where to follow the changes from).

    ``on_record(customer_id, record)`` sees every record read (None: a tombstone);
    ``on_progress(read, total)`` the records read so far of those to read."""
    consumer = _consumer(settings)
    try:
        changes = _assign(consumer, settings.topics.changes)
        start = consumer.end_offsets(changes)
        tps = _assign(consumer, settings.topics.membership)
        ends = consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        firsts = consumer.beginning_offsets(tps)
        total, done = sum(ends[tp] - firsts[tp] for tp in tps), 0
        audience = Audience()
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for record in records:
                    value, customer = record.value, record.key.decode()
                    state = Membership.model_validate_json(value) if value is not None else None
                    audience.apply_membership(customer, state)
                    if on_record is not None:
                        on_record(customer, state)
                done += len(records)
                if on_progress is not None:
                    on_progress(min(done, total), total)
        return audience, start
    finally:
        consumer.close()


def follow_changes(
    settings: Settings,
    start: dict[Any, int],
    idle_s: float | None = None,
    on_invalid: Callable[[bytes], None] | None = None,
) -> Iterator[SegmentChange]:
    """The changes from ``start`` on (until ``idle_s`` without one; None: for ever)."""
    consumer = _consumer(settings)
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
    except BaseException:
        consumer.close()
        raise
    return read_changes(consumer, idle_s, on_invalid=on_invalid)
