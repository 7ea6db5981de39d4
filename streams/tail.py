"""Read ``segment-changes`` and print them for people (``segflow tail``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from pydantic import ValidationError

from segflow.models.changes import SegmentChange

from .settings import Settings


def _segment(segment: str | None, name: str | None) -> str:
    if segment is None:
        return "(none)"
    return f"{name} [{segment}]" if name else segment


def format_change(change: SegmentChange) -> str:
    """One readable line for a segment change.

    >>> from datetime import datetime, UTC
    >>> at = datetime(2026, 9, 3, 10, 15, tzinfo=UTC)
    >>> c = SegmentChange(change_id="x", customer_id="c7", kind="behavioral",
    ...     from_segment=None, to_segment="seg-2", from_name=None, to_name="heavy browser",
    ...     model_version=12, occurred_at=at, emitted_at=at, cause_event_id="e1",
    ...     scores={"engagement": 81.5}, reasons=[])
    >>> print(format_change(c))
    2026-09-03 10:15:00  c7  (none) -> heavy browser [seg-2]  behavioral, model v12  engagement=81.5
    """
    when = change.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    kind = change.kind + (f", model v{change.model_version}" if change.model_version else "")
    line = (
        f"{when}  {change.customer_id}  "
        f"{_segment(change.from_segment, change.from_name)} -> "
        f"{_segment(change.to_segment, change.to_name)}  {kind}"
    )
    if change.scores:
        line += "  " + " ".join(f"{k}={v:g}" for k, v in sorted(change.scores.items()))
    if change.reasons:
        why = ", ".join(
            f"{r.feature}={r.value:g} (mean {r.population_mean:g})" for r in change.reasons
        )
        line += f"  because {why}"
    return line


def matches(change: SegmentChange, customer: str | None, segment: str | None) -> bool:
    """Whether a change passes the ``--customer`` / ``--segment`` filters.

    ``segment`` matches a segment id or (case-insensitively) a part of its name,
    on either side of the change.
    """
    if customer is not None and change.customer_id != customer:
        return False
    if segment is not None:
        wanted = segment.lower()
        sides = [change.from_segment, change.to_segment, change.from_name, change.to_name]
        if not any(s is not None and (s == segment or wanted in s.lower()) for s in sides):
            return False
    return True


def iter_changes(
    settings: Settings,
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
    on_invalid: Callable[[bytes], None] | None = None,
) -> Iterator[SegmentChange]:
    """Changes from ``segment-changes`` (all partitions, no consumer group).

    Ends after ``idle_timeout`` seconds without a message (never, if None) or when
    ``stop`` is set.
    """
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.topics.changes,
        bootstrap_servers=settings.bootstrap_servers.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        client_id=f"{settings.app_id}-tail",
    )
    return read_changes(consumer, idle_timeout, stop, on_invalid)


def read_changes(
    consumer: Any,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
    on_invalid: Callable[[bytes], None] | None = None,
) -> Iterator[SegmentChange]:
    """The changes a positioned ``consumer`` reads, until ``idle_timeout`` seconds pass
    without a message (never, if None) or ``stop`` is set; the consumer is closed at the
    end. A record that is no change goes to ``on_invalid``."""
    last = time.monotonic()
    try:
        while stop is None or not stop.is_set():
            batches: dict[Any, list[Any]] = consumer.poll(timeout_ms=200, max_records=10_000)
            if not batches:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            last = time.monotonic()
            for records in batches.values():
                for record in records:
                    try:
                        yield SegmentChange.model_validate_json(record.value)
                    except (ValidationError, ValueError):
                        if on_invalid is not None:
                            on_invalid(record.value)
    finally:
        consumer.close()


def change_json(change: SegmentChange) -> str:
    """The change as one line of JSON, as on the topic."""
    return orjson.dumps(change.model_dump(mode="json")).decode()
