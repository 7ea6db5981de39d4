"""A worker's pages for operators and tools: ``/metrics`` and ``/segflow/stats/``.

- ``GET /metrics``: the Prometheus registry (see :mod:`.metrics`);
- ``GET /segflow/stats/``: JSON for scripts and the demo: uptime, the counters read
  back from the same registry (:func:`~.metrics.json_counts`), the model in use, this
  worker's partition assignment and its profiles not yet written to the changelog.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import Metrics, json_counts
from .model_holder import ModelHolder
from .profile_store import ProfileStore

STATS_PATH = "/segflow/stats/"
METRICS_PATH = "/metrics"


class Worker(Protocol):
    """What these pages read of a worker (the worker's ``Pipeline`` is one)."""

    app: Any
    holder: ModelHolder
    metrics: Metrics
    started: float
    store: ProfileStore

    def clock(self) -> float: ...


def assignment(app: Any) -> dict[str, list[int]]:
    """The partitions this worker's consumer holds, by topic (empty before it joined)."""
    topics: dict[str, list[int]] = {}
    with contextlib.suppress(Exception):
        for tp in app.consumer.assignment():
            topics.setdefault(tp.topic, []).append(tp.partition)
    return {topic: sorted(parts) for topic, parts in topics.items()}


def stats(worker: Worker) -> dict[str, Any]:
    """The JSON of ``/segflow/stats/``."""
    model = worker.holder.model
    topics = assignment(worker.app)
    return {
        "uptime_s": round(worker.clock() - worker.started, 3),
        "counts": json_counts(worker.metrics.registry),
        "model": {
            "seq": worker.holder.seq,
            "version": model.version,
            "ready": model.is_ready,
            "segments": model.segment_names(),
        },
        "assigned_partitions": sum(len(parts) for parts in topics.values()),
        "assignment": topics,
        "unwritten_profiles": worker.store.waiting(),
    }


def register_ops_pages(app: Any, worker: Worker) -> None:
    """Add ``/metrics`` and ``/segflow/stats/`` to the Faust ``app``."""

    async def stats_view(view: Any, request: Any) -> Any:
        return view.json(stats(worker))

    async def metrics_view(view: Any, request: Any) -> Any:
        return view.bytes(
            generate_latest(worker.metrics.registry),
            content_type=CONTENT_TYPE_LATEST.split(";")[0],
        )

    app.page(STATS_PATH)(stats_view)
    app.page(METRICS_PATH)(metrics_view)
