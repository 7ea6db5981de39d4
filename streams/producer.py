"""Produce simulator traffic to the input topics (``segflow simulate``, the demo, the tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from segflow.models.events import BaseEvent, encode_event

from .settings import Settings


@dataclass
class ProduceProgress:
    """How far a producer got (updated while it runs)."""

    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    last_event_at: datetime | None = None
    done: bool = False

    def rate(self) -> float:
        """Average events per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0


def kafka_producer(settings: Settings, **options: Any) -> Any:
    """A kafka-python producer for ``settings.broker`` (murmur2 partitioner, like Faust)."""
    from kafka import KafkaProducer

    defaults: dict[str, Any] = {"linger_ms": 5, "acks": 1, "client_id": f"{settings.app_id}-sim"}
    defaults.update(options)
    return KafkaProducer(bootstrap_servers=settings.bootstrap_servers.split(","), **defaults)


def produce_events(
    settings: Settings,
    events: Iterable[BaseEvent],
    *,
    rate: float = 0.0,
    duration: float | None = None,
    stop: threading.Event | None = None,
    progress: ProduceProgress | None = None,
    on_tick: Callable[[ProduceProgress], None] | None = None,
    producer: Any = None,
) -> ProduceProgress:
    """Send ``events`` to their input topics, keyed by customer id, in order.

    ``rate`` events/s (0: as fast as possible); stops after ``duration`` seconds,
    when ``stop`` is set, or when the events run out. ``on_tick`` is called about
    five times a second (for a progress bar). Flushes before returning.
    """
    progress = progress or ProduceProgress()
    topics = settings.topics.inputs()
    own = producer is None
    producer = producer or kafka_producer(settings)
    start = time.monotonic()
    progress.started = start
    next_tick = start
    try:
        for event in events:
            now = time.monotonic()
            if (stop is not None and stop.is_set()) or (
                duration is not None and now - start >= duration
            ):
                break
            if rate > 0:
                due = start + progress.sent / rate
                if due > now:
                    wait = due - now
                    if stop is not None:
                        if stop.wait(wait):
                            break
                    else:
                        time.sleep(wait)
            producer.send(
                topics[event.kind], key=event.routing_key.encode(), value=encode_event(event)
            )
            progress.sent += 1
            progress.by_kind[event.kind] = progress.by_kind.get(event.kind, 0) + 1
            progress.last_event_at = event.occurred_at
            if on_tick is not None and now >= next_tick:
                on_tick(progress)
                next_tick = now + 0.2
        producer.flush()
    finally:
        if own:
            producer.close(timeout=5)
        progress.done = True
    if on_tick is not None:
        on_tick(progress)
    return progress
