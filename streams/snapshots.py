"""The snapshot follower: every worker reads the model topic (its tail, then follows
it) into its model holder, so every worker assigns with the same, latest model."""

from __future__ import annotations

import logging

from segflow.models.drift import centroid_shifts

from .metrics import Metrics
from .model_holder import ModelHolder, Offer
from .settings import Settings

log = logging.getLogger("segflow.streams")

#: Key of every message on the snapshot topic (compaction keeps the latest).
SNAPSHOT_KEY = b"model"
#: How many records before the end of the snapshot topic a follower starts reading.
SNAPSHOT_TAIL = 16


def warn_if_unauthenticated(settings: Settings) -> bool:
    """Say once, at start-up, when this worker takes snapshots nobody signed (no
    ``SEGFLOW_MODEL_KEY``); returns whether it did."""
    if settings.model_key is not None:
        return False
    log.warning(
        "model snapshots are not authenticated: any client that can write to topic %s can "
        "replace this worker's model; set SEGFLOW_MODEL_KEY to the same secret (at least "
        "16 characters) on every worker to sign and check them",
        settings.topics.snapshots,
    )
    return True


def take_snapshot(holder: ModelHolder, metrics: Metrics, value: bytes, offset: int) -> Offer:
    """Offer one record of the snapshot topic to the holder; count and log (one line,
    with the reason) a rejected one. The worker keeps its model when one is rejected."""
    previous = holder.model
    offer = holder.offer(value)
    if offer.taken:
        try:
            shifts = centroid_shifts(previous, holder.model)
        except Exception:
            log.exception("centroid shift failed")
            shifts = {}
        metrics.model_update(holder.seq, holder.model.version, shifts)
    elif offer.reason is not None:
        log.error(
            "model snapshot at offset %s rejected (%s): %s; keeping model seq %s",
            offset,
            offer.reason,
            offer.detail,
            holder.seq,
        )
        metrics.snapshot_rejected(offer.reason)
    return offer


async def follow_snapshots(settings: Settings, holder: ModelHolder, metrics: Metrics) -> None:
    """Read the snapshot topic (its tail, then follow it) into the holder; never returns.

    Every worker runs this, with its own group-less consumer, so every worker
    assigns with the same, latest model.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped,unused-ignore]

    warn_if_unauthenticated(settings)
    tp = TopicPartition(settings.topics.snapshots, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        client_id=f"{settings.app_id}-snapshots",
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
                if record.value is not None:
                    take_snapshot(holder, metrics, record.value, record.offset)
            if not holder.ready.is_set() and not batches and await consumer.position(tp) >= end:
                holder.ready.set()
                log.info("model recovered: seq %s", holder.seq)
    finally:
        await consumer.stop()
